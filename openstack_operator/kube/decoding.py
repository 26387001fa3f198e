"""Decoding what the API server sends, whatever its depth.

The json module's C decoder counts each level of nesting against Python's recursion limit (1000), and Kopf decodes
its LISTs and watch events with it: one object nested deeper than that (the API server stores objects up to its
own JSON decoder's bound, 10,000 levels) made the LIST or the watch stream raise RecursionError, and Kopf does not
start a failed watcher again, so the process stopped serving every object of that kind. With the limit above the
API server's bound every object decodes, and the processes refuse it on its own status (core.schema.limits). Raising
a limit is the one fix outside Kopf's internals: Kopf takes no decoder of ours.
"""

from __future__ import annotations

import sys

API_SERVER_MAX_DEPTH = 10_000  # the API server refuses JSON nested deeper ("exceeded max depth")
FRAMES_BESIDES = 2_000  # the frames under a decode: Kopf's tasks, aiohttp, requests, ours
# 10,000 levels take about 2 MB of C stack in the decoder: well inside the 8 MiB of the main thread and of Python's
# worker threads (asyncio.to_thread), which get the default stack size.


def decode_any_depth() -> None:
    """Raise the recursion limit so that any object the API server stores decodes (called once, at start)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), API_SERVER_MAX_DEPTH + FRAMES_BESIDES))
