"""How the cluster tiers poll what they wait for. A check is a kubectl or helm process (0.1 to 0.4 s of CPU): polled
quickly at first, then less often, so that a test waiting minutes for a deployment leaves the two cores to the
cluster and the operators it waits for."""

from __future__ import annotations

import itertools
from typing import Iterator

FIRST, GROWTH, LONGEST = 0.25, 1.5, 1.5  # seconds between checks: 0.25, 0.375, ... then 1.5


def pauses() -> Iterator[float]:
    pause = FIRST
    for _ in itertools.count():
        yield pause
        pause = min(pause * GROWTH, LONGEST)
