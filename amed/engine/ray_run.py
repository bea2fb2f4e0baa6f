"""Following one Ray job, in a thread of its own, until it is over.

The thread polls the job, copies its logs (masked) into `<run_dir>/output.log` for
`ame ds logs`, stops the job on a timeout or a cancel, and reads the worker's result line
at the end. The daemon's stop (the run's `outer` event) stops the job too, unless the
engine is configured to detach: the run then ends in `Detached`, and the job goes on for
the next daemon to attach to. A cluster that cannot be reached never fails a run that was
submitted: the job may still be running.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Protocol

from amed import logs
from amed.engine.base import Detached, RunRequest, RunResult, ThreadedRun
from amed.engine.local_run import WORK_DIR_NAME
from amed.engine.output import read_tail
from amed.engine.ray_client import JobInfo, Jobs, NoSuchJob, RayUnavailable
from amed.engine.ray_job import JobResult, split_result
from amed.engine.ray_submit import META_RUN_DIR, META_TIMEOUT, submit
from amed.engine.redact import Redactor
from amed.engine.run_logs import OUTPUT_LOG_NAME

POLL_SECONDS = 0.5
LOGS_EVERY_SECONDS = 2.0
UNREACHABLE_SAY_AGAIN_SECONDS = 300.0
"""How often a run waiting for an unreachable cluster says so again."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""Ray colours the names in its messages."""

log = logs.named(__name__)


class RunOwner(Protocol):
    """What a run asks of its engine (amed.engine.ray.RayEngine) as it goes, rather than
    once: `configure` may change the cluster's address, the masks or the detaching."""

    def jobs(self) -> Jobs: ...

    @property
    def redact(self) -> tuple[str, ...]: ...

    @property
    def detach_on_stop(self) -> bool: ...

    def forget(self, run_id: str) -> None: ...


