"""Keeping freed host memory: applied on glibc, left alone when the user chose an allocator."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ews.runtime import host_memory
from ews.runtime.device import resolve_device
from ews.training.trainer import Trainer

from ..training.test_trainer import tiny_config


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("LD_PRELOAD", "GLIBC_TUNABLES", "EWS_SYSTEM_MALLOC", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_applied_on_glibc(clean_env: pytest.MonkeyPatch) -> None:
    # in a child process: the settings last for the process, and the test suite must keep its own malloc
    code = "from ews.runtime import host_memory; print(host_memory.retain_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.fixture
def retained(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(host_memory, "retain_freed_memory", lambda: calls.append("retained") or True)
    return calls


def test_resolving_a_device_leaves_malloc_alone(retained: list[str]) -> None:
    assert resolve_device("cpu").type == "cpu"
    assert retained == []


def test_training_on_the_cpu_retains_freed_memory(retained: list[str]) -> None:
    Trainer(tiny_config("train.device=cpu"))
    assert retained == ["retained"]


@pytest.mark.parametrize("key, value", [
    ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    ("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
    ("MALLOC_MMAP_MAX_", "0"),
    ("EWS_SYSTEM_MALLOC", "1"),
])
def test_left_alone_when_the_user_chose(clean_env: pytest.MonkeyPatch, key: str, value: str) -> None:
    clean_env.setenv(key, value)
    assert not host_memory.retain_freed_memory()
