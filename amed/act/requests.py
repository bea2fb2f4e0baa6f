"""A task's run request, the same for a producing and a consuming task: its env and secrets,
the inputs to place in its working copy, and what to mask in what it prints."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from amed.act.inputs import Placed, place_versions
from amed.act.runs import RunSetup
from amed.config import Settings
from amed.engine.base import (
    Engine,
    InputVersion,
    OutputVersion,
    Resources,
    RunRequest,
    StoreWork,
)
from amed.engine.engines import engine_named
from amed.engine.plans import ExecutorSpec
from amed.engine.secrets import secret_env
from amed.store.objects import ObjectStore
from spec import Executor, Task
from spec.model import Resources as SpecResources


def engine_for(settings: Settings, credentials: tuple[str, ...] = ()) -> Engine:
    """The engine the settings name, told what it needs of them (Ray: where the cluster
    is, whether to leave jobs running on stop, and the daemon's `credentials`, masked in
    what a run found again after a restart prints, as in what a run started here does)."""
    engine = engine_named(settings.engine_kind)
    configure = getattr(engine, "configure", None)
    if configure is not None:
        configure(
            settings.ray_address,
            detach_on_stop=settings.detach_on_stop,
            runs_dir=settings.state_dir / "runs",
            redact=credentials,
        )
    return engine


def resources_of(resources: SpecResources | None) -> Resources:
    if resources is None:
        return Resources()
    gpus = resources.gpu if resources.gpu is not None else resources.gpus
    return Resources(cpu=resources.cpu, gpus=gpus, memory_bytes=resources.memory_bytes)


def executor_spec(executor: Executor) -> ExecutorSpec:
    return ExecutorSpec(
        kind=executor.type,
        command=executor.command,
        python_version=getattr(executor, "python_version", None),
    )


def task_request(
    task: Task,
    run_id: str,
    setup: RunSetup,
    *,
    env: Mapping[str, str],
    store: ObjectStore,
    project: str,
    inputs: Sequence[Placed],
    credentials: tuple[str, ...],
    output: OutputVersion | None = None,
) -> RunRequest:
    """`env`: what amed adds for this kind of run (AME_DATASET, AME_TASK) to the task's own.
    Raises SecretError when a secret cannot be read."""
    assert task.executor is not None  # the spec refuses a task to run without one
    settings = setup.settings
    full_env = {var.key: var.val for var in task.env}
    full_env.update(env)
    task_secrets = secret_env(task, settings.state_dir, os.environ)
    full_env.update(task_secrets)
    placed = list(inputs)

    def place(work: Path) -> None:
        place_versions(store, project, placed, work)

    # For an engine whose tasks run elsewhere and reach the store themselves.
    store_work = StoreWork(
        store_url=store.url,
        state_id=store.state_id or "",
        project=project,
        inputs=tuple(InputVersion(p.name, p.version, p.path, p.digest) for p in placed),
        output=output,
    )

    return RunRequest(
        run_id=run_id,
        project_dir=settings.project_dir,
        run_dir=settings.state_dir / "runs" / run_id,
        executor=executor_spec(task.executor),
        env=full_env,
        exclude=setup.exclude,
        timeout_seconds=settings.task_timeout_seconds,
        venv_root=settings.state_dir / "venvs",
        redact=(*task_secrets.values(), *credentials),
        pass_env=settings.task_pass_env,
        prepare=place if placed else None,
        resources=resources_of(task.resources),
        store_work=store_work,
    )
