"""Running a task that consumes data sets: place each ready version into the task's
working copy (checked against its manifest), run the task, record how it ended.

Runs in a worker thread (amed.act.runs). While it runs, the data sets it uses are in use
(`task_started` put them there): they cannot be evicted, and each use moves their last use.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime

from amed import logs
from amed.act.inputs import Placed
from amed.act.requests import engine_for, task_request
from amed.act.runs import Runs, RunSetup
from amed.engine.base import Detached, Run, RunRequest, RunResult
from amed.engine.redact import Redactor
from amed.engine.secrets import SecretError
from amed.plan.tasks import StartTask
from amed.run_ids import consumer_run_id
from amed.store.objects import ObjectStore
from state.events import Event, TaskFinished, TaskStarted


class Consumer:
    def __init__(
        self,
        store: ObjectStore,
        append: Callable[[list[Event]], None],
        runs: Runs,
        clock: Callable[[], datetime],
        credentials: tuple[str, ...],
    ) -> None:
        """`credentials`: the store's and alert channels' secrets, masked in what tasks print."""
        self.store = store
        self.append = append
        self.runs = runs
        self.clock = clock
        self.credentials = credentials

    def start(self, start: StartTask, setup: RunSetup) -> None:
        run_id = consumer_run_id(start.request_id)
        started = TaskStarted(
            at=self.clock(),
            project=start.project,
            task=start.task.name,
            request_id=start.request_id,
            run_id=run_id,
            inputs=dict(start.inputs),
        )
        self.runs.start(run_id, started, lambda: self.consume(start, run_id, setup))
        logs.get().info(
            "task_started", task=start.task.name, run_id=run_id, inputs=dict(start.inputs)
        )

    def consume(self, start: StartTask, run_id: str, setup: RunSetup) -> None:
        def run() -> RunResult:
            request = self._request(start, run_id, setup)
            engine = engine_for(setup.settings, self.credentials)
            return engine.start(request, cancel=self.runs.cancel).wait()

        try:
            self._finish(start, run_id, run)
        finally:
            shutil.rmtree(setup.settings.state_dir / "runs" / run_id / "work", ignore_errors=True)

    def resume(self, start: StartTask, run: Run) -> None:
        """Finish a run an earlier daemon started (amed.act.reattach), as `consume` does."""
        self._finish(start, run.run_id, run.wait)

    def _finish(self, start: StartTask, run_id: str, wait: Callable[[], RunResult]) -> None:
        log = logs.get(task=start.task.name, run_id=run_id)
        result: RunResult | None = None
        reason: str | None
        try:
            if start.task.executor is None:
                reason = f"task {start.task.name} has no executor to run"
            else:
                result = wait()
                reason = result.error
        except Detached:  # the run goes on without this daemon
            log.info("task_detached")
            return
        except SecretError as exc:
            reason = str(exc)
        except Exception as exc:  # the daemon must outlive any one run
            log.exception("task_crashed")
            reason = Redactor(self.credentials).text(f"internal error: {exc}")
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

    def _request(self, start: StartTask, run_id: str, setup: RunSetup) -> RunRequest:
        return task_request(
            start.task,
            run_id,
            setup,
            env={"AME_TASK": start.task.name},
            store=self.store,
            project=start.project,
            inputs=[Placed(n, v, start.paths[n]) for n, v in start.inputs.items()],
            credentials=self.credentials,
        )
