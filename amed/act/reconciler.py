"""Carrying out the planner's commands, and recording every outcome as an event.

This is where the planner's pure decisions meet the world: the task runner (through the
producer), the object store, alert delivery and the state store. Every append goes through
one lock, so the state store keeps a single writer at a time.

Giving up a version is always recorded before its objects are deleted (`dataset_evicted`,
`dataset_removed`, then `version_deleted`): a crash in between leaves a version nobody
serves, whose deletion the next pass finishes, never a `ready` data set with missing files.

A store may be shared (amed.store.claims): the store is bound to this state's id, and a project
another state has claimed is left alone from the moment that is seen (at start, when the
project's name changes, at a sweep, or when a version is stored or deleted): nothing is
produced, stored, evicted or swept there any more, and the daemon says so once.
"""

from __future__ import annotations

import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from amed import logs
from amed.act.consume import Consumer
from amed.act.produce import Producer
from amed.act.upkeep import RUN_LOG_KEEP_DAYS, prune_run_dirs
from amed.alerts.channels import AlertChannels, AlertSender, Delivery, Outcome
from amed.config import Settings
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import (
    Action,
    Block,
    Declare,
    DeclareTask,
    DeleteVersion,
    Evict,
    Facts,
    FinishTask,
    MarkDeleting,
    MarkLost,
    Policy,
    Produce,
    Remove,
    RequestTask,
    decide,
    summarize,
)
from amed.plan.tasks import StartTask
from amed.store.claims import Claim
from amed.store.objects import ObjectStore, ProjectClaimed, StoreError, StoreUnavailable
from spec import Project, format_bytes
from state.db import StateStore
from state.events import (
    AlertDelivered,
    AlertDeliveryFailed,
    DatasetRemoved,
    Event,
    RunStarted,
    TaskStarted,
    VersionDeleted,
)
from state.heartbeat import DaemonRow
from state.observed import Observed

Clock = Callable[[], datetime]
SWEEP_INTERVAL_SECONDS = 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def policy_of(settings: Settings) -> Policy:
    return Policy(
        eviction_high_percent=settings.eviction_high_percent,
        eviction_low_percent=settings.eviction_low_percent,
        low_space_percent=settings.low_space_percent,
        alert_repeat_seconds=settings.alert_repeat_seconds,
        alert_after_failures=settings.alert_after_failures,
        deletion_grace_seconds=settings.deletion_grace_seconds,
        deletion_max_percent=settings.deletion_max_percent,
    )


