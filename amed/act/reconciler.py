"""Carrying out the planner's commands, and recording every outcome as an event.

This is where the planner's pure decisions meet the world. A pass observes
(amed.act.observe), decides, and dispatches each action here: most are one event appended,
producing and consuming start a run (amed.act.produce, amed.act.consume, in the worker pool
of amed.act.runs), alerts go to their channels (amed.act.deliveries), and every hour the
store's debris is swept and old run logs pruned (amed.act.upkeep).

Giving up a version is always recorded before its objects are deleted (`dataset_evicted`,
`dataset_removed`, then `version_deleted`): a crash in between leaves a version nobody
serves, whose deletion the next pass finishes, never a `ready` data set with missing files.

Threads, and what guards what they share:
- the loop thread runs passes, takes reloaded settings and writes the heartbeat; `settings`,
  `_project`, `_exclude` and `_last_sweep` are its own;
- run workers are handed what they need by value at start (`RunSetup`);
- `Journal.lock` guards the state store (every append, every read);
- `Runs._lock` guards the live runs; `StoreHealth._lock` whether the store answers;
  `ProjectClaims._lock` the projects other states hold;
- the alert worker gets a delivery's project with it and hands it back with the outcome.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from amed import logs
from amed.act.claims import ProjectClaims
from amed.act.code_digest import excluded_paths
from amed.act.consume import Consumer
from amed.act.deliveries import Deliveries
from amed.act.journal import Journal
from amed.act.observe import Clock, Observer, utc_now
from amed.act.produce import Producer
from amed.act.reattach import reattach
from amed.act.runs import Runs, RunSetup
from amed.act.upkeep import StoreHealth, prune_run_logs, sweep_debris
from amed.alerts.channels import AlertChannels
from amed.config import Settings
from amed.errors import StoreError
from amed.plan.actions import (
    Action,
    Block,
    Declare,
    DeclareTask,
    DeleteVersion,
    Evict,
    FailDependant,
    FinishTask,
    MarkDeleting,
    MarkLost,
    Produce,
    Remove,
    RequestTask,
    summarize,
)
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import decide_in_full
from amed.plan.survey import Memo
from amed.plan.tasks import StartTask
from amed.store.objects import ObjectStore
from spec import Project
from state.db import StateStore
from state.events import DatasetRemoved, VersionDeleted
from state.heartbeat import DaemonRow
from state.observed import Observed

SWEEP_INTERVAL_SECONDS = 3600.0


def _store_project(action: Action) -> str | None:
    """The project whose objects an action writes or deletes, if it touches the store."""
    match action:
        case Produce() | DeleteVersion() | Remove():
            return action.project
        case Evict(event=evicted):
            return evicted.project
    return None


@dataclass(frozen=True)
class PassResult:
    actions: list[Action]


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        store: ObjectStore,
        *,
        channels: AlertChannels | None = None,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = lambda: random.uniform(-1.0, 1.0),
        take_over: bool = False,
    ) -> None:
        """`take_over`: the first project claimed is taken from whichever state holds it."""
        self.settings = settings
        self.state = state
        self.store = store
        self.clock = clock
        state.bind_store(store.url)
        self.health = StoreHealth()
        self.claims = ProjectClaims(store, state.state_id(), self.health, take_over=take_over)
        store.bind(
            self.claims.state_id,
            host=socket.gethostname(),
            state_dir=str(settings.state_dir.absolute()),
            on_claim_lost=self.claims.lost_to,
        )
        self.journal = Journal(state)
        self.changed = threading.Event()
        self.runs = Runs(settings.max_parallel, self.journal, self.changed)
        self.cancel = self.runs.cancel
        self.observer = Observer(self.journal, self.runs, store, self.health, clock)
        channels = channels if channels is not None else AlertChannels()
        self.deliveries = Deliveries(channels, self.journal, clock, self.changed, settings)
        credentials = (*store.credentials, *channels.credentials)
        append = self.journal.append
        self.producer = Producer(
            store, append, self.runs, clock, jitter, self.health.report, credentials
        )
        self.consumer = Consumer(store, append, self.runs, clock, credentials)
        self._log = logs.get()
        self._last_sweep = time.monotonic()
        self._project = ""
        self._exclude: tuple[str, ...] = ()
        self._reattached = False
        # What the last plan found: the next one reads again only what changed since
        # (amed.plan.survey). Only the loop thread plans.
        self._memo: Memo | None = None

    # -- what the daemon asks ---------------------------------------------------------------

    def observed(self) -> Observed:
        return self.journal.observed()

    def live_runs(self) -> frozenset[str]:
        return self.runs.live()

    def write_heartbeat(self, row: DaemonRow) -> None:
        self.journal.write_heartbeat(row)

    def claim(self, project: str) -> None:
        """At start: raises ProjectClaimed when another state holds ame.yaml's project."""
        self.claims.claim(project)

    def apply_settings(self, settings: Settings) -> None:
        """Take reloaded settings (SIGHUP), on the loop thread: runs already started keep the
        settings they were handed. The store, state dir, worker pool and alert channels
        stay as they were opened: changing those needs a restart."""
        self.settings = settings

    def wait_for_change(self, timeout: float | None) -> None:
        self.changed.wait(timeout)
        self.changed.clear()

    def busy(self) -> bool:
        return bool(self.runs.live()) or not self.deliveries.idle()

    def shutdown(self, *, cancel_runs: bool) -> None:
        self.runs.shutdown(cancel=cancel_runs)
        self.deliveries.close()

    # -- one pass -----------------------------------------------------------------------

    def plan(
        self,
        desired: Project,
        *,
        hold: frozenset[tuple[str, str]] = frozenset(),
        spec_error: str | None = None,
    ) -> list[Action]:
        """What a pass would do now, without doing it."""
        observed, facts = self.observer.observe(
            self.settings, desired, hold=hold, spec_error=spec_error
        )
        decision = decide_in_full(desired, observed, facts, self._memo)
        self._memo = decision.memo
        return decision.actions

    def reconcile(
        self,
        desired: Project,
        *,
        hold: frozenset[tuple[str, str]] = frozenset(),
        spec_error: str | None = None,
    ) -> PassResult:
        self._project = desired.name
        self._exclude = excluded_paths(self.settings, desired)
        self.claims.check_renamed(desired.name)
        if not self._reattached:  # before the first plan: adopted runs are live, not lost
            reattach(
                desired,
                RunSetup(self.settings, self._exclude),
                journal=self.journal,
                runs=self.runs,
                producer=self.producer,
                consumer=self.consumer,
                store=self.store,
            )
            # Only once it went through: a pass that failed in it tries again (runs it
            # adopted are live by then and skipped), rather than plan them as lost.
            self._reattached = True
        actions = self.plan(desired, hold=hold, spec_error=spec_error)
        lost = self.claims.lost()
        actions = [a for a in actions if _store_project(a) not in lost]
        if actions:
            self._log.info("pass_planned", **summarize(actions))
        setup = RunSetup(self.settings, self._exclude)
        for action in actions:
            if self.cancel.is_set() and isinstance(action, Produce):
                continue
            self._act(action, setup)
        if time.monotonic() - self._last_sweep > SWEEP_INTERVAL_SECONDS:
            self.sweep()  # also clears what a failed clean-up left behind
        self.deliveries.pass_succeeded()
        return PassResult(actions)

    def _act(self, action: Action, setup: RunSetup) -> None:
        log = self._log
        match action:
            case Declare(event=event) | DeclareTask(event=event) | RequestTask(event=event):
                self.journal.append([event])
            case ClearAlert(event=cleared):
                self.journal.append([cleared])
            case MarkDeleting(event=deleting):
                self.journal.append([deleting])
                log.info(
                    "dataset_undeclared",
                    dataset=deleting.dataset,
                    delete_after=deleting.delete_after.isoformat(),
                )
            case MarkLost(event=lost):
                self.journal.append([lost])
                log.warning("run_lost", dataset=lost.dataset, run_id=lost.run_id)
            case Block(event=blocked):
                self.journal.append([blocked])
                log.warning("dataset_blocked", dataset=blocked.dataset, reason=blocked.reason)
            case FailDependant(event=failed):
                self.journal.append([failed])
                log.warning("input_failed", dataset=failed.dataset, reason=failed.reason)
            case RaiseAlert(event=raised):
                self.journal.append([raised])
                log.warning(
                    "alert_raised", key=raised.key, severity=raised.severity, title=raised.title
                )
            case Deliver():
                self.deliveries.deliver(action, self._project)
            case DeleteVersion():
                self._delete_version(action.project, action.dataset, action.version, action.reason)
            case Evict(event=evicted):
                self.journal.append([evicted])
                log.info(
                    "dataset_evicted",
                    dataset=evicted.dataset,
                    version=evicted.version,
                    bytes=evicted.bytes_freed,
                    reason=evicted.reason,
                )
                self._delete_version(evicted.project, evicted.dataset, evicted.version, "evicted")
            case Remove():
                removed = DatasetRemoved(
                    at=self.clock(),
                    project=action.project,
                    dataset=action.dataset,
                    reason=action.reason,
                )
                self.journal.append([removed])
                log.info("dataset_removed", dataset=action.dataset, reason=action.reason)
                for version in action.versions:
                    self._delete_version(action.project, action.dataset, version, "removed")
            case FinishTask(event=finished):
                self.journal.append([finished])
                log.warning("task_failed", task=finished.task, error=finished.reason)
            case Produce():
                self.producer.start(action, setup)
            case StartTask():
                self.consumer.start(action, setup)

    def _delete_version(self, project: str, dataset: str, version: int, reason: str) -> None:
        log = self._log.bind(dataset=dataset)
        try:
            objects = self.store.delete_version(project, dataset, version)
        except StoreError as exc:
            self.health.report(exc)
            log.warning("version_delete_failed", version=version, error=str(exc))
            return
        self.health.report(None)
        deleted = VersionDeleted(
            at=self.clock(),
            project=project,
            dataset=dataset,
            version=version,
            reason=reason,
            objects=objects,
        )
        self.journal.append([deleted])
        log.info("version_deleted", version=version, objects=objects, reason=reason)

    # -- upkeep -------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Delete store objects that no committed version or live run owns, under the
        projects this state dir knows and has claimed only, then prune old run logs."""
        observed = self.observed()
        projects = {project for project, _ in observed.datasets}
        if self._project:
            projects.add(self._project)
        self._last_sweep = time.monotonic()
        removed = sweep_debris(self.store, observed, projects - self.claims.lost(), self.health)
        if removed is None:
            return []
        prune_run_logs(self.settings.state_dir / "runs", observed, self.runs.live())
        return removed
