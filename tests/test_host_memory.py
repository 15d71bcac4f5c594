"""Keeping freed host memory: applied on glibc, left alone when the user chose an allocator."""

from __future__ import annotations

import sys

import pytest

from ews import host_memory


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ("LD_PRELOAD", "GLIBC_TUNABLES", "EWS_SYSTEM_MALLOC", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_applied_on_glibc(clean_env: pytest.MonkeyPatch) -> None:
    assert host_memory.retain_freed_memory()


@pytest.mark.parametrize("key, value", [
    ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    ("GLIBC_TUNABLES", "glibc.malloc.mmap_max=0"),
    ("MALLOC_MMAP_MAX_", "0"),
    ("EWS_SYSTEM_MALLOC", "1"),
])
def test_left_alone_when_the_user_chose(clean_env: pytest.MonkeyPatch, key: str, value: str) -> None:
    clean_env.setenv(key, value)
    assert not host_memory.retain_freed_memory()
