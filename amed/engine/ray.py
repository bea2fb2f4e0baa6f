"""The `ray` engine: each run is a Ray job, submitted through Ray's Jobs API.

The job's submission id is the run id, so a job outlives the daemon that started it and a
restarted daemon attaches to it again (`attach`) instead of failing it or starting it
twice. The job runs `python -m amed.worker` (amed.worker) on a worker in the run's working
copy, shipped as `runtime_env.working_dir` (amed.engine.ray_package): it places the
task's inputs from the store, runs the task's command as a local run would, and stores the
output itself; the daemon then checks the manifest and commits (amed.act.produce).

What goes into a job is visible to anyone who reaches Ray's dashboard: the task's env is
its `env_vars`, and a task with secrets is refused rather than have them shown there. Store
credentials never go in: workers read them from their own environment.

Each run is followed by a thread of its own that polls the job, copies its logs (masked)
into `<run_dir>/output.log` for `ame ds logs`, stops the job on a timeout or a cancel, and
reads the worker's result line at the end. The daemon's stop (the `cancel` given to
`start`) stops the job too, unless the engine is configured to detach: the run then ends in
`Detached`, and the job goes on for the next daemon to attach to.
"""

from __future__ import annotations

import contextvars
import os
import re
import shutil
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from amed import logs
from amed.engine.base import CannotAttach, Detached, RunRequest, RunResult
from amed.engine.local_run import WORK_DIR_NAME
from amed.engine.output import read_tail
from amed.engine.ray_client import JobInfo, Jobs, NoSuchJob, RayMissing, RayUnavailable
from amed.engine.ray_job import JOB_FILE, JobResult, JobSpec, refusal, requirements, split_result
from amed.engine.ray_package import PackageTooBig, zip_working_copy
from amed.engine.redact import Redactor
from amed.engine.run_logs import OUTPUT_LOG_NAME
from amed.engine.workspace import make_working_copy

POLL_SECONDS = 0.5
LOGS_EVERY_SECONDS = 2.0
UNREACHABLE_SAY_AGAIN_SECONDS = 300.0
"""How often a run waiting for an unreachable cluster says so again."""

ENTRYPOINT = f"python -m amed.worker {JOB_FILE}"
"""The Python on the worker's PATH must have amed installed (README: Running on a cluster)."""

_META_RUN_DIR = "amed_run_dir"
_META_TIMEOUT = "amed_timeout_seconds"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
"""Ray colours the names in its messages."""

log = logs.named(__name__)


class RayEngine:
    """Runs each task as a Ray job. `configure` must be called before `start` or `attach`
    (amed.act does, from the settings)."""

    name = "ray"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._address: str | None = None
        self._detach_on_stop = False
        self._jobs: Jobs | None = None
        self._runs_dir: Path | None = None
        self._runs: dict[str, RayRun] = {}
        self._redact: tuple[str, ...] = ()

    def configure(
        self,
        address: str | None,
        *,
        detach_on_stop: bool,
        runs_dir: Path | None = None,
        redact: tuple[str, ...] = (),
    ) -> None:
        """`runs_dir`: the state dir's runs (`<state>/runs`), where each run's log goes;
        `redact`: the daemon's credentials, masked in a re-attached run's log."""
        with self._lock:
            self._redact = redact
            if address != self._address:
                self._jobs = None
            self._address = address
            self._detach_on_stop = detach_on_stop
            self._runs_dir = runs_dir

    def start(self, request: RunRequest, *, cancel: threading.Event | None = None) -> RayRun:
        run = RayRun(request.run_id, self, request=request, outer=cancel)
        with self._lock:
            if request.run_id in self._runs:
                raise FileExistsError(f"run {request.run_id} is already running")
            self._runs[request.run_id] = run
        run.begin()
        return run

    def attach(self, run_id: str, *, cancel: threading.Event | None = None) -> RayRun:
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None:
            return run
        try:
            info: JobInfo | None = self.jobs().info(run_id)
        except NoSuchJob:
            raise CannotAttach(f"run {run_id}: Ray has no job with that id") from None
        except RayMissing as exc:
            raise CannotAttach(f"run {run_id}: {exc}") from None
        except RayUnavailable as exc:
            # The job may well be running: followed until Ray answers (or for as long as a
            # cluster may be unreachable), rather than given up and produced twice.
            if self._runs_dir is None or not (self._runs_dir / run_id).is_dir():
                raise CannotAttach(f"run {run_id}: {exc}") from None
            error = Redactor(self.redact).text(str(exc))
            log.warning("ray_unreachable_at_attach", run_id=run_id, error=error)
            info = None
        if info is not None and _META_RUN_DIR not in info.metadata:
            raise CannotAttach(f"run {run_id}: the Ray job by that id was not started by amed")
        run_dir = self._runs_dir / run_id if self._runs_dir is not None else None
        run = RayRun(run_id, self, info=info, run_dir=run_dir, outer=cancel)
        with self._lock:
            self._runs[run_id] = run
        run.begin()
        return run

    def end_leftovers(self, runs_dir: Path) -> int:
        """Nothing: jobs live in the cluster, and a restarted daemon attaches to them."""
        return 0

    def jobs(self) -> Jobs:
        """The cluster's client, made on first use (it asks the cluster for its version, so
        not under the lock: a slow cluster must not hold up the other runs)."""
        with self._lock:
            address, jobs = self._address, self._jobs
        if address is None:
            raise RayUnavailable("engine.ray_address is not set (nor RAY_ADDRESS)")
        if jobs is None:
            jobs = Jobs(address)
            with self._lock:
                if self._address == address:
                    self._jobs = jobs
        return jobs

    @property
    def redact(self) -> tuple[str, ...]:
        with self._lock:
            return self._redact

    @property
    def detach_on_stop(self) -> bool:
        return self._detach_on_stop

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


