"""A run's way onto Ray: its working copy packed with the job file, and the job submitted.

The job's submission id is the run id, and its metadata says where the run's directory is
and how long it may take: a daemon that finds the job again (amed.engine.ray's `attach`)
reads both from there, and knows by them that amed started it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from amed import logs
from amed.engine.base import RunRequest
from amed.engine.local_run import WORK_DIR_NAME
from amed.engine.ray_client import Jobs, RayMissing, RayUnavailable
from amed.engine.ray_job import JOB_FILE, JobSpec, refusal, requirements
from amed.engine.ray_package import PackageTooBig, zip_working_copy
from amed.engine.redact import Redactor
from amed.engine.workspace import make_working_copy

ENTRYPOINT = f"python -m amed.worker {JOB_FILE}"
"""The Python on the worker's PATH must have amed installed (README: Running on a cluster)."""

META_RUN_DIR = "amed_run_dir"
META_TIMEOUT = "amed_timeout_seconds"

log = logs.named(__name__)


def submit(req: RunRequest, jobs: Callable[[], Jobs], redactor: Redactor) -> str | None:
    """Ship the working copy and submit the job; the error line if that cannot be.

    `jobs` is called only once the package is built: making the client asks the cluster,
    and a cluster that cannot be reached is then the run's error line, as a package too
    big is."""
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
        client = jobs()
        client.submit(
            submission_id=req.run_id,
            entrypoint=ENTRYPOINT,
            runtime_env=runtime_env,
            metadata={META_RUN_DIR: str(req.run_dir), META_TIMEOUT: str(req.timeout_seconds)},
            num_cpus=req.resources.cpu,
            num_gpus=req.resources.gpus,
            memory_bytes=req.resources.memory_bytes,
        )
    except (RayMissing, RayUnavailable) as exc:
        return redactor.text(str(exc))
    finally:
        package.unlink(missing_ok=True)
    log.info("ray_job_submitted", run_id=req.run_id, address=client.address)
    return None
