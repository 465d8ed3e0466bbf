"""One build of an edition at a time: scheduled jobs and analysts share a checkout, and two
builds of one edition would write the same staged data, chapters and report. Builds of
different editions run side by side. The lock is an OS file lock (``flock``): it is released
when the process ends, however it ends, so a killed build never leaves a stale lock."""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from .paths import BUILD


class BuildLocked(RuntimeError):
    """Another build of the same edition is running."""


@contextmanager
def edition_lock(edition: str, root: Path = BUILD):
    root.mkdir(parents=True, exist_ok=True)
    path = root / f".{edition}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise BuildLocked(f"another build of edition {edition} is running (pid {holder}); "
                              "wait for it to finish, or build another edition") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)   # closing releases the lock
