"""Finding again, at a daemon's first pass, the runs an earlier daemon left going.

An engine whose runs outlive the daemon (Ray: a job keeps running when the daemon is
killed) can be asked for them by run id. Each producing run the log still calls live is
attached to and finished as if this daemon had started it: its first event is already in
the log, so it is adopted without one (amed.act.runs), and the planner sees it live, not
lost. What cannot be attached to (the local engine's runs, a job the cluster forgot) is left
to the planner, which marks it lost. A run whose data set changed meanwhile (another spec
hash) is stopped, not adopted: its version would not be what ame.yaml now asks for.
"""

from __future__ import annotations

import functools

from amed import logs
from amed.act.journal import Journal
from amed.act.produce import Producer
from amed.act.requests import engine_for
from amed.act.runs import Runs, RunSetup
from amed.engine.base import CannotAttach
from amed.errors import StoreError
from amed.plan.actions import Input, Produce
from amed.store.objects import ObjectStore
from spec import Project


def reattach(
    desired: Project,
    setup: RunSetup,
    *,
    journal: Journal,
    runs: Runs,
    producer: Producer,
    store: ObjectStore,
) -> list[str]:
    """Adopt the producing runs of `desired`'s project an earlier daemon left; their ids."""
    log = logs.get()
    observed = journal.observed()
    live = runs.live()
    wanted = {
        row.run_id: row
        for (project, _), row in observed.datasets.items()
        if project == desired.name and row.run_id and row.run_id not in live
    }
    if not wanted:
        return []
    engine = engine_for(setup.settings)
    declared = {data_set.name: data_set for data_set in desired.data_sets}
    adopted: list[str] = []
    for started in journal.runs_started(frozenset(wanted)):
        data_set = declared.get(started.dataset)
        try:
            run = engine.attach(started.run_id, cancel=runs.cancel)
        except CannotAttach as exc:
            log.info("run_not_attached", run_id=started.run_id, reason=str(exc))
            continue
        if data_set is None or data_set.spec_hash != started.spec_hash:
            run.cancel()
            log.warning("attached_run_stopped", run_id=started.run_id, reason="spec changed")
            continue
        try:
            inputs = tuple(_input(store, desired.name, n, v) for n, v in started.inputs.items())
        except StoreError as exc:
            run.cancel()
            log.warning("attached_run_stopped", run_id=started.run_id, reason=str(exc))
            continue
        action = Produce(
            project=desired.name,
            data_set=data_set,
            version=started.version,
            attempt=started.attempt,
            reason="attached after a restart",
            inputs=inputs,
            code_digest=started.code_digest,
        )
        runs.adopt(started.run_id, functools.partial(producer.resume, action, run, setup))
        adopted.append(started.run_id)
        log.info("run_attached", dataset=started.dataset, run_id=started.run_id)
    return adopted


def _input(store: ObjectStore, project: str, name: str, version: int) -> Input:
    manifest = store.read_manifest(project, name, version)
    if manifest is None:
        raise StoreError(f"input {name} version {version} is no longer in the store")
    return Input(name=name, version=version, path="", digest=manifest.content_digest)
