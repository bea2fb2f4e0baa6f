"""A task's run request, the same for a producing and a consuming task: its env and secrets,
the inputs to place in its working copy, and what to mask in what it prints."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from amed.act.inputs import Placed, place_versions
from amed.act.runs import RunSetup
from amed.engine.base import RunRequest
from amed.engine.plans import ExecutorSpec
from amed.engine.secrets import secret_env
from amed.store.objects import ObjectStore
from spec import Executor, Task


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
    )
