"""For every tier: a TERM (CI's timeout, `make test` stopping its runs) ends pytest as Ctrl-C does, so session
fixtures tear down what they started (control planes, a real node's namespace and mounts) rather than leave it."""

from __future__ import annotations

import signal
from types import FrameType


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _interrupt)
