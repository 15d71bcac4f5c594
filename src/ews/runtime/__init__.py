"""The lowest layer: how code runs on this machine. A model's mode and device (`modes`), torchrun/DDP
(`distributed`), mixed precision (`precision`), CPU memory reuse (`host_memory`) and signals
(`interrupts`). Imports nothing from `ews` but `errors`."""

from .modes import MODES, model_mode, module_device

__all__ = ["MODES", "model_mode", "module_device"]
