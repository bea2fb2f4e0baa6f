"""What a run on Ray is told, and what it answers: the job file and the result line.

The daemon ships a run's working copy to Ray with one more file in it, `JOB_FILE`, that
says what the worker entrypoint (`python -m amed.worker JOB_FILE`, amed.worker) must do:
the executor, the names of the task's variables (their values travel as the job's
`env_vars`), the store to place inputs from and store the output into. It holds no
secret: Ray's dashboard lets anyone who reaches it read a job's package, entrypoint and
runtime env, so task secrets are refused and store credentials come from the worker's
own environment.

The worker's last line of output is `RESULT_PREFIX` and a JSON object (`JobResult`): how
the task and the store went, read back by the daemon from the job's logs. It is the one
channel a job has back to the daemon that survives the daemon's restart. `refusal` says
what may not go into a job at all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from amed.engine.base import InputVersion, OutputVersion, RunRequest, StoreWork
from amed.engine.plans import ExecutorSpec
from amed.engine.venvs import REQUIREMENTS_FILE

JOB_FILE = ".amed-ray-job.json"
"""At the root of the package; left out of the task's own working copy on the worker."""

RESULT_PREFIX = "amed-worker-result: "

FORMAT = 1


@dataclass(frozen=True)
class JobSpec:
    """The job file's content. `pip_ready`: Ray installed the `!pip` task's requirements
    (runtime_env.pip) into the Python the worker runs in, so no virtualenv is built."""

    run_id: str
    executor: ExecutorSpec
    env_names: tuple[str, ...]
    pass_env: tuple[str, ...]
    timeout_seconds: float
    stop_grace_seconds: float
    store: StoreWork | None = None
    pip_ready: bool = False

    def to_json(self) -> bytes:
        document = {"format": FORMAT, **asdict(self)}
        return json.dumps(document, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobSpec:
        """A ValueError (one line) for a file this amed does not read."""
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ValueError(f"job file format {document.get('format')!r}, not {FORMAT}")
            store = document["store"]
            return cls(
                run_id=str(document["run_id"]),
                executor=ExecutorSpec(**document["executor"]),
                env_names=tuple(document["env_names"]),
                pass_env=tuple(document["pass_env"]),
                timeout_seconds=float(document["timeout_seconds"]),
                stop_grace_seconds=float(document["stop_grace_seconds"]),
                store=_store_work(store) if store is not None else None,
                pip_ready=bool(document["pip_ready"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a valid job file: {exc}") from None


def _store_work(document: dict[str, Any]) -> StoreWork:
    output = document.get("output")
    return StoreWork(
        store_url=str(document["store_url"]),
        state_id=str(document["state_id"]),
        project=str(document["project"]),
        inputs=tuple(InputVersion(**item) for item in document.get("inputs", ())),
        output=OutputVersion(**output) if output is not None else None,
    )


@dataclass(frozen=True)
class JobResult:
    """How a run on a worker ended. `exit_code`: the task command's status (None when it
    never ran); `error`: None exactly when all went well, else one masked line; `stage`:
    where it failed ("task", "store" or "space"); `stored`: the output version's manifest
    is written, and `manifest_digest` is its digest (what the daemon commits only if the
    manifest it finds is that one)."""

    exit_code: int | None = None
    error: str | None = None
    stage: str = "task"
    stored: bool = False
    timed_out: bool = False
    cancelled: bool = False
    manifest_digest: str | None = None

    def line(self) -> str:
        return RESULT_PREFIX + json.dumps(asdict(self), sort_keys=True)


def split_result(logs: str) -> tuple[str, JobResult | None]:
    """The logs without the result line, and the result when the worker wrote one."""
    lines = logs.splitlines(keepends=True)
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(RESULT_PREFIX):
            try:
                document = json.loads(lines[index][len(RESULT_PREFIX) :])
                result = JobResult(**document)
            except (ValueError, TypeError):
                return logs, None
            before = lines[:index]
            if before and before[-1] == "\n":  # the worker's own line break before it
                before = before[:-1]
            return "".join(before + lines[index + 1 :]), result
    return logs, None


def refusal(req: RunRequest) -> str | None:
    """Why this request cannot go to Ray, if it cannot."""
    masked = {value for value in req.redact if value}
    if any(value in masked for value in req.env.values()):
        return (
            "task secrets (!ame) are not sent to Ray: anyone who reaches its dashboard reads "
            "a job's env; run this task with engine.kind = local, or give the workers the "
            "value in their own environment and list its name in tasks.pass_env"
        )
    if req.prepare is not None and req.store_work is None:
        return "this run's inputs cannot be placed on a Ray worker (no store to read them from)"
    return None


def requirements(work: Path) -> list[str] | None:
    """A `!pip` task's requirements, for Ray to install (runtime_env.pip)."""
    path = work / REQUIREMENTS_FILE
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]
