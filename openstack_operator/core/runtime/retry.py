"""How long to wait before trying again something that failed: the one retry policy of every process.

The delay doubles from FIRST_RETRY_SECONDS up to a cap, with jitter so that many things that failed together (an
API server restart) do not retry in step. It never gives up: an operator that stops trying leaves a cloud half
changed, and the cause (a quota, a webhook, a chart repository) is often fixed by a person without telling us.
"""

from __future__ import annotations

import random

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0
JITTER = 0.2  # each delay is drawn from +-20% around the doubled one


def retry_delay(attempts: int, cap: float = MAX_RETRY_SECONDS, draw: float | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure in a row; `draw` in [0, 1) picks the jitter (random when
    None). Never more than `cap`."""
    base = FIRST_RETRY_SECONDS * 2.0 ** max(attempts - 1, 0)
    spread = 1.0 + JITTER * (2.0 * (random.random() if draw is None else draw) - 1.0)
    return min(base * spread, cap)
