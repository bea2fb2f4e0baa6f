"""One run on a worker, as the daemon would do it at home: place the inputs, run the task,
store its output. Started by a Ray job (amed.engine.ray) in the unpacked working copy.

The task runs through the local engine's own runner (amed.engine.local_run.run_task), in a
copy of the unpacked working copy, so it gets what a local run gets: a clean environment
(the worker's allow-list, the task's env, `tasks.pass_env`), its executor's setup, its
timeout, every process it started ended at its end, and its output masked. The output is
copied to this process's stdout as it is written, for Ray's job logs.

The output is stored with the commit protocol of amed.store (files first, the manifest
last, under the daemon's state id), with the store's credentials from this machine's
environment; the daemon checks the manifest and commits `version_stored`. The last line
printed is the result (amed.engine.ray_job.JobResult). A SIGTERM (Ray's `stop_job`) stops
the task as a cancel does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from amed.act.inputs import Placed, place_versions
from amed.engine.base import RunRequest, RunResult, StoreWork
from amed.engine.environment import passed_env
from amed.engine.local_run import run_task
from amed.engine.plans import ExecutorSpec
from amed.engine.ray_job import JOB_FILE, JobResult, JobSpec
from amed.engine.run_logs import OUTPUT_LOG_NAME
from amed.errors import OutOfSpace, StoreError
from amed.store.objects import ObjectStore
from amed.store.schemes import open_store

VENV_ROOT_VARIABLE = "AME_WORKER_VENVS"
"""Where shared virtualenvs are built on a worker (default: ~/.cache/amed/venvs)."""

WORKER_TAG_SUFFIX = "@ray"
"""Appended to the run id in `AME_RUN_ID` of the task's processes on a worker."""

_FOLLOW_SECONDS = 0.2


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        return _finish(JobResult(error=f"usage: python -m amed.worker {JOB_FILE}"))
    try:
        job = JobSpec.from_json(Path(argv[0]).read_bytes())
    except (OSError, ValueError) as exc:
        return _finish(JobResult(error=f"{argv[0]}: {exc}"))
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    store: ObjectStore | None = None
    if job.store is not None:
        try:
            store = open_store(job.store.store_url)
            store.bind(job.store.state_id, host=socket.gethostname())
        except StoreError as exc:
            return _finish(JobResult(error=str(exc), stage="store"))
    scratch = Path(tempfile.mkdtemp(prefix="amed-run-"))
    try:
        return _finish(_run(job, store, scratch / job.run_id, cancel))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(
    job: JobSpec, store: ObjectStore | None, run_dir: Path, cancel: threading.Event
) -> JobResult:
    work_store = job.store
    request = RunRequest(
        # Not the daemon's run id: a daemon on this machine ends processes tagged with the
        # ids of its runs when it starts, and a re-attached run's task must survive that.
        run_id=f"{job.run_id}{WORKER_TAG_SUFFIX}",
        project_dir=Path.cwd(),
        run_dir=run_dir,
        executor=_executor(job),
        env=_task_env(job),
        exclude=(JOB_FILE,),
        timeout_seconds=job.timeout_seconds,
        venv_root=Path(
            os.environ.get(VENV_ROOT_VARIABLE) or Path.home() / ".cache" / "amed" / "venvs"
        ),
        stop_grace_seconds=job.stop_grace_seconds,
        prepare=_placer(store, work_store) if store and work_store and work_store.inputs else None,
        redact=(*(store.credentials if store is not None else ()), *_passed_values(job)),
        pass_env=job.pass_env,
    )
    follower = _Follower(run_dir / OUTPUT_LOG_NAME)
    follower.start()
    try:
        result = run_task(request, cancel=cancel)
    finally:
        follower.stop()
    if not result.ok:
        return JobResult(
            exit_code=result.exit_code,
            error=result.error,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
        )
    if store is None or work_store is None or work_store.output is None:
        return JobResult(exit_code=result.exit_code)
    return _store(store, work_store, result)


def _store(store: ObjectStore, work: StoreWork, result: RunResult) -> JobResult:
    output = work.output
    assert output is not None
    source = result.workdir / output.path
    try:
        real = source.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        real = None
    if real is not None and not real.is_relative_to(result.workdir.resolve()):
        error = f"{output.path} leads outside the task's working copy (a symbolic link?)"
        return JobResult(exit_code=result.exit_code, error=f"{error}; nothing stored")
    try:
        # Nothing is deleted here: the daemon clears what an earlier attempt left under
        # this number before it submits the job, as it alone knows the number is not
        # committed (a job it stopped following must never delete a committed version).
        manifest = store.put_version(
            work.project,
            output.dataset,
            output.version,
            source,
            created_at=output.created_at,
            budget_bytes=output.budget_bytes,
            owned=not result.strays,
            root=result.workdir,
        )
    except StoreError as exc:
        stage = "space" if isinstance(exc, OutOfSpace) else "store"
        return JobResult(exit_code=result.exit_code, error=str(exc), stage=stage)
    print(
        f"amed.worker: stored version {output.version} of {output.dataset}: "
        f"{len(manifest.files)} files, {manifest.size_bytes} bytes",
        flush=True,
    )
    return JobResult(
        exit_code=result.exit_code, stored=True, manifest_digest=manifest.content_digest
    )


def _passed_values(job: JobSpec) -> tuple[str, ...]:
    """The values of the worker's variables that `tasks.pass_env` names (beyond the usual
    PATH, HOME, locale...): on a cluster that is where a task's secrets live, so they are
    masked in what it prints as `!ame` secrets are on the daemon's host."""
    usual = passed_env(os.environ)
    return tuple(
        value
        for name, value in passed_env(os.environ, job.pass_env).items()
        if name not in usual and value
    )


def _executor(job: JobSpec) -> ExecutorSpec:
    """Ray installed a `!pip` task's requirements into this Python: run the command here."""
    if job.pip_ready and job.executor.kind == "pip":
        return ExecutorSpec(kind="custom", command=job.executor.command)
    return job.executor


def _task_env(job: JobSpec) -> dict[str, str]:
    """The task's own variables, which Ray set in this process's environment."""
    env = {name: os.environ.get(name, "") for name in job.env_names}
    if job.pip_ready and job.executor.kind == "pip":
        here = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([here, os.environ.get("PATH", os.defpath)])
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def _placer(store: ObjectStore, work: StoreWork) -> Callable[[Path], None]:
    placed = [Placed(i.name, i.version, i.path, i.digest) for i in work.inputs]

    def place(copy: Path) -> None:
        place_versions(store, work.project, placed, copy)

    return place


def _finish(result: JobResult) -> int:
    # On a line of its own even after output that did not end its last line.
    print("\n" + result.line(), flush=True)
    return 0 if result.error is None else 1


class _Follower:
    """Copies the run's (masked) output log to stdout as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._copy, name="follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _copy(self) -> None:
        offset = 0
        while True:
            done = self._done.is_set()
            try:
                with open(self.path, "rb") as file:
                    file.seek(offset)
                    data = file.read()
            except FileNotFoundError:
                data = b""
            if data:
                offset += len(data)
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            if done:
                return
            self._done.wait(_FOLLOW_SECONDS)
