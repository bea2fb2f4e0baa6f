"""The `ray` engine: each run is a Ray job, submitted through Ray's Jobs API.

The job's submission id is the run id, so a job outlives the daemon that started it and a
restarted daemon attaches to it again (`attach`) instead of failing it or starting it
twice. The job runs `python -m amed.worker` (amed.worker) on a worker in the run's working
copy, shipped as `runtime_env.working_dir` (amed.engine.ray_submit, amed.engine.ray_package):
it places the task's inputs from the store, runs the task's command as a local run would,
and stores the output itself; the daemon then checks the manifest and commits
(amed.act.produce).

What goes into a job is visible to anyone who reaches Ray's dashboard: the task's env is
its `env_vars`, and a task with secrets is refused rather than have them shown there. Store
credentials never go in: workers read them from their own environment.

Each run is followed by a thread of its own (amed.engine.ray_run); this module keeps the
cluster's client, the settings and the runs of this daemon.
"""

from __future__ import annotations

import threading
from pathlib import Path

from amed import logs
from amed.engine.base import CannotAttach, RunRequest
from amed.engine.ray_client import JobInfo, Jobs, NoSuchJob, RayMissing, RayUnavailable
from amed.engine.ray_run import RayRun
from amed.engine.ray_submit import META_RUN_DIR
from amed.engine.redact import Redactor

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
        if info is not None and META_RUN_DIR not in info.metadata:
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
