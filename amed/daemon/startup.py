"""The one start and stop sequence of `amed run --once` and the service.

Both take the state dir's lock and the stop signals, open the reconciler, claim the project
in the store, and undo what a crash of an earlier daemon left before their first pass; both
end by shutting the reconciler down (its runs cancelled), recording a clean stop only when
nothing failed, writing a last heartbeat and closing the state. Keeping that in one place
keeps the two from drifting apart: a recovery step added for one is there for the other.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from amed import logs
from amed.act.reconciler import Reconciler
from amed.act.upkeep import TidyLedger, keep_ledger
from amed.alerts.channels import AlertChannels
from amed.config import Settings, given_at
from amed.daemon.liveness import Heartbeat
from amed.daemon.lock import DaemonLock
from amed.daemon.notify import Notifier
from amed.daemon.spec_file import SpecFile
from amed.engine.engines import DEFAULT_ENGINE, engine_named
from amed.engine.local_run import WORK_DIR_NAME
from amed.errors import ConfigError
from amed.store.schemes import open_store
from state.db import StateStore
from state.errors import StateError


class Signals:
    """What the signal handlers saw. Handlers only assign fields."""

    def __init__(self) -> None:
        self.stop: signal.Signals | None = None
        self.stops = 0
        self.reload = False
        self._previous: dict[signal.Signals, Any] = {}

    @contextlib.contextmanager
    def installed(self, *, hangup: bool) -> Iterator[Signals]:
        wanted = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGHUP] if hangup else [])
        for signum in wanted:
            handler = self._on_hangup if signum == signal.SIGHUP else self._on_stop
            self._previous[signum] = signal.signal(signum, handler)
        try:
            yield self
        finally:
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stops += 1
        self.stop = signal.Signals(signum)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True


@dataclass
class Started:
    """What a started daemon works with."""

    reconciler: Reconciler
    signals: Signals
    heart: Heartbeat


@contextlib.contextmanager
def started(
    settings: Settings,
    spec: SpecFile,
    notifier: Notifier,
    *,
    take_over: bool = False,
    hangup: bool = False,
) -> Iterator[Started]:
    """Lock, signals, reconciler, claim, recovery; on the way out the reverse.

    The project is claimed now when ame.yaml is valid (the service claims it at its first
    valid pass otherwise). Raises StateDirInUse when a daemon already runs on the state dir
    and ProjectClaimed when another state holds the project, unless `take_over`.
    """
    with DaemonLock.acquire(settings.state_dir), Signals().installed(hangup=hangup) as signals:
        reconciler = _open(settings, take_over=take_over)
        ledger = TidyLedger(settings.state_dir, reconciler.store.url)
        keep_ledger(reconciler.store, ledger)
        heart = Heartbeat(reconciler, spec, notifier)
        clean = False
        try:
            project = spec.project if spec.attempted else spec.load()
            if project is not None:
                reconciler.claim(project.name)
            _recover(reconciler, ledger, take_over=take_over)
            yield Started(reconciler, signals, heart)
            clean = True
        finally:
            reconciler.shutdown(cancel_runs=True)
            if clean:  # after shutdown: alert outcomes may still be appended until then
                _record_clean_stop(reconciler)
            heart.state = "stopped"
            heart.beat(force=True)
            reconciler.state.close()


def _recover(reconciler: Reconciler, ledger: TidyLedger, *, take_over: bool) -> None:
    """Undo what a crash of an earlier daemon left, before the first pass.

    A crash cannot put the projection out of step with the log (both change in one
    transaction), but a damaged or hand-edited database can: check it against a replay of
    the whole log, and rebuild it if needed, unless the last daemon stopped cleanly and
    neither the log nor the tables changed since (a replay of a million events takes tens
    of seconds, and most starts follow a clean stop). Processes its runs left running (it
    was killed, so nothing ended them) are ended, then the working copies of those runs are
    deleted (their output.log is kept); no run of ours is live yet, and the lock keeps
    other daemons out. Runs the log still calls live are marked lost by the first
    pass, and store debris is swept after it: every pointer read, unless the last owner
    stopped cleanly (the ledger then says which pointers may have changed since).
    """
    reason = reconciler.state.why_check()
    if reason is not None or take_over:
        ledger.forget()
    if reason is not None:
        _check_tables(reconciler.state, reason)
    engine_named(DEFAULT_ENGINE).end_leftovers(reconciler.settings.state_dir / "runs")
    _remove_stale_copies(reconciler)


def _check_tables(state: StateStore, reason: str) -> None:
    log = logs.get()
    began = time.monotonic()
    mismatches = state.check()
    log.info(
        "state_checked",
        reason=reason,
        mismatches=len(mismatches),
        seconds=round(time.monotonic() - began, 3),
    )
    if mismatches:
        for mismatch in mismatches[:20]:
            log.error("projection_mismatch", table=mismatch.table, key=list(mismatch.key))
        state.rebuild()
        log.warning("projection_rebuilt", mismatches=len(mismatches))


def _record_clean_stop(reconciler: Reconciler) -> None:
    """Spares the next start a replay of the log; failing to record it costs only that."""
    try:
        reconciler.state.record_clean_stop()
    except (sqlite3.Error, StateError, OSError) as exc:
        logs.get().warning("clean_stop_not_recorded", error=str(exc))


def _remove_stale_copies(reconciler: Reconciler) -> None:
    log = logs.get()
    stale = sorted(reconciler.settings.state_dir.glob(f"runs/*/{WORK_DIR_NAME}"))
    for work in stale:
        shutil.rmtree(work, ignore_errors=True)
    if stale:
        log.info("stale_working_copies_deleted", runs=[w.parent.name for w in stale])


def _open(settings: Settings, *, take_over: bool = False) -> Reconciler:
    urls_at = given_at(settings, "alert_urls")
    channels = AlertChannels(settings.alert_urls, settings.alert_config, urls_at)
    store = open_store(settings.storage_url)
    if settings.capacity_bytes is None and store.free_bytes() is None:
        # A bucket has no free space to measure: without a budget, nothing would ever be
        # evicted and no declared size checked before producing.
        raise ConfigError(
            f"storage.capacity: needed with a remote store ({store.url}), whose free space "
            "amed cannot measure; set --capacity, AME_CAPACITY or [storage] capacity"
        )
    state = StateStore.in_dir(settings.state_dir)
    return Reconciler(settings, state, store, channels=channels, take_over=take_over)
