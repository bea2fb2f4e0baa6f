"""The daemon's life: load the spec, then observe → decide → act, pass after pass.

A pass runs every `interval_seconds` (driven by `schedule`, with the wait done on an Event so
that a finished run or a signal wakes the loop at once instead of at the next tick). An
ame.yaml that fails to load never reaches the planner: the daemon keeps acting on the last
good spec and says what is wrong, once per distinct error.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import schedule

from amed import logs
from amed.alerts import AlertChannels
from amed.config import Settings
from amed.plan import Produce
from amed.reconciler import Reconciler
from amed.store import open_store
from spec import Project, SpecError, load_project
from state.db import StateStore

EXIT_CONVERGED = 0
EXIT_FAILED = 1
SHUTDOWN_STATUSES = ("failed", "blocked")


@dataclass
class _SpecFile:
    """The last good spec, reloaded only when the file changes."""

    path: Path
    project: Project | None = None
    stamp: tuple[int, int, int] | None = None
    last_error: str | None = None

    def load(self) -> Project | None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self.stamp and self.project is not None:
            return self.project
        try:
            project = load_project(self.path)
        except SpecError as exc:
            if str(exc) != self.last_error:
                logs.get().error(
                    "spec_invalid", error=str(exc), keeping_last_good=bool(self.project)
                )
                self.last_error = str(exc)
            return self.project
        if self.last_error is not None:
            logs.get().info("spec_valid_again")
        self.project, self.stamp, self.last_error = project, stamp, None
        return project


def spec_path(project_dir: Path) -> Path:
    for name in ("ame.yaml", "ame.yml"):
        if (project_dir / name).exists():
            return project_dir / name
    return project_dir / "ame.yaml"


def run_once(settings: Settings) -> int:
    """One full pass that also waits for the work it started; each data set is tried once.

    Raises SpecError before anything is opened or written when ame.yaml is invalid.
    """
    desired = load_project(spec_path(settings.project_dir))
    reconciler = _open(settings)
    try:
        everything = frozenset((desired.name, d.name) for d in desired.data_sets)
        # Settle what an earlier daemon left behind and delete debris before producing.
        reconciler.reconcile(desired, hold=everything)
        reconciler.sweep()
        tried: set[tuple[str, str]] = set()
        while True:
            result = reconciler.reconcile(desired, hold=frozenset(tried))
            tried |= {
                (a.project, a.data_set.name) for a in result.actions if isinstance(a, Produce)
            }
            if not reconciler.busy() and not result.actions:
                break
            if reconciler.busy():
                reconciler.wait_for_change(timeout=1.0)
        return _outcome(reconciler, desired)
    finally:
        reconciler.shutdown(cancel_runs=True)
        reconciler.state.close()


def _outcome(reconciler: Reconciler, desired: Project) -> int:
    observed = reconciler.observed()
    bad = [
        row
        for d in desired.data_sets
        if (row := observed.datasets.get((desired.name, d.name)))
        and row.status in SHUTDOWN_STATUSES
    ]
    for row in bad:
        logs.get().error("dataset_not_ready", dataset=row.name, status=row.status, error=row.error)
    return EXIT_FAILED if bad else EXIT_CONVERGED


def run_forever(settings: Settings) -> int:
    """The service: passes every interval until SIGTERM or SIGINT.

    An invalid ame.yaml at start is not fatal: the daemon reports it and waits for a good one.
    """
    spec = _SpecFile(spec_path(settings.project_dir))
    reconciler = _open(settings)
    stopping = threading.Event()
    log = logs.get()

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stopping.set()
        reconciler.changed.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def one_pass() -> None:
        try:
            current = spec.load()
            if current is None:
                return
            reconciler.reconcile(current, spec_error=spec.last_error)
        except Exception:  # a pass that fails must not end the service
            log.exception("pass_failed")

    scheduler = schedule.Scheduler()
    scheduler.every(settings.interval_seconds).seconds.do(one_pass)  # type: ignore[arg-type]
    log.info(
        "started",
        project=str(settings.project_dir),
        state_dir=str(settings.state_dir),
        store=reconciler.store.url,
        interval_seconds=settings.interval_seconds,
    )
    try:
        one_pass()
        reconciler.sweep()
        while not stopping.is_set():
            idle = scheduler.idle_seconds
            reconciler.wait_for_change(timeout=max(idle, 0.0) if idle is not None else None)
            if stopping.is_set():
                break
            if scheduler.idle_seconds is not None and scheduler.idle_seconds <= 0:
                scheduler.run_pending()
            else:
                one_pass()
    finally:
        reconciler.shutdown(cancel_runs=True)
        reconciler.state.close()
        log.info("stopped")
    return EXIT_CONVERGED


def _open(settings: Settings) -> Reconciler:
    channels = AlertChannels(settings.alert_urls, settings.alert_config)
    store = open_store(settings.storage_url)
    state = StateStore.in_dir(settings.state_dir)
    return Reconciler(settings, state, store, channels=channels)