def claim_refusal(project: str, held: Claim, store_url: str) -> str:
    """The one line that says whose a project is, and the two ways to change that."""
    return (
        f"project {project} in {store_url} is claimed by {held.owner()} since "
        f"{held.claimed_at}; to take it over run `amed run --take-over` (that state's data "
        f"under datasets/{project}/ will then be swept), or release it on host {held.host}: "
        f"`ame store release {project} --state-dir {held.state_dir}`"
    )


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
        state.bind_store(store.url)
        self.state_id = state.state_id()
        self._lost: dict[str, Claim] = {}  # projects another state holds, as last seen
        self._lost_lock = threading.Lock()
        self._claimed: str | None = None  # the project whose claim was checked last
        self._take_over = take_over
        store.bind(
            self.state_id,
            host=socket.gethostname(),
            state_dir=str(settings.state_dir.absolute()),
            on_claim_lost=self._claim_lost,
        )
        self.clock = clock
        self.changed = threading.Event()
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._runs: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(settings.max_parallel, thread_name_prefix="produce")
        self._log = logs.get()
        self._store_error: str | None = None
        self._last_sweep = time.monotonic()
        self._project = ""
        self.producer = Producer(
            settings, store, self._append, clock, jitter, self.cancel, self._store_result
        )
        self.consumer = Consumer(
            settings, store, self._append, clock, self.cancel, lambda: self.producer.data_paths
        )
        self.channels = channels if channels is not None else AlertChannels()
        credentials = (*store.credentials, *self.channels.credentials)
        self.producer.credentials = self.consumer.credentials = credentials
        self.sender = AlertSender(self.channels, self._delivered) if self.channels else None
        self.policy = policy_of(settings)

    # -- observing ----------------------------------------------------------------------

    def observed(self) -> Observed:
        with self._lock:
            return self.state.observed()

    def live_runs(self) -> frozenset[str]:
        with self._lock:
            for run_id in [r for r, f in self._runs.items() if f.done()]:
                del self._runs[run_id]
            return frozenset(self._runs)

    def facts(
        self, *, hold: frozenset[tuple[str, str]] = frozenset(), spec_error: str | None = None
    ) -> Facts:
        live = self.live_runs()
        try:
            disk_free = self.store.free_bytes()
        except OSError:
            disk_free = None
        return Facts(
            now=self.clock(),
            running_runs=live,
            free_slots=self.settings.max_parallel - len(live),
            hold=hold,
            capacity_bytes=self.settings.capacity_bytes,
            disk_free_bytes=disk_free,
            store_error=self._store_error,
            spec_error=spec_error,
            policy=self.policy,
        )

    # -- one pass -----------------------------------------------------------------------

    def plan(
        self,
        desired: Project,
        *,
        hold: frozenset[tuple[str, str]] = frozenset(),
        spec_error: str | None = None,
    ) -> list[Action]:
        """What a pass would do now, without doing it."""
        # Live runs first, then the snapshot: a run that ends in between is then seen as
        # stored or failed, never as live-in-the-log-but-gone (which would mark it lost).
        facts = self.facts(hold=hold, spec_error=spec_error)
        return decide(desired, self.observed(), facts)

    def reconcile(
        self,
        desired: Project,
        *,
        hold: frozenset[tuple[str, str]] = frozenset(),
        spec_error: str | None = None,
    ) -> PassResult:
        self.set_data_paths(desired)
        if desired.name != self._claimed:
            held = self._check_claim(desired.name)
            if held is not None and held.state_id != self.state_id:
                self._claim_lost(held)
        actions = self.plan(desired, hold=hold, spec_error=spec_error)
        with self._lost_lock:
            lost = set(self._lost)
        actions = [a for a in actions if _store_project(a) not in lost]
        if actions:
            self._log.info("pass_planned", **summarize(actions))
        for action in actions:
            if self.cancel.is_set() and isinstance(action, Produce):
                continue
            self._act(action)
        if time.monotonic() - self._last_sweep > SWEEP_INTERVAL_SECONDS:
            self.sweep()  # also clears what a failed clean-up left behind
        return PassResult(actions)

    # -- claims -------------------------------------------------------------------------

    def claim(self, project: str) -> None:
        """Claim ame.yaml's project at start, before anything else of it is written: a
        ProjectClaimed error (the daemon refuses to start) when another state holds it.
        A store that cannot be reached now is tried again at the next pass."""
        held = self._check_claim(project)
        if held is not None and held.state_id != self.state_id:
            raise ProjectClaimed(claim_refusal(project, held, self.store.url))

    def _check_claim(self, project: str) -> Claim | None:
        """Claim the project if it is free (or, once, take it over when asked to), and
        return the claim that holds; None when the store could not say."""
        self._claimed = project
        take_over, self._take_over = self._take_over, False
        try:
            held = self.store.claim(project, take_over=take_over)
        except StoreError as exc:
            self._claimed, self._take_over = None, take_over  # again at the next pass
            self._store_result(exc if isinstance(exc, StoreUnavailable) else None)
            self._log.warning("claim_check_failed", project=project, error=str(exc))
            return None
        if held.state_id == self.state_id:
            with self._lost_lock:
                self._lost.pop(project, None)
            self._log.info("project_claimed", project=project, taken_over=take_over)
        return held

    def _claim_lost(self, held: Claim) -> None:
        """Another state holds a project of ours: said once, then the project is left
        alone. Called from worker threads too (a version being stored)."""
        with self._lost_lock:
            known = self._lost.get(held.project)
            self._lost[held.project] = held
        if known != held:
            self._log.error(
                "project_claimed_elsewhere",
                project=held.project,
                error=claim_refusal(held.project, held, self.store.url),
            )

    def apply_settings(self, settings: Settings) -> None:
        """Take reloaded settings (SIGHUP). The store, state dir, worker pool and alert
        channels stay as they were opened: changing those needs a restart."""
        self.settings = self.producer.settings = self.consumer.settings = settings
        self.policy = policy_of(settings)

    def write_heartbeat(self, row: DaemonRow) -> None:
        """The heartbeat goes through the same lock as every append: one writer at a time."""
        with self._lock:
            self.state.write_heartbeat(row)

    def set_data_paths(self, desired: Project) -> None:
        """Data sets' own paths are left out of every working copy."""
        self._project = desired.name
        self.producer.data_paths = tuple(sorted({d.path for d in desired.data_sets}))

    def _act(self, action: Action) -> None:
        match action:
            case (
                Declare(event=event)
                | MarkLost(event=event)
                | ClearAlert(event=event)
                | DeclareTask(event=event)
                | RequestTask(event=event)
                | MarkDeleting(event=event)
            ):
                self._append([event])
                if isinstance(action, MarkDeleting):
                    self._log.info(
                        "dataset_undeclared",
                        dataset=action.event.dataset,
                        delete_after=action.event.delete_after.isoformat(),
                    )
                if isinstance(action, MarkLost):
                    self._log.warning("run_lost", dataset=event.dataset, run_id=action.event.run_id)
            case Block(event=blocked):
                self._append([blocked])
                self._log.warning("dataset_blocked", dataset=blocked.dataset, reason=blocked.reason)
            case RaiseAlert(event=raised):
                self._append([raised])
                self._log.warning(
                    "alert_raised", key=raised.key, severity=raised.severity, title=raised.title
                )
            case Deliver():
                self._deliver(action)
            case DeleteVersion():
                self._delete_version(action.project, action.dataset, action.version, action.reason)
            case Evict(event=evicted):
                self._append([evicted])
                self._log.info(
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
                self._append([removed])
                self._log.info("dataset_removed", dataset=action.dataset, reason=action.reason)
                for version in action.versions:
                    self._delete_version(action.project, action.dataset, version, "removed")
            case FinishTask(event=finished):
                self._append([finished])
                self._log.warning("task_failed", task=finished.task, error=finished.reason)
            case Produce():
                self._start(action)
            case StartTask():
                self._start_task(action)

    def _start_task(self, start: StartTask) -> None:
        run_id = f"{start.task.name}-{secrets.token_hex(4)}"
        started = TaskStarted(
            at=self.clock(),
            project=start.project,
            task=start.task.name,
            request_id=start.request_id,
            run_id=run_id,
            inputs=dict(start.inputs),
        )
        with self._lock:
            self.state.append([started])
            self._runs[run_id] = self._pool.submit(self._consume, start, run_id)
        self._log.info(
            "task_started", task=start.task.name, run_id=run_id, inputs=dict(start.inputs)
        )

    def _consume(self, start: StartTask, run_id: str) -> None:
        try:
            self.consumer.consume(start, run_id)
        finally:
            self.changed.set()

    def _delete_version(self, project: str, dataset: str, version: int, reason: str) -> None:
        log = self._log.bind(dataset=dataset)
        try:
            objects = self.store.delete_version(project, dataset, version)
        except StoreError as exc:
            self._store_result(exc if isinstance(exc, StoreUnavailable) else None)
            log.warning("version_delete_failed", version=version, error=str(exc))
            return
        self._store_result(None)
        self._append(
            [
                VersionDeleted(
                    at=self.clock(),
                    project=project,
                    dataset=dataset,
                    version=version,
                    reason=reason,
                    objects=objects,
                )
            ]
        )
        log.info("version_deleted", version=version, objects=objects, reason=reason)

    # -- producing ----------------------------------------------------------------------

    def _start(self, action: Produce) -> None:
        data_set = action.data_set
        run_id = f"{data_set.name}-v{action.version}-{secrets.token_hex(3)}"
        started = RunStarted(
            at=self.clock(),
            project=action.project,
            dataset=data_set.name,
            run_id=run_id,
            version=action.version,
            spec_hash=data_set.spec_hash,
            task=data_set.producer.name,
            attempt=action.attempt,
        )
        with self._lock:
            self.state.append([started])
            self._runs[run_id] = self._pool.submit(self._produce, action, run_id)
        self._log.info(
            "run_started",
            dataset=data_set.name,
            run_id=run_id,
            version=action.version,
            attempt=action.attempt,
            reason=action.reason,
            budget=format_bytes(action.budget_bytes) if action.budget_bytes is not None else None,
        )

    def _produce(self, action: Produce, run_id: str) -> None:
        try:
            self.producer.produce(action, run_id)
        finally:
            self.changed.set()

    def _store_result(self, error: StoreError | None) -> None:
        """Remember whether the store answered, for the `store_unreachable` alert."""
        if error is None:
            if self._store_error is not None:
                self._log.info("store_reachable_again")
            self._store_error = None
        elif self._store_error is None:
            self._store_error = str(error)
            self._log.warning("store_unreachable", error=str(error))

    # -- alerts -------------------------------------------------------------------------

    def _deliver(self, action: Deliver) -> None:
        with self._lock:
            row = self.state.alert(action.key)
        if row is None or row.pending != action.notice:
            return  # delivered (or superseded) since the pass was planned
        title = row.title if action.notice == "alert" else f"RESOLVED: {row.title}"
        if self.sender is None:
            self._log.warning(
                "alert", key=row.key, severity=row.severity, title=title, body=row.body
            )
            self._append(
                [
                    AlertDelivered(
                        at=self.clock(),
                        project=self._project,
                        key=row.key,
                        notice="resolved" if action.notice == "resolved" else "alert",
                        channels=(),
                    )
                ]
            )
            return
        body = row.body if action.notice == "alert" else f"Resolved. It was:\n{row.body}"
        self.sender.submit(
            Delivery(row.key, action.notice, row.severity, title, body, action.channels)
        )

    def _delivered(self, outcome: Outcome) -> None:
        now = self.clock()
        notice = "resolved" if outcome.notice == "resolved" else "alert"
        events: list[Event] = []
        if outcome.delivered:
            events.append(
                AlertDelivered(
                    at=now,
                    project=self._project,
                    key=outcome.key,
                    notice=notice,
                    channels=outcome.delivered,
                )
            )
        for channel, error in outcome.failed:
            events.append(
                AlertDeliveryFailed(
                    at=now,
                    project=self._project,
                    key=outcome.key,
                    notice=notice,
                    channel=channel,
                    error=error,
                )
            )
            self._log.warning(
                "alert_delivery_failed", key=outcome.key, channel=channel, error=error
            )
        if outcome.delivered:
            self._log.info("alert_delivered", key=outcome.key, channels=list(outcome.delivered))
        self._append(events)
        for channel, _ in outcome.failed:
            with self._lock:
                row = self.state.channel(channel)
            if row is not None and not row.healthy:
                self._log.error("alert_channel_unhealthy", channel=channel, failures=row.failures)
        self.changed.set()

    # -- upkeep -------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Delete store objects that no committed version or live run owns, under the
        projects this state dir knows and has claimed only: a store may be shared by other
        projects and other states."""
        observed = self.observed()
        owned = observed.owned_versions()
        projects = {project for project, _ in observed.datasets}
        if self._project:
            projects.add(self._project)
        self._last_sweep = time.monotonic()
        with self._lost_lock:
            projects -= set(self._lost)
        removed: list[str] = []
        try:
            for project in sorted(projects):
                try:
                    removed += self.store.sweep_debris(owned, project=project)
                except ProjectClaimed as exc:  # another state's, or never claimed by us
                    self._log.info("sweep_skipped", project=project, reason=str(exc))
        except StoreError as exc:
            self._store_result(exc if isinstance(exc, StoreUnavailable) else None)
            self._log.warning("sweep_failed", error=str(exc))
            return []
        self._store_result(None)
        if removed:
            self._log.info("debris_deleted", objects=len(removed))
        self._prune_run_logs(observed)
        return removed

    def _prune_run_logs(self, observed: Observed) -> None:
        keep = set(self.live_runs())
        keep |= {row.run_id for row in observed.datasets.values() if row.run_id}
        for task in observed.tasks.values():
            keep |= {run for run in (task.run_id, task.last_run_id) if run}
        pruned = prune_run_dirs(self.settings.state_dir / "runs", keep, time.time())
        if pruned:
            self._log.info("run_logs_deleted", runs=len(pruned), kept_days=RUN_LOG_KEEP_DAYS)

    def wait_for_change(self, timeout: float | None) -> None:
        self.changed.wait(timeout)
        self.changed.clear()

    def busy(self) -> bool:
        return bool(self.live_runs()) or (self.sender is not None and not self.sender.idle())

    def shutdown(self, *, cancel_runs: bool) -> None:
        if cancel_runs:
            self.cancel.set()
        self._pool.shutdown(wait=True)
        if self.sender is not None:
            self.sender.close()

    def _append(self, events: list[Event]) -> None:
        if not events:
            return
        with self._lock:
            self.state.append(events)
