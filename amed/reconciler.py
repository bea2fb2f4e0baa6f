"""Carrying out the planner's commands, and recording every outcome as an event.

This is where the planner's pure decisions meet the world: the task runner, the object store
and the state store. Producing runs in worker threads; each outcome is appended under one
lock, so the state store keeps a single writer at a time. A run's events come in a fixed
order (`run_started`, then `run_succeeded` and `version_stored`, or `run_failed`), and
`version_stored` is appended only after the manifest is in the store: a crash at any point
leaves at worst debris that the next sweep deletes, never a `ready` data set without data.
"""

from __future__ import annotations

import random
import secrets
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from amed import logs
from amed.backoff import retry_delay_seconds
from amed.config import Settings
from amed.executors import ExecutorSpec
from amed.plan import (
    Action,
    Declare,
    DeleteVersion,
    Facts,
    MarkLost,
    Produce,
    Remove,
    decide,
    summarize,
)
from amed.runner import RunRequest, RunResult, run_task
from amed.store import ObjectStore, StoreError
from spec import DataSet, Project
from state.db import StateStore
from state.events import (
    DatasetRemoved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)
from state.observed import Observed
from state.timefmt import format_time

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PassResult:
    actions: list[Action]
    started: int


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        store: ObjectStore,
        *,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = lambda: random.uniform(-1.0, 1.0),
    ) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.clock = clock
        self.jitter = jitter
        self.changed = threading.Event()
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._runs: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(settings.max_parallel, thread_name_prefix="produce")
        self._log = logs.get()

    # -- observing ----------------------------------------------------------------------

    def observed(self) -> Observed:
        with self._lock:
            return self.state.observed()

    def live_runs(self) -> frozenset[str]:
        with self._lock:
            for run_id in [r for r, f in self._runs.items() if f.done()]:
                del self._runs[run_id]
            return frozenset(self._runs)

    # -- one pass -----------------------------------------------------------------------

    def reconcile(
        self, desired: Project, *, hold: frozenset[tuple[str, str]] = frozenset()
    ) -> PassResult:
        live = self.live_runs()
        facts = Facts(
            now=self.clock(),
            running_runs=live,
            free_slots=self.settings.max_parallel - len(live),
            hold=hold,
        )
        actions = decide(desired, self.observed(), facts)
        if actions:
            self._log.info("pass_planned", **summarize(actions))
        started = 0
        for action in actions:
            if self.cancel.is_set() and isinstance(action, Produce):
                continue
            started += self._act(action)
        return PassResult(actions, started)

    def _act(self, action: Action) -> int:
        match action:
            case Declare(event=event) | MarkLost(event=event):
                self._append([event])
                if isinstance(action, MarkLost):
                    self._log.warning("run_lost", dataset=event.dataset, run_id=action.event.run_id)
            case DeleteVersion():
                self._delete_versions(
                    action.project, action.dataset, (action.version,), action.reason
                )
            case Remove():
                if self._delete_versions(
                    action.project, action.dataset, action.versions, action.reason
                ):
                    self._append(
                        [
                            DatasetRemoved(
                                at=self.clock(),
                                project=action.project,
                                dataset=action.dataset,
                                reason=action.reason,
                            )
                        ]
                    )
                    self._log.info("dataset_removed", dataset=action.dataset)
            case Produce():
                self._start(action)
                return 1
        return 0

    def _delete_versions(
        self, project: str, dataset: str, versions: tuple[int, ...], reason: str
    ) -> bool:
        log = self._log.bind(dataset=dataset)
        for version in versions:
            try:
                objects = self.store.delete_version(project, dataset, version)
            except StoreError as exc:
                log.warning("version_delete_failed", version=version, error=str(exc))
                return False
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
        return True

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
        )

    def _produce(self, action: Produce, run_id: str) -> None:
        data_set = action.data_set
        log = self._log.bind(dataset=data_set.name, run_id=run_id)
        try:
            result = run_task(self._request(action, run_id), cancel=self.cancel)
            if not result.ok:
                self._failed(action, run_id, "task", result.error or "failed", result)
                log.warning("run_failed", error=result.error, exit_code=result.exit_code)
                return
            self._append(
                [
                    RunSucceeded(
                        at=self.clock(),
                        project=action.project,
                        dataset=data_set.name,
                        run_id=run_id,
                        seconds=round(result.seconds, 3),
                    )
                ]
            )
            log.info("run_succeeded", seconds=round(result.seconds, 3))
            self._store(action, run_id, result)
        except Exception as exc:  # the loop must outlive any one run
            log.exception("run_crashed")
            self._failed(action, run_id, "task", f"internal error: {exc}", None)
        finally:
            self._cleanup(run_id)
            self.changed.set()

    def _store(self, action: Produce, run_id: str, result: RunResult) -> None:
        data_set = action.data_set
        log = self._log.bind(dataset=data_set.name, run_id=run_id)
        began = self.clock()
        try:
            manifest = self.store.put_version(
                action.project,
                data_set.name,
                action.version,
                result.workdir / data_set.path,
                created_at=format_time(began),
            )
        except StoreError as exc:
            self._failed(action, run_id, "store", str(exc), None)
            log.warning("store_failed", error=str(exc))
            return
        seconds = (self.clock() - began).total_seconds()
        self._append(
            [
                VersionStored(
                    at=self.clock(),
                    project=action.project,
                    dataset=data_set.name,
                    run_id=run_id,
                    version=action.version,
                    spec_hash=data_set.spec_hash,
                    size_bytes=manifest.size_bytes,
                    files=len(manifest.files),
                    seconds=round(seconds, 3),
                )
            ]
        )
        log.info(
            "version_stored",
            version=action.version,
            bytes=manifest.size_bytes,
            files=len(manifest.files),
            seconds=round(seconds, 3),
        )

    def _failed(
        self,
        action: Produce,
        run_id: str,
        stage: Literal["task", "store"],
        reason: str,
        result: RunResult | None,
    ) -> None:
        now = self.clock()
        delay = retry_delay_seconds(
            action.attempt, self.jitter(), base_seconds=self.settings.retry_base_seconds
        )
        self._append(
            [
                RunFailed(
                    at=now,
                    project=action.project,
                    dataset=action.data_set.name,
                    run_id=run_id,
                    stage=stage,
                    reason=reason,
                    exit_code=result.exit_code if result else None,
                    output_tail=result.output_tail if result else None,
                    retry_at=now + timedelta(seconds=delay),
                )
            ]
        )

    def _request(self, action: Produce, run_id: str) -> RunRequest:
        data_set: DataSet = action.data_set
        task = data_set.producer
        executor = task.executor
        assert executor is not None  # the spec refuses producers without one
        env = {var.key: var.val for var in task.env}
        env.update(AME_DATASET=data_set.name, AME_DATASET_PATH=data_set.path)
        return RunRequest(
            run_id=run_id,
            project_dir=self.settings.project_dir,
            run_dir=self.runs_dir / run_id,
            executor=ExecutorSpec(
                kind=executor.type,
                command=executor.command,
                python_version=getattr(executor, "python_version", None),
            ),
            env=env,
            exclude=self._data_paths,
            timeout_seconds=self.settings.task_timeout_seconds,
            venv_root=self.settings.state_dir / "venvs",
        )

    @property
    def runs_dir(self) -> Path:
        return self.settings.state_dir / "runs"

    _data_paths: tuple[str, ...] = ()

    def set_data_paths(self, desired: Project) -> None:
        """Data sets' own paths are left out of every working copy."""
        self._data_paths = tuple(sorted({d.path for d in desired.data_sets}))

    def _cleanup(self, run_id: str) -> None:
        shutil.rmtree(self.runs_dir / run_id / "work", ignore_errors=True)

    # -- upkeep -------------------------------------------------------------------------

    def sweep(self) -> list[str]:
        """Delete store objects that no committed version or live run owns."""
        owned = self.observed().owned_versions()
        try:
            removed = self.store.sweep_debris(owned)
        except StoreError as exc:
            self._log.warning("sweep_failed", error=str(exc))
            return []
        if removed:
            self._log.info("debris_deleted", objects=len(removed))
        return removed

    def wait_for_change(self, timeout: float | None) -> None:
        self.changed.wait(timeout)
        self.changed.clear()

    def busy(self) -> bool:
        return bool(self.live_runs())

    def shutdown(self, *, cancel_runs: bool) -> None:
        if cancel_runs:
            self.cancel.set()
        self._pool.shutdown(wait=True)

    def _append(self, events: list[Event]) -> None:
        with self._lock:
            self.state.append(events)
