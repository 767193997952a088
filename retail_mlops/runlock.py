"""Whether the process that launched a pipeline run is still alive, by lock files.

The local orchestrator runs a pipeline inside the `run.py` process, so a `kill -9` leaves the run
"running" in ZenML's store for ever: nothing is left to finish it. Each process that runs a
pipeline holds an exclusive `flock` on <state>/runs/<pid>.lock, holding its start time, for as
long as it runs, and records the same (pid, host, start time) with the run as its launcher; the
OS drops the lock when the process dies, however it dies. A later run asks whether a launcher
still holds its lock: if not, the run has nothing left to finish it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from retail_mlops.paths import state_dir


def _folder() -> Path:
    folder = state_dir() / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def running() -> Iterator[dict[str, Any]]:
    """Hold this process's lock while the block runs; yields the launcher record of the run."""
    folder = _folder()
    launcher = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    tmp = folder / f".{os.getpid()}.lock.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{launcher['started']!r}\n".encode())
        os.fsync(fd)
        final = folder / f"{os.getpid()}.lock"
        os.replace(tmp, final)  # appears already locked: a reader never sees it unlocked
        try:
            yield launcher
        finally:
            with contextlib.suppress(FileNotFoundError):
                final.unlink()
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def alive(launcher: dict[str, Any]) -> bool:
    """True unless the launcher's process is known to be gone.

    A launcher on another host cannot be checked here and counts as alive; so does this
    process. A lock file nobody holds is removed on the way.
    """
    if launcher.get("host") != socket.gethostname() or launcher.get("pid") == os.getpid():
        return True
    path = _folder() / f"{launcher.get('pid')}.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a live process with that pid runs a pipeline
            recorded = os.read(fd, 64).decode().strip()
            return recorded == repr(launcher.get("started"))  # and it is the same process
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # nobody holds it: its process is gone
        return False
    finally:
        os.close(fd)
