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

import gc
import os
import time
from collections.abc import Callable
from dataclasses import replace

import schedule

from amed import logs
from amed.act.reconciler import Reconciler
from amed.config import SETTING_NAMES, Refused, Settings, resolve
from amed.daemon.liveness import Heartbeat, PassOutcome, one_line, utc_now
from amed.daemon.notify import Notifier
from amed.daemon.spec_file import SpecFile, load_spec, spec_cache, spec_path
from amed.daemon.startup import Signals, Started, started
from amed.errors import ConfigError
from amed.plan.actions import Produce
from spec import Project

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


# -- one pass and done ----------------------------------------------------------------------


def run_once(settings: Settings, *, take_over: bool = False) -> int:
    """One full pass that also waits for the work it started; each data set is tried once.

    Raises SpecError before anything is opened or written when ame.yaml is invalid,
    StateDirInUse (exit 2) when a daemon already runs on the state dir, and ProjectClaimed
    (exit 2) when another state holds the project in the store, unless `take_over`.
    SIGTERM or SIGINT stop it as they stop the service; it then exits 1 unless everything
    is ready.
    """
    # The start builds the spec's models and the tables' rows: a few hundred thousand
    # objects that live as long as the process, which the collector would otherwise scan
    # again and again while they are made (a tenth of a start with nothing else to do at
    # 10,000 data sets). Reference counting frees what dies meanwhile; after the first
    # passes the survivors are frozen out of later scans, as the service does.
    gc.disable()
    try:
        return _run_once(settings, take_over=take_over)
    finally:
        gc.enable()


def _run_once(settings: Settings, *, take_over: bool) -> int:
    cache = spec_cache(settings.state_dir)
    desired = load_spec(spec_path(settings.project_dir), settings.spec_max_bytes, cache)
    spec = SpecFile(
        spec_path(settings.project_dir),
        project=desired,
        attempted=True,
        max_bytes=settings.spec_max_bytes,
        cache_file=cache,
    )
    began = time.monotonic()
    with started(settings, spec, Notifier({}), take_over=take_over) as daemon:
        reconciler, signals, heart = daemon.reconciler, daemon.signals, daemon.heart
        ok, error = True, None
        try:
            heart.beat(force=True)
            everything = frozenset((desired.name, d.name) for d in desired.data_sets)
            # Settle what an earlier daemon left behind and delete debris before producing.
            reconciler.reconcile(desired, hold=everything)
            reconciler.sweep()
            gc.freeze()
            gc.enable()
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
            heart.last_pass = PassOutcome(utc_now(), time.monotonic() - began, ok, error)


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
    spec = SpecFile(
        spec_path(settings.project_dir),
        max_bytes=settings.spec_max_bytes,
        cache_file=spec_cache(settings.state_dir),
    )
    notifier = Notifier()
    with started(settings, spec, notifier, take_over=take_over, hangup=True) as daemon:
        if settings.http_address:
            from amed.web.plots import Levels
            from amed.web.server import start_dashboard  # http.server only when asked for
        dashboard = (
            start_dashboard(
                settings.state_dir,
                settings.http_address,
                capacity_bytes=settings.capacity_bytes,
                storage_url=settings.storage_url,
                allowed_hosts=settings.http_allowed_hosts,
                token_file=settings.http_token_file,
                levels=Levels(
                    high_percent=settings.eviction_high_percent,
                    low_percent=settings.eviction_low_percent,
                    warn_percent=settings.low_space_percent,
                ),
            )
            if settings.http_address
            else None
        )
        try:
            return _Service(settings, reload or _rereader(settings), daemon).run()
        finally:
            if dashboard is not None:
                dashboard.close()


class _Service:
    def __init__(self, settings: Settings, reload: Reload, daemon: Started) -> None:
        self.settings = settings
        self.reload_settings = reload
        self.reconciler = daemon.reconciler
        self.signals = daemon.signals
        self.heart = daemon.heart
        self.spec = self.heart.spec
        self.notifier = self.heart.notifier
        self.scheduler = schedule.Scheduler()
        self.log = logs.get()

    def run(self) -> int:
        reconciler, signals, log = self.reconciler, self.signals, self.log
        self._schedule()
        log.info(
            "started",
            project=str(self.settings.project_dir),
            state_dir=str(self.settings.state_dir),
            store=reconciler.store.url,
            interval_seconds=self.settings.interval_seconds,
            stop_timeout_seconds=self.settings.stop_timeout_seconds,
        )
        self.notifier.ready(self.heart.status_line())
        self.heart.beat(force=True)
        self.notifier.tick()
        self._pass()
        reconciler.sweep()
        # What the first pass loaded (ame.yaml's models, the tables) lives as long as the
        # daemon: out of the collector's scans, which otherwise walk it on every full
        # collection (at 100,000 data sets a fifth of each pass). Objects freed later by
        # reference counting are still freed. One full collection first, over what the
        # imports froze too (state.collector): the cyclic garbage that making classes leaves
        # behind is freed once rather than kept.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
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
            new = replace(new, **{name: getattr(old, name) for name in fixed})
        changed = [name for name in SETTING_NAMES if getattr(new, name) != getattr(old, name)]
        self.settings = new
        self.reconciler.apply_settings(new)
        if new.project_dir != old.project_dir:
            self.spec = self.heart.spec = SpecFile(
                spec_path(new.project_dir),
                max_bytes=new.spec_max_bytes,
                cache_file=spec_cache(new.state_dir),
            )
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
        for name in SETTING_NAMES
        if at_start is None or getattr(settings, name) != getattr(at_start, name)
    }

    def reread() -> Settings:
        try:
            return replace(resolve({}, env, settings.config_file), **pinned)
        except Refused as exc:  # the file's new values and the pinned flags' disagree
            raise ConfigError(str(exc)) from None

    return reread


def _drain(reconciler: Reconciler, settings: Settings, signals: Signals, heart: Heartbeat) -> None:
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
