"""The daemon's life: take the state dir, recover, then observe → decide → act, pass after pass.

A pass runs every `interval_seconds` (driven by `schedule`). Between passes the loop wakes
every `POLL_SECONDS`: a finished run, an edited ame.yaml (a cheap `stat`), SIGHUP or a stop
signal lead to a pass or an action within that time, and the loop pings systemd's watchdog
and writes its heartbeat as it goes round. An ame.yaml that fails to load (or disappears)
never reaches the planner: the daemon keeps acting on the last good spec and says what is
wrong (log, `ame status`, systemd's STATUS=), once per distinct error, until it is fixed.

Stopping (SIGTERM or SIGINT): nothing new starts, running tasks get
`tasks.stop_timeout_seconds` to finish, then their process groups are ended (`cancel`),
their runs end as failed ("cancelled") through the reconciler's normal path, and the daemon
exits 0. A second signal ends the runs at once.

Signal handlers only set fields of `_Signals`; the loop acts on them. They take no lock and
do no I/O, so a signal can never deadlock the loop or interleave with a log line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import schedule

from amed import logs
from amed.act.reconciler import Reconciler
from amed.alerts.channels import AlertChannels
from amed.config import ConfigError, Settings, resolve
from amed.daemon.liveness import Heartbeat, PassOutcome, one_line, utc_now
from amed.daemon.lock import DaemonLock
from amed.daemon.notify import Notifier
from amed.daemon.spec_file import SpecFile, load_spec, spec_path
from amed.engine.engines import DEFAULT_ENGINE, engine_named
from amed.engine.local import WORK_DIR_NAME
from amed.plan.actions import Produce
from amed.store.schemes import open_store
from spec import Project
from state.db import StateError, StateStore

EXIT_CONVERGED = 0
EXIT_FAILED = 1
SHUTDOWN_STATUSES = ("failed", "blocked")

POLL_SECONDS = 0.5
"""How often the loop looks at ame.yaml, signals, the watchdog and the heartbeat."""
FIXED_WHILE_RUNNING = (
    "state_dir",
    "storage_url",
    "max_parallel",
    "alert_urls",
    "alert_config",
    "http_address",
    "http_allowed_hosts",
    "http_token_file",
)
"""Settings a reload cannot change: the lock, the records, the worker pool and the alert
channels are built from them at start."""

Reload = Callable[[], Settings]


class _Signals:
    """What the signal handlers saw. Handlers only assign fields."""

    def __init__(self) -> None:
        self.stop: signal.Signals | None = None
        self.stops = 0
        self.reload = False
        self._previous: dict[signal.Signals, Any] = {}

    @contextlib.contextmanager
    def installed(self, *, hangup: bool) -> Iterator[_Signals]:
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


# -- one pass and done ----------------------------------------------------------------------


def run_once(settings: Settings, *, take_over: bool = False) -> int:
    """One full pass that also waits for the work it started; each data set is tried once.

    Raises SpecError before anything is opened or written when ame.yaml is invalid,
    StateDirInUse (exit 2) when a daemon already runs on the state dir, and ProjectClaimed
    (exit 2) when another state holds the project in the store, unless `take_over`.
    SIGTERM or SIGINT stop it as they stop the service; it then exits 1 unless everything
    is ready.
    """
    desired = load_spec(spec_path(settings.project_dir))
    with DaemonLock.acquire(settings.state_dir), _Signals().installed(hangup=False) as signals:
        reconciler = _open(settings, take_over=take_over)
        spec = SpecFile(spec_path(settings.project_dir), project=desired, attempted=True)
        heart = Heartbeat(reconciler, spec, Notifier({}))
        began = time.monotonic()
        ok, error = True, None
        try:
            reconciler.claim(desired.name)
            _recover(reconciler)
            heart.beat(force=True)
            everything = frozenset((desired.name, d.name) for d in desired.data_sets)
            # Settle what an earlier daemon left behind and delete debris before producing.
            reconciler.reconcile(desired, hold=everything)
            reconciler.sweep()
            tried: set[tuple[str, str]] = set()
            while signals.stop is None:
                result = reconciler.reconcile(desired, hold=frozenset(tried))
                tried |= {
                    (a.project, a.data_set.name) for a in result.actions if isinstance(a, Produce)
                }
                if not reconciler.busy() and not result.actions:
                    break
                if reconciler.busy():
                    reconciler.wait_for_change(timeout=POLL_SECONDS)
            if signals.stop is not None:
                logs.get().info("stopping", signal=signals.stop.name)
                _drain(reconciler, settings, signals, heart)
            return _outcome(reconciler, desired, stopped=signals.stop is not None)
        except BaseException as exc:
            ok, error = False, one_line(exc)
            raise
        finally:
            reconciler.shutdown(cancel_runs=True)
            if ok:  # after shutdown: alert outcomes may still be appended until then
                _record_clean_stop(reconciler)
            heart.state = "stopped"
            heart.last_pass = PassOutcome(utc_now(), time.monotonic() - began, ok, error)
            heart.beat(force=True)
            reconciler.state.close()


def _outcome(reconciler: Reconciler, desired: Project, *, stopped: bool = False) -> int:
    observed = reconciler.observed()
    rows = [observed.datasets.get((desired.name, d.name)) for d in desired.data_sets]
    bad = [row for row in rows if row and row.status in SHUTDOWN_STATUSES]
    for row in bad:
        logs.get().error("dataset_not_ready", dataset=row.name, status=row.status, error=row.error)
    if stopped and not all(row and row.status == "ready" for row in rows):
        return EXIT_FAILED
    return EXIT_FAILED if bad else EXIT_CONVERGED


# -- the service ----------------------------------------------------------------------------


def run_forever(
    settings: Settings, reload: Reload | None = None, *, take_over: bool = False
) -> int:
    """The service: passes every interval until SIGTERM or SIGINT; SIGHUP reloads.

    An invalid ame.yaml at start is not fatal: the daemon reports it and waits for a good
    one. A project another state holds in the store is fatal (ProjectClaimed, exit 2)
    unless `take_over`: running on, the store would refuse every write there.
    `reload` gives the settings anew on SIGHUP (the command line's flags over the
    environment over the config file); by default the config file and environment are read
    again and the values that differed from them at start (given as flags) are kept.
    """
    with DaemonLock.acquire(settings.state_dir), _Signals().installed(hangup=True) as signals:
        reconciler = _open(settings, take_over=take_over)
        if settings.http_address:
            from amed.web.server import start_dashboard  # http.server only when asked for
        dashboard = (
            start_dashboard(
                settings.state_dir,
                settings.http_address,
                capacity_bytes=settings.capacity_bytes,
                storage_url=settings.storage_url,
                allowed_hosts=settings.http_allowed_hosts,
                token_file=settings.http_token_file,
            )
            if settings.http_address
            else None
        )
        clean = False
        try:
            code = _Service(settings, reload or _rereader(settings), reconciler).run(signals)
            clean = True
            return code
        finally:
            if dashboard is not None:
                dashboard.close()
            reconciler.shutdown(cancel_runs=True)
            if clean:  # after shutdown: alert outcomes may still be appended until then
                _record_clean_stop(reconciler)
            reconciler.state.close()


class _Service:
    def __init__(self, settings: Settings, reload: Reload, reconciler: Reconciler) -> None:
        self.settings = settings
        self.reload_settings = reload
        self.reconciler = reconciler
        self.spec = SpecFile(spec_path(settings.project_dir))
        self.notifier = Notifier()
        self.heart = Heartbeat(reconciler, self.spec, self.notifier)
        self.scheduler = schedule.Scheduler()
        self.log = logs.get()

    def run(self, signals: _Signals) -> int:
        reconciler, log = self.reconciler, self.log
        self._schedule()
        current = self.spec.load()
        if current is not None:  # otherwise claimed at the first pass with a valid one
            reconciler.claim(current.name)
        log.info(
            "started",
            project=str(self.settings.project_dir),
            state_dir=str(self.settings.state_dir),
            store=reconciler.store.url,
            interval_seconds=self.settings.interval_seconds,
            stop_timeout_seconds=self.settings.stop_timeout_seconds,
        )
        _recover(reconciler)
        self.notifier.ready(self.heart.status_line())
        self.heart.beat(force=True)
        self.notifier.tick()
        self._pass()
        reconciler.sweep()
        while signals.stop is None:
            idle = self.scheduler.idle_seconds
            timeout = POLL_SECONDS if idle is None else max(0.0, min(POLL_SECONDS, idle))
            due = reconciler.changed.wait(timeout)
            if due:
                reconciler.changed.clear()
            if signals.stop is not None:
                break
            if signals.reload:
                signals.reload = False
                self._reload()
                due = True
            if self.spec.changed_on_disk():
                due = True
            scheduled = self.scheduler.idle_seconds
            if scheduled is not None and scheduled <= 0:
                self.scheduler.run_pending()
            elif due:
                self._pass()
            self.notifier.tick()
            self.heart.beat()
        assert signals.stop is not None
        log.info("stopping", signal=signals.stop.name)
        _drain(reconciler, self.settings, signals, self.heart)
        self.heart.state = "stopped"
        self.heart.beat(force=True)
        log.info("stopped")
        return EXIT_CONVERGED

    def _schedule(self) -> None:
        self.scheduler.clear()
        self.scheduler.every(self.settings.interval_seconds).seconds.do(self._pass)  # type: ignore[arg-type]

    def _pass(self) -> None:
        began, at = time.monotonic(), utc_now()
        try:
            current = self.spec.load()
            if current is not None:
                self.reconciler.reconcile(current, spec_error=self.spec.last_error)
            outcome = PassOutcome(at, time.monotonic() - began, ok=True)
        except Exception as exc:  # a pass that fails must not end the service
            self.log.exception("pass_failed")
            outcome = PassOutcome(at, time.monotonic() - began, ok=False, error=one_line(exc))
        self.heart.last_pass = outcome
        self.heart.beat(force=True)

    def _reload(self) -> None:
        """SIGHUP: read the settings and ame.yaml again. Invalid settings change nothing."""
        old = self.settings
        try:
            new = self.reload_settings()
        except ConfigError as exc:
            self.log.error("config_invalid", error=str(exc), keeping="the running settings")
            new = old
        fixed = [name for name in FIXED_WHILE_RUNNING if getattr(new, name) != getattr(old, name)]
        if fixed:
            self.log.warning("config_needs_restart", keys=fixed)
            new = new.model_copy(update={name: getattr(old, name) for name in fixed})
        changed = [
            name for name in Settings.model_fields if getattr(new, name) != getattr(old, name)
        ]
        self.settings = new
        self.reconciler.apply_settings(new)
        if new.project_dir != old.project_dir:
            self.spec = self.heart.spec = SpecFile(spec_path(new.project_dir))
        if new.interval_seconds != old.interval_seconds:
            self._schedule()
        self.spec.forget()
        self.log.info("reloaded", changed=changed)


def _rereader(settings: Settings) -> Reload:
    """Settings from the environment and config file as they are now, with the values that
    came from flags at start kept (a flag is known by differing from what the environment
    and file gave at start)."""
    env = dict(os.environ)
    try:
        at_start = resolve({}, env, settings.config_file)
    except ConfigError:
        at_start = None
    pinned = {
        name: getattr(settings, name)
        for name in Settings.model_fields
        if at_start is None or getattr(settings, name) != getattr(at_start, name)
    }
    return lambda: resolve({}, env, settings.config_file).model_copy(update=pinned)


def _drain(reconciler: Reconciler, settings: Settings, signals: _Signals, heart: Heartbeat) -> None:
    """Start nothing new; let running tasks finish for up to the stop timeout (or until a
    second signal), then end their process groups; return once every run is recorded."""
    log = logs.get()
    heart.state = "stopping"
    live = sorted(reconciler.live_runs())
    heart.notifier.stopping(
        f"stopping: waiting up to {settings.stop_timeout_seconds:g} s for {len(live)} runs"
    )
    heart.beat(force=True)
    if live:
        log.info("waiting_for_runs", runs=live, timeout_seconds=settings.stop_timeout_seconds)
    deadline = time.monotonic() + settings.stop_timeout_seconds
    stops = signals.stops
    while reconciler.busy() and time.monotonic() < deadline and signals.stops == stops:
        reconciler.wait_for_change(timeout=min(POLL_SECONDS, deadline - time.monotonic()))
        heart.notifier.tick()
        heart.beat()
    live = sorted(reconciler.live_runs())
    if live:
        log.warning("cancelling_runs", runs=live)
    reconciler.cancel.set()
    while reconciler.busy():
        reconciler.wait_for_change(timeout=POLL_SECONDS)
        heart.notifier.tick()
        heart.beat()


def _recover(reconciler: Reconciler) -> None:
    """Undo what a crash of an earlier daemon left, before the first pass.

    A crash cannot put the projection out of step with the log (both change in one
    transaction), but a damaged or hand-edited database can: check it against a replay of
    the whole log, and rebuild it if needed, unless the last daemon stopped cleanly and
    neither the log nor the tables changed since (a replay of a million events takes tens
    of seconds, and most starts follow a clean stop). Processes its runs left running (it
    was killed, so nothing ended them) are ended, then the working copies of those runs are
    deleted (their output.log is kept); no run of ours is live yet, and the lock keeps
    other daemons out. Runs the log still calls live are marked lost by the first
    pass, and store debris is swept after it.
    """
    reason = reconciler.state.why_check()
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
    channels = AlertChannels(settings.alert_urls, settings.alert_config)
    store = open_store(settings.storage_url)
    state = StateStore.in_dir(settings.state_dir)
    return Reconciler(settings, state, store, channels=channels, take_over=take_over)
