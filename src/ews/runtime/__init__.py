"""The lowest layer: how a model is run on this machine (its mode, its device). Imports nothing from `ews` above."""

from .modes import MODES, model_mode, module_device

__all__ = ["MODES", "model_mode", "module_device"]
