"""Finding again, at a daemon's first pass, the runs an earlier daemon left going.

An engine whose runs outlive the daemon (Ray: a job keeps running when the daemon is
killed) can be asked for them by run id. Each run the log still calls live, producing or
consuming, is attached to and finished as if this daemon had started it: its first event is
already in the log, so it is adopted without one (amed.act.runs), and the planner sees it
live, not lost. What cannot be attached to (the local engine's runs, a job the cluster
forgot) is left to the planner, which marks it lost. A run whose data set changed meanwhile
(another spec hash), or whose task is gone, is stopped, not adopted: its version would not
be what ame.yaml now asks for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from amed import logs
from amed.act.consume import Consumer
from amed.act.journal import Journal
from amed.act.produce import Producer
from amed.act.requests import engine_for
from amed.act.runs import Runs, RunSetup
from amed.engine.base import CannotAttach, Run
from amed.errors import StoreError
from amed.plan.actions import Input, Produce
from amed.plan.tasks import StartTask
from amed.store.objects import ObjectStore
from spec import Project
from state.events import RunStarted, TaskStarted


def reattach(
    desired: Project,
    setup: RunSetup,
    *,
    journal: Journal,
    runs: Runs,
    producer: Producer,
    consumer: Consumer,
    store: ObjectStore,
) -> list[str]:
    """Adopt the runs of `desired`'s project an earlier daemon left; their ids."""
    observed = journal.observed()
    live = runs.live()
    run_ids = [
        *(row.run_id for (project, _), row in observed.datasets.items() if project == desired.name),
        *(row.run_id for (project, _), row in observed.tasks.items() if project == desired.name),
    ]
    wanted = frozenset(run_id for run_id in run_ids if run_id and run_id not in live)
    if not wanted:
        return []
    engine = engine_for(setup.settings, producer.credentials)
    adopted: list[str] = []
    for started in journal.runs_started(wanted):
        try:
            run = engine.attach(started.run_id, cancel=runs.cancel)
        except CannotAttach as exc:
            logs.get().info("run_not_attached", run_id=started.run_id, reason=str(exc))
            continue
        if isinstance(started, RunStarted):
            work = _producing(started, run, desired, setup, producer, store)
        else:
            work = _consuming(started, run, desired, consumer)
        if work is None:
            continue
        runs.adopt(started.run_id, work)
        adopted.append(started.run_id)
        logs.get().info("run_attached", run_id=started.run_id)
    return adopted


def _producing(
    started: RunStarted,
    run: Run,
    desired: Project,
    setup: RunSetup,
    producer: Producer,
    store: ObjectStore,
) -> Callable[[], None] | None:
    data_set = next((d for d in desired.data_sets if d.name == started.dataset), None)
    if data_set is None or data_set.spec_hash != started.spec_hash:
        _stop(run, "the data set changed meanwhile")
        return None
    try:
        inputs = tuple(_input(store, desired.name, n, v) for n, v in started.inputs.items())
    except StoreError as exc:
        _stop(run, str(exc))
        return None
    action = Produce(
        project=desired.name,
        data_set=data_set,
        version=started.version,
        attempt=started.attempt,
        reason="attached after a restart",
        inputs=inputs,
        code_digest=started.code_digest,
    )
    return functools.partial(producer.resume, action, run, setup)


def _consuming(
    started: TaskStarted, run: Run, desired: Project, consumer: Consumer
) -> Callable[[], None] | None:
    task = next((t for t in desired.tasks if t.name == started.task), None)
    if task is None:
        _stop(run, "the task is no longer declared")
        return None
    start = StartTask(desired.name, task, started.request_id, dict(started.inputs), {})
    return functools.partial(consumer.resume, start, run)


def _stop(run: Run, reason: str) -> None:
    """A run that cannot be adopted is stopped; the planner then marks it lost."""
    run.cancel()
    logs.get().warning("attached_run_stopped", run_id=run.run_id, reason=reason)


def _input(store: ObjectStore, project: str, name: str, version: int) -> Input:
    manifest = store.read_manifest(project, name, version)
    if manifest is None:
        raise StoreError(f"input {name} version {version} is no longer in the store")
    return Input(name=name, version=version, path="", digest=manifest.content_digest)
