"""Stopping a run's process group: SIGTERM, a grace period, then SIGKILL.

Every command of a run is the leader of a process group of its own (a new session), so
the group is what a timeout or a cancel stops. Processes that left the group are ended by
amed.engine.proctree once the group is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

_POLL_SECONDS = 0.05
_PROC = Path("/proc")


def stop_group(process: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM the process group; SIGKILL it if anything of it still lives after the grace.

    The leader is reaped here. Its pid is the group id; while any member lives the kernel
    does not give that number to another process, so signalling the group is safe.
    """
    pgid = process.pid
    _signal_group(pgid, signal.SIGTERM)
    until = time.monotonic() + grace_seconds
    while time.monotonic() < until:
        if process.poll() is not None and not group_alive(pgid):
            return
        time.sleep(_POLL_SECONDS)
    if process.poll() is None or group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
    process.wait()


def returncode(process: subprocess.Popen[bytes]) -> int:
    """The leader's status after `stop_group`; SIGKILL's when it could not be had."""
    code = process.returncode
    return code if code is not None else -signal.SIGKILL


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies do not count)."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 2 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            return True
    return False


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
