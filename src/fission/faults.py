"""Named points where a test can kill the build (``FISSION_KILL_AT=<point>``), to prove that a
build killed at any moment leaves either the old or the new state and that the next build
recovers by itself (tests/test_reliability.py). Does nothing unless the variable names the
point."""
from __future__ import annotations

import os
import signal

POINTS = ("staging", "execution", "publishing")


def checkpoint(point: str) -> None:
    if os.environ.get("FISSION_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
