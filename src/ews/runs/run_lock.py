"""One run, one folder: a lock that keeps a second `ews train` out of a folder in use.

`RUN/.lock` holds who took it (pid, host, start time, command) and is `flock`ed for as
long as the run lives. The kernel drops a `flock` when its process dies, however it
dies (SIGKILL, power cut), so a lock file left by a killed run is recognised as stale
and taken over instead of blocking the folder for ever. Where `fcntl` is missing
(Windows) the file is created exclusively and a holder whose pid no longer runs on
this host counts as stale.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import RunBusyError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


def _holder_text(holder: dict[str, Any]) -> str:
    where = f"pid {holder.get('pid', '?')}"
    if holder.get("host") and holder.get("host") != socket.gethostname():
        where += f" on {holder['host']}"
    return f"{where}, started {holder.get('started', '?')}"


def _read(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


class RunLock:
    """Exclusive use of a run folder by one process; a context manager.

    `acquire` creates the folder if needed (and nothing else in it); a folder held by a
    live process raises `RunBusyError` at once, a stale lock is taken over with a note
    on stderr. `release` removes the lock file.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None

    def check_free(self) -> None:
        """Raise `RunBusyError` if a live process holds the folder; creates nothing."""
        if not self.path.is_file():
            return
        if fcntl is None:
            holder = _read(self.path)
            if holder.get("host") == socket.gethostname() and _pid_alive(holder.get("pid")):
                raise self._busy(holder)
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._busy(_read(self.path)) from None
        finally:
            os.close(fd)  # closing drops the probe's shared lock

    def acquire(self, *, command: str = "ews train") -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        stale = self._acquire_flock() if fcntl is not None else self._acquire_exclusive()
        if stale:
            print(f"ews: note: took over the stale lock of {self.root} ({_holder_text(stale)}; "
                  "that process is gone)", file=sys.stderr)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(me).encode(), 0)

    def _acquire_flock(self) -> dict[str, Any]:
        """flock the file at `path`; retried when a releasing holder unlinked it under us."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(_read(self.path)) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return _read(self.path)  # content left by a process that no longer holds the flock
            os.close(fd)

    def _acquire_exclusive(self) -> dict[str, Any]:  # pragma: no cover - platforms without fcntl
        stale: dict[str, Any] = {}
        while True:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                return stale
            except FileExistsError:
                holder = _read(self.path)
                if holder.get("host") in (None, socket.gethostname()) and not _pid_alive(holder.get("pid")):
                    stale = holder
                    self.path.unlink(missing_ok=True)
                    continue
                raise self._busy(holder) from None

    def _busy(self, holder: dict[str, Any]) -> RunBusyError:
        command = holder.get("command", "ews train")
        return RunBusyError(f"--out {self.root} is in use by {command} ({_holder_text(holder)}); "
                            f"wait for it or stop it")

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still holding the flock: nobody reads a half-released lock
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
