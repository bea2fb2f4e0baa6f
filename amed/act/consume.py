"""Running a task that consumes data sets: place each ready version into the task's
working copy (checked against its manifest), run the task, record how it ended.

Runs in a worker thread. While it runs, the data sets it uses are in use (`task_started`
put them there): they cannot be evicted, and each use moves their last use.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from amed import logs
from amed.act.produce import executor_spec
from amed.config import Settings
from amed.engine.local import RunRequest, RunResult, run_task
from amed.engine.redact import Redactor
from amed.engine.secrets import SecretError, secret_env
from amed.plan.tasks import StartTask
from amed.store.objects import ObjectStore, StoreError
from state.events import Event, TaskFinished


class Consumer:
    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        append: Callable[[list[Event]], None],
        clock: Callable[[], datetime],
        cancel: threading.Event,
        data_paths: Callable[[], tuple[str, ...]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.append = append
        self.clock = clock
        self.cancel = cancel
        self.data_paths = data_paths
        self.credentials: tuple[str, ...] = ()

    def consume(self, start: StartTask, run_id: str) -> None:
        log = logs.get(task=start.task.name, run_id=run_id)
        result: RunResult | None = None
        reason: str | None
        try:
            if start.task.executor is None:
                reason = f"task {start.task.name} has no executor to run"
            else:
                result = run_task(self._request(start, run_id), cancel=self.cancel)
                reason = result.error
        except SecretError as exc:
            reason = str(exc)
        except Exception as exc:  # the daemon must outlive any one run
            log.exception("task_crashed")
            reason = Redactor(self.credentials).text(f"internal error: {exc}")
        finally:
            shutil.rmtree(self.settings.state_dir / "runs" / run_id / "work", ignore_errors=True)
        ok = result is not None and result.ok
        self.append(
            [
                TaskFinished(
                    at=self.clock(),
                    project=start.project,
                    task=start.task.name,
                    request_id=start.request_id,
                    ok=ok,
                    run_id=run_id,
                    reason=None if ok else reason,
                    exit_code=result.exit_code if result else None,
                    seconds=round(result.seconds, 3) if result else None,
                    output_tail=None if ok or result is None else result.output_tail,
                    inputs=dict(start.inputs),
                )
            ]
        )
        if ok:
            log.info("task_succeeded", seconds=round(result.seconds, 3) if result else None)
        else:
            log.warning("task_failed", error=reason)

    def _request(self, start: StartTask, run_id: str) -> RunRequest:
        task = start.task
        assert task.executor is not None
        env = {var.key: var.val for var in task.env}
        env["AME_TASK"] = task.name
        secrets = secret_env(task, self.settings.state_dir, os.environ)
        env.update(secrets)

        def place(work: Path) -> None:
            for name, version in sorted(start.inputs.items()):
                manifest = self.store.read_manifest(start.project, name, version)
                if manifest is None:
                    raise StoreError(f"version {version} of data set {name} is not in the store")
                self.store.download_version(manifest, work / start.paths[name])

        return RunRequest(
            run_id=run_id,
            project_dir=self.settings.project_dir,
            run_dir=self.settings.state_dir / "runs" / run_id,
            executor=executor_spec(task.executor),
            env=env,
            exclude=self.data_paths(),
            timeout_seconds=self.settings.task_timeout_seconds,
            venv_root=self.settings.state_dir / "venvs",
            redact=(*secrets.values(), *self.credentials),
            pass_env=self.settings.task_pass_env,
            prepare=place,
        )
