"""How long a failed producer waits before its next try: exponential, capped, jittered.

The jitter fraction is an argument so the function stays pure; the daemon draws it, which
keeps many data sets that failed together from retrying in lockstep.
"""

from __future__ import annotations

BASE_DELAY_SECONDS = 10.0
MAX_DELAY_SECONDS = 3600.0
JITTER_FRACTION = 0.25


def retry_delay_seconds(
    attempts: int,
    jitter: float,
    *,
    base_seconds: float = BASE_DELAY_SECONDS,
    max_seconds: float = MAX_DELAY_SECONDS,
) -> float:
    """Delay after the `attempts`-th consecutive failure; `jitter` in [-1, 1] spreads it by
    up to ±JITTER_FRACTION."""
    exponent = max(attempts - 1, 0)
    delay = min(base_seconds * (2.0 ** min(exponent, 32)), max_seconds)
    return delay * (1.0 + JITTER_FRACTION * max(-1.0, min(1.0, jitter)))
