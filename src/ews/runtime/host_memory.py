"""Keeping freed host memory for reuse when training on the CPU.

Every training step allocates and frees the same large activation buffers. glibc's
malloc serves each allocation above 32 MiB with a fresh `mmap` and unmaps it on free,
so every step page-faults its activations back in: on a 2-core machine a CIFAR
ResNet-50 step spends about a third of its time in the kernel. Turning off `mmap` for
large blocks and heap trimming (both documented `mallopt` settings) lets freed
buffers be reused, as PyTorch's CPU performance guide gets by preloading jemalloc or
tcmalloc. Peak memory is unchanged; it is simply not handed back between steps.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_MAX = -4
ALLOCATOR_CHOICES = ("jemalloc", "tcmalloc", "mimalloc")


def user_chose_allocator() -> bool:
    """True when the environment already configures or replaces malloc; then it is left alone."""
    preload = os.environ.get("LD_PRELOAD", "")
    if any(name in preload for name in ALLOCATOR_CHOICES):
        return True
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return True
    return any(key.startswith("MALLOC_") and key.endswith("_") for key in os.environ)


def retain_freed_memory() -> bool:
    """Make glibc keep freed large blocks for reuse; True when the settings took effect.

    A no-op (False) off Linux/glibc, or when the user preloaded another allocator or
    set glibc's malloc tunables; `EWS_SYSTEM_MALLOC=1` opts out.
    """
    if not sys.platform.startswith("linux") or os.environ.get("EWS_SYSTEM_MALLOC") == "1" or user_chose_allocator():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # glibc only: musl's malloc has no mallopt
    except (OSError, AttributeError):
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, -1))


def retain_for(device_type: str) -> bool:
    """Called by the long CPU jobs (training, evaluation) when they start, never as a side effect of
    resolving a device, so importing or probing `ews` leaves the process's malloc as it was."""
    return device_type == "cpu" and retain_freed_memory()