class RayRun(ThreadedRun):
    """One job: submitted by this daemon (`request`), found again (`info`), or left by an
    earlier daemon while Ray did not answer (`run_dir` only: followed once it does)."""

    def __init__(
        self,
        run_id: str,
        engine: RunOwner,
        *,
        request: RunRequest | None = None,
        info: JobInfo | None = None,
        run_dir: Path | None = None,
        outer: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self._run_id = run_id
        self._engine = engine
        self._request = request
        self._own = threading.Event()
        self._outer = outer
        self._started = time.monotonic()
        if request is not None:
            self._run_dir = request.run_dir
            self._timeout_seconds = request.timeout_seconds
            self._redactor = Redactor(request.redact)
            self._deadline = self._started + request.timeout_seconds
        else:
            self._run_dir = run_dir or Path(info.metadata[META_RUN_DIR] if info else "")
            self._redactor = Redactor(engine.redact)
            self._timeout_seconds = self._deadline = float("inf")
            if info is not None:
                self._learn(info)

    def _learn(self, info: JobInfo) -> None:
        """The timeout of a job found again, from its metadata, counted from its start."""
        if self._request is not None or self._deadline != float("inf"):
            return
        self._timeout_seconds = float(info.metadata.get(META_TIMEOUT, "inf"))
        began = info.start_seconds or time.time()
        self._deadline = time.monotonic() + self._timeout_seconds - (time.time() - began)

    @property
    def run_id(self) -> str:
        return self._run_id

    def begin(self) -> None:
        self._start_thread(f"ray-{self.run_id}", self._go)

    def cancel(self) -> None:
        self._own.set()

    # -- the run's thread -------------------------------------------------------------------

    def _go(self) -> None:
        try:
            if self._request is not None:
                error = submit(self._request, self._engine.jobs, self._redactor)
                if error is not None:
                    self._result.set_result(self._failed(error))
                    return
            self._result.set_result(self._follow())
        except BaseException as exc:  # noqa: BLE001 - raised again in whoever waits
            self._result.set_exception(exc)
        finally:
            self._engine.forget(self.run_id)

    def _follow(self) -> RunResult:
        """Until the job is over. A cluster that cannot be reached never fails the run: the
        job may still be running, and a retry of the same version beside it could store
        over what it stores. The run waits for the cluster (saying so now and then); a
        stopping daemon leaves it for the next one to attach to."""
        cancelled = timed_out = False
        last_said: float | None = None
        last_logs = 0.0
        while True:
            try:
                jobs = self._engine.jobs()  # made on first use: it, too, needs the cluster
                info = jobs.info(self.run_id)
                last_said = None
                self._learn(info)
            except NoSuchJob:
                return self._failed("the Ray job is gone from the cluster (was it restarted?)")
            except RayUnavailable as exc:
                if self._outer is not None and self._outer.is_set():
                    raise Detached(
                        f"run {self.run_id} left on Ray, which cannot be reached now"
                    ) from None
                now = time.monotonic()
                if last_said is None or now - last_said > UNREACHABLE_SAY_AGAIN_SECONDS:
                    logs.get().warning(
                        "ray_unreachable",
                        run_id=self.run_id,
                        error=self._redactor.text(str(exc)),
                        waiting="for the cluster; the job may still be running",
                    )
                    last_said = now
                self._own.wait(POLL_SECONDS * 4)
                continue
            if info.over:
                break
            if self._outer is not None and self._outer.is_set() and not cancelled:
                if self._engine.detach_on_stop:
                    self._copy_logs(jobs)
                    raise Detached(f"run {self.run_id} left running on Ray")
                cancelled = self._stop(jobs)
            if self._own.is_set() and not cancelled:
                cancelled = self._stop(jobs)
            if time.monotonic() >= self._deadline and not (timed_out or cancelled):
                timed_out = self._stop(jobs)
            if time.monotonic() - last_logs >= LOGS_EVERY_SECONDS:
                self._copy_logs(jobs)
                last_logs = time.monotonic()
            self._own.wait(POLL_SECONDS)
        result = self._copy_logs(jobs)
        return self._result_of(info, result, cancelled=cancelled, timed_out=timed_out)

    def _stop(self, jobs: Jobs) -> bool:
        try:
            jobs.stop(self.run_id)
        except RayUnavailable as exc:
            log.warning("ray_job_stop_failed", run_id=self.run_id, error=str(exc))
            return False
        log.info("ray_job_stopped", run_id=self.run_id)
        return True

    def _copy_logs(self, jobs: Jobs) -> JobResult | None:
        """The job's output so far into output.log, masked and without the result line."""
        try:
            text = jobs.logs(self.run_id)
        except RayUnavailable:
            return None
        body, result = split_result(text)
        self._run_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        path = self._run_dir / OUTPUT_LOG_NAME
        partial = path.with_name(OUTPUT_LOG_NAME + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as file:
            file.write(self._redactor.text(body))
        partial.replace(path)
        return result

    def _result_of(
        self, info: JobInfo, worker: JobResult | None, *, cancelled: bool, timed_out: bool
    ) -> RunResult:
        error: str | None
        if timed_out:
            error = f"timed out after {self._timeout_seconds:g} s"
        elif cancelled:
            error = "cancelled"
        elif worker is not None:
            error = worker.error
        elif info.status == "SUCCEEDED":
            error = "the Ray job ended without a result from amed.worker"
        else:
            why = " ".join(_ANSI.sub("", info.message).split())[:300]
            error = f"the Ray job {info.status.lower()}: {why}"
        seconds = time.monotonic() - self._started
        if info.start_seconds and info.end_seconds:
            seconds = info.end_seconds - info.start_seconds
        return self._make_result(
            error=self._redactor.optional(error),
            exit_code=worker.exit_code if worker else None,
            stored=bool(worker and worker.stored and error is None),
            manifest_digest=worker.manifest_digest if worker else None,
            stage=worker.stage if worker and error else "task",
            seconds=seconds,
            timed_out=timed_out,
            cancelled=cancelled and not timed_out,
        )

    def _failed(self, error: str) -> RunResult:
        return self._make_result(
            error=error, exit_code=None, seconds=time.monotonic() - self._started
        )

    def _make_result(
        self,
        *,
        error: str | None,
        exit_code: int | None,
        seconds: float,
        stored: bool = False,
        manifest_digest: str | None = None,
        stage: str = "task",
        timed_out: bool = False,
        cancelled: bool = False,
    ) -> RunResult:
        log_path = self._run_dir / OUTPUT_LOG_NAME
        return RunResult(
            run_id=self.run_id,
            exit_code=exit_code,
            timed_out=timed_out,
            cancelled=cancelled,
            seconds=seconds,
            workdir=self._run_dir / WORK_DIR_NAME,
            log_path=log_path,
            output_tail=self._redactor.text(read_tail(log_path)),
            error=error,
            stored=stored,
            manifest_digest=manifest_digest,
            stage=stage,
        )
