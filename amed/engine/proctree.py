"""Every process a run started, wherever it went: found, ended and reaped.

A task may leave processes behind that leave its process group (`setsid`, a double fork, a
daemonizing tool) and keep files of its data set open: if they outlive the run, they can
write into a version after it is stored. So when a run ends, nothing it started may still
run, and a restarted daemon ends what the runs of a killed one left.

Two things make a run's processes findable:
- the daemon is the child subreaper of its tasks (`PR_SET_CHILD_SUBREAPER`): a process
  whose parent dies is handed to the daemon, not to init, so it stays in view and is
  reaped here rather than left as a zombie;
- each process of a run carries `AME_RUN_ID=<run id>` in its environment, inherited by
  every descendant, which `/proc/<pid>/environ` shows to the same user.

A process that drops the tag and leaves its run's tree before the run ends is still the
daemon's child (through the subreaper) and is ended as an orphan at the next run's end; a
run during whose end such an orphan was found reports it, so that its files are copied,
not linked, into the store. Under systemd the unit's cgroup holds every process as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from amed import logs

RUN_TAG = "AME_RUN_ID"
_PROC = Path("/proc")
_PR_SET_CHILD_SUBREAPER = 36
_POLL_SECONDS = 0.02

log = logs.named(__name__)

_lock = threading.Lock()
_subreaper: bool | None = None
_started: set[int] = set()
"""Pids of the processes the runner started and waits for itself: never reaped here."""


@contextlib.contextmanager
def starting() -> Iterator[Callable[[int], None]]:
    """Hold while starting a process and register its pid before letting go, so that the
    reaper never takes the exit status of a child that its Popen is about to wait for."""
    with _lock:
        yield _started.add


def waited(pid: int) -> None:
    """The runner has waited for `pid`: the number may now be reused by anyone."""
    with _lock:
        _started.discard(pid)


def become_subreaper() -> bool:
    """Make orphaned descendants this process's children (Linux); once per process."""
    global _subreaper
    with _lock:
        if _subreaper is None:
            _subreaper = _prctl_subreaper()
        return _subreaper


def _prctl_subreaper() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: bytes


def _processes() -> Iterator[_Proc]:
    me = os.getpid()
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = raw.rpartition(b")")[2].split()
        if len(fields) < 4:
            continue
        yield _Proc(int(entry.name), int(fields[1]), int(fields[2]), int(fields[3]), fields[0])


def _run_tag(pid: int) -> str | None:
    """The `AME_RUN_ID` in a process's environment; None when absent or unreadable."""
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    marker = RUN_TAG.encode() + b"="
    for item in environ.split(b"\0"):
        if item.startswith(marker):
            return item[len(marker) :].decode(errors="replace")
    return None


def _alive(proc: _Proc) -> bool:
    return proc.state not in (b"Z", b"X")


def members(
    *, run_ids: Callable[[str], bool], pgids: frozenset[int] = frozenset()
) -> tuple[set[int], set[int]]:
    """Live processes of the runs `run_ids` accepts or of the groups `pgids`, and untagged
    live orphans of ours: children this process did not start itself, in a session other
    than its own (every task runs in a session of its own; whatever else a host process
    starts, such as a test harness's servers, stays in the host's session)."""
    me, my_sid = os.getpid(), os.getsid(0)
    with _lock:
        ours = set(_started)
    tagged: set[int] = set()
    orphans: set[int] = set()
    for proc in _processes():
        if not _alive(proc):
            continue
        if proc.pgid in pgids:
            tagged.add(proc.pid)
            continue
        tag = _run_tag(proc.pid)
        if tag is not None and run_ids(tag):
            tagged.add(proc.pid)
        elif proc.ppid == me and proc.sid != my_sid and proc.pid not in ours and tag is None:
            orphans.add(proc.pid)
    return tagged, orphans


def end_run(run_id: str, pgid: int | None, grace_seconds: float) -> bool:
    """End every process of a run (SIGTERM, then SIGKILL after the grace); True when an
    untagged orphan had to be ended too, which may have been this run's."""
    pgids = frozenset({pgid}) if pgid is not None else frozenset()
    tagged, orphans = members(run_ids=lambda tag: tag == run_id, pgids=pgids)
    victims = tagged | orphans
    if victims:
        log.warning(
            "leftover_processes_stopped",
            run_id=run_id,
            processes=len(victims),
            untagged=len(orphans),
        )
        _end(victims, grace_seconds)
    reap_orphans()
    return bool(orphans)


def end_leftovers(runs_dir: Path, live: frozenset[str] = frozenset()) -> int:
    """End processes of runs of this state dir that no live run owns: what a daemon that
    was killed left running. Returns how many were ended."""

    def ours(tag: str) -> bool:
        return (
            tag not in live
            and "/" not in tag
            and tag not in ("", ".", "..")
            and ((runs_dir / tag).is_dir())
        )

    tagged, _ = members(run_ids=ours)
    if tagged:
        log.warning("leftover_processes_stopped", processes=len(tagged), reason="earlier daemon")
        _end(tagged, grace_seconds=2.0)
    return len(tagged)


def _end(pids: set[int], grace_seconds: float) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)
    until = time.monotonic() + grace_seconds
    left = _still_alive(pids)
    while left and time.monotonic() < until:
        time.sleep(_POLL_SECONDS)
        reap_orphans()
        left = _still_alive(left)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while left and time.monotonic() < deadline:
        reap_orphans()
        left = _still_alive(left)
        if left:
            time.sleep(_POLL_SECONDS)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _still_alive(pids: set[int]) -> set[int]:
    left: set[int] = set()
    for pid in pids:
        try:
            state = (_PROC / str(pid) / "stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            left.add(pid)
    return left


def reap_orphans() -> None:
    """Collect the exit status of orphans handed to us that have ended, so they do not stay
    zombies; never of a process the runner started and waits for itself."""
    me = os.getpid()
    with _lock:
        for proc in _processes():
            if proc.ppid == me and not _alive(proc) and proc.pid not in _started:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(proc.pid, os.WNOHANG)
