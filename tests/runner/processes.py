"""Looking at real processes from a test, without timing assertions."""

from __future__ import annotations

import time
from pathlib import Path

WAIT_LIMIT_SECONDS = 30.0


def is_dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (some containers' init never reaps)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return True
    return stat.rpartition(b")")[2].split()[0] in (b"Z", b"X")


def wait_until_dead(pid: int) -> bool:
    """Whether `pid` died within a generous limit (a killed process dies asynchronously)."""
    limit = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < limit:
        if is_dead(pid):
            return True
        time.sleep(0.05)
    return is_dead(pid)