class RayRun:
    """One job: submitted by this daemon (`request`), found again (`info`), or left by an
    earlier daemon while Ray did not answer (`run_dir` only: followed once it does)."""

    def __init__(
        self,
        run_id: str,
        engine: RayEngine,
        *,
        request: RunRequest | None = None,
        info: JobInfo | None = None,
        run_dir: Path | None = None,
        outer: threading.Event | None = None,
    ) -> None:
        self._run_id = run_id
        self._engine = engine
        self._request = request
        self._own = threading.Event()
        self._outer = outer
        self._result: Future[RunResult] = Future()
        self._started = time.monotonic()
        if request is not None:
            self._run_dir = request.run_dir
            self._timeout_seconds = request.timeout_seconds
            self._redactor = Redactor(request.redact)
            self._deadline = self._started + request.timeout_seconds
        else:
            self._run_dir = run_dir or Path(info.metadata[_META_RUN_DIR] if info else "")
            self._redactor = Redactor(engine.redact)
            self._timeout_seconds = self._deadline = float("inf")
            if info is not None:
                self._learn(info)

    def _learn(self, info: JobInfo) -> None:
        """The timeout of a job found again, from its metadata, counted from its start."""
        if self._request is not None or self._deadline != float("inf"):
            return
        self._timeout_seconds = float(info.metadata.get(_META_TIMEOUT, "inf"))
        began = info.start_seconds or time.time()
        self._deadline = time.monotonic() + self._timeout_seconds - (time.time() - began)

    @property
    def run_id(self) -> str:
        return self._run_id

    def begin(self) -> None:
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(self._go,), name=f"ray-{self.run_id}")
        thread.start()

    def poll(self) -> RunResult | None:
        return self._result.result() if self._result.done() else None

    def wait(self) -> RunResult:
        return self._result.result()

    def cancel(self) -> None:
        self._own.set()

    # -- the run's thread -------------------------------------------------------------------

    def _go(self) -> None:
        try:
            if self._request is not None:
                error = self._submit(self._request)
                if error is not None:
                    self._result.set_result(self._failed(error))
                    return
            self._result.set_result(self._follow())
        except BaseException as exc:  # noqa: BLE001 - raised again in whoever waits
            self._result.set_exception(exc)
        finally:
            self._engine.forget(self.run_id)

    def _submit(self, req: RunRequest) -> str | None:
        """Ship the working copy and submit the job; the error line if that cannot be."""
        refused = refusal(req)
        if refused is not None:
            return refused
        req.run_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        work = req.run_dir / WORK_DIR_NAME
        package = req.run_dir / "package.zip"
        try:
            make_working_copy(req.project_dir, work, exclude=req.exclude)
            pip = requirements(work) if req.executor.kind == "pip" else None
            spec = JobSpec(
                run_id=req.run_id,
                executor=req.executor,
                env_names=tuple(sorted(req.env)),
                pass_env=req.pass_env,
                timeout_seconds=req.timeout_seconds,
                stop_grace_seconds=min(req.stop_grace_seconds, 2.0),
                store=req.store_work,
                pip_ready=pip is not None,
            )
            zip_working_copy(work, package, extra={JOB_FILE: spec.to_json()})
        except PackageTooBig as exc:
            return str(exc)
        except OSError as exc:
            return f"could not copy the project: {' '.join(str(exc).split())}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runtime_env: dict[str, object] = {"working_dir": str(package), "env_vars": dict(req.env)}
        if pip:
            runtime_env["pip"] = pip
        try:
            self._engine.jobs().submit(
                submission_id=req.run_id,
                entrypoint=ENTRYPOINT,
                runtime_env=runtime_env,
                metadata={_META_RUN_DIR: str(req.run_dir), _META_TIMEOUT: str(req.timeout_seconds)},
                num_cpus=req.resources.cpu,
                num_gpus=req.resources.gpus,
                memory_bytes=req.resources.memory_bytes,
            )
        except (RayMissing, RayUnavailable) as exc:
            return self._redactor.text(str(exc))
        finally:
            package.unlink(missing_ok=True)
        log.info("ray_job_submitted", run_id=req.run_id, address=self._engine.jobs().address)
        return None

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
