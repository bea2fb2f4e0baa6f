"""The door to Ray's Jobs API: the one module that imports Ray.

Ray is an optional extra (`pip install 'amed[ray]'`); without it, asking for the Ray engine
is one line that says so. Every call to the cluster goes through `Jobs`, which turns Ray's
errors (RuntimeError with a traceback from the server, requests' connection errors) into
`RayUnavailable` with one line, so that a run's error never carries a traceback.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ERROR_LINE = re.compile(r"^[\w.]*(?:Error|Exception): (.+)$")

INSTALL_HINT = "the ray engine needs Ray's job client: pip install 'amed[ray]'"


class RayMissing(Exception):
    """Ray is not installed where amed runs."""


class RayUnavailable(Exception):
    """The cluster did not answer, or refused; one line."""


class NoSuchJob(RayUnavailable):
    """Ray knows no job by that submission id."""


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


@dataclass(frozen=True)
class JobInfo:
    """What amed reads of a Ray job. Times are Unix seconds (None until known)."""

    status: str  # PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED
    message: str
    metadata: Mapping[str, str]
    start_seconds: float | None
    end_seconds: float | None

    @property
    def over(self) -> bool:
        return self.status in ("STOPPED", "SUCCEEDED", "FAILED")


class Jobs:
    """One cluster's Jobs API at `address` (`http://host:8265`)."""

    def __init__(self, address: str) -> None:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError:
            raise RayMissing(INSTALL_HINT) from None
        # Ray logs each upload at INFO through a handler of its own, in its own format, into
        # the daemon's stderr: amed logs what matters itself.
        logging.getLogger("ray").setLevel(logging.WARNING)
        self.address = address
        try:
            self._client = JobSubmissionClient(address)
        except Exception as exc:  # noqa: BLE001 - Ray raises anything from here
            raise RayUnavailable(f"cannot reach Ray at {address}: {_one_line(exc)}") from None

    def submit(
        self,
        *,
        submission_id: str,
        entrypoint: str,
        runtime_env: Mapping[str, Any],
        metadata: Mapping[str, str],
        num_cpus: float | None,
        num_gpus: float | None,
        memory_bytes: int | None,
    ) -> None:
        self._call(
            "submit",
            lambda: self._client.submit_job(
                entrypoint=entrypoint,
                submission_id=submission_id,
                runtime_env=dict(runtime_env),
                metadata=dict(metadata),
                entrypoint_num_cpus=num_cpus,
                entrypoint_num_gpus=num_gpus,
                entrypoint_memory=memory_bytes,
            ),
        )

    def info(self, submission_id: str) -> JobInfo:
        raw = self._call("read", lambda: self._client.get_job_info(submission_id))
        return JobInfo(
            status=str(getattr(raw.status, "value", raw.status)),
            message=raw.message or "",
            metadata=dict(raw.metadata or {}),
            start_seconds=raw.start_time / 1000 if raw.start_time else None,
            end_seconds=raw.end_time / 1000 if raw.end_time else None,
        )

    def logs(self, submission_id: str) -> str:
        return str(self._call("read the logs of", lambda: self._client.get_job_logs(submission_id)))

    def stop(self, submission_id: str) -> None:
        self._call("stop", lambda: self._client.stop_job(submission_id))

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - requests' and Ray's errors alike
            text = _one_line(exc)
            if "does not exist" in text:
                raise NoSuchJob(f"Ray at {self.address} has no such job") from None
            raise RayUnavailable(f"Ray at {self.address}: cannot {what} the job: {text}") from None


def _one_line(exc: BaseException) -> str:
    """Ray's server errors carry the server's traceback: its last `...Error: ...` line says
    what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        match = _ERROR_LINE.match(line)
        if match is not None:
            return match.group(1)[:300]
    return " ".join((lines[0] if lines else type(exc).__name__).split())[:300]
