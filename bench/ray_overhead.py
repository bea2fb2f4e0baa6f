"""12. Ray overhead: what amed adds to a run on a Ray cluster, and many small data sets on
Ray against the local engine.

amed's figure is a run's span in its own event log, `run_started` to `version_stored`: the
working copy zipped and submitted, the job run by `python -m amed.worker` (the task, its
output uploaded to S3 with a manifest), the daemon's check of that manifest, the commit.
The baseline submits the same command, with the same project as its working_dir, through
Ray's own `JobSubmissionClient` and polls until it has SUCCEEDED: Ray's floor for the same
job, without storing anything. Both run on one Ray head and moto S3 on loopback, in a
network namespace (tests.ray.cluster), interleaved, after a `sync`. When Ray cannot start
here (no Ray, not root), the row says why instead.

The second row produces `MANY` small data sets with one `amed run --once` on Ray and the
same with the local engine, into the same S3 store, two at a time (tasks.max_parallel): what
a fleet of tiny tasks pays for running on a cluster.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

from bench.common import Result, not_measured, runs_for, scratch
from tests.ray.cluster import BIN, BUCKET, RAY_ADDRESS, Cluster, why_not

QUESTION = "12 Ray overhead"
MEASURE = "one small run on Ray, submitted -> ready"
COMMAND = "mkdir -p out && head -c 1048576 /dev/urandom > out/x.bin && echo made"
SMALL = 'mkdir -p "$AME_DATASET_PATH" && echo small > "$AME_DATASET_PATH/s.txt"'
MANY = 50
MANY_QUICK = 3
MANY_MEASURE = "small data sets, one amed run --once"

_BASELINE = """
import json, sys, time
from ray.job_submission import JobSubmissionClient, JobStatus
client = JobSubmissionClient(ADDRESS)
began = time.perf_counter()
job = client.submit_job(entrypoint=COMMAND, runtime_env={"working_dir": WORK})
while client.get_job_status(job) not in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED):
    time.sleep(0.05)
seconds = time.perf_counter() - began
assert client.get_job_status(job) == JobStatus.SUCCEEDED, client.get_job_logs(job)
print(json.dumps(seconds))
"""


def run(quick: bool) -> list[Result]:
    reason = why_not()
    if reason is not None:
        return [not_measured(QUESTION, MEASURE, f"n/a ({reason})")]
    try:
        cluster = Cluster()
    except Exception as exc:  # noqa: BLE001 - any failure to start Ray is reported, not raised
        return [not_measured(QUESTION, MEASURE, f"n/a (Ray did not start: {exc})")]
    amed: list[float] = []
    baseline: list[float] = []
    many = MANY_QUICK if quick else MANY
    on_ray: list[float] = []
    local: list[float] = []
    try:
        with scratch("ray") as root:
            warm = root / "warm"
            _project(warm)
            _baseline(cluster, warm / "project", RAY_ADDRESS)  # the first runtime env is slow
            for index in range(runs_for(quick)):
                ws = root / f"ws{index}"
                _project(ws)
                os.sync()
                baseline.append(_baseline(cluster, ws / "project", RAY_ADDRESS))
                os.sync()
                amed.append(_amed(cluster, ws, BIN, f"s3://{BUCKET}/bench-{index}", RAY_ADDRESS))
            for index in range(1 if quick else 3):
                for engine, into in (("ray", on_ray), ("local", local)):
                    ws = root / f"many-{engine}-{index}"
                    _project(ws, count=many)
                    os.sync()
                    into.append(_once(cluster, ws, f"s3://{BUCKET}/many-{engine}-{index}", engine))
    finally:
        cluster.close()
    return [
        Result(
            QUESTION,
            MEASURE,
            "s",
            tuple(amed),
            baseline_name="Ray's JobSubmissionClient, same command, no storing",
            baseline=tuple(baseline),
            note="amed's span includes uploading 1 MiB to S3, the manifest and its check",
        ),
        Result(
            QUESTION,
            f"{many} {MANY_MEASURE}, engine ray",
            "s",
            tuple(on_ray),
            baseline_name="the same with the local engine",
            baseline=tuple(local),
            note="medians of 3 (1 with --quick): each sample is a whole pass of many runs",
        ),
    ]


def _project(ws: Path, *, count: int = 1) -> None:
    project = ws / "project"
    project.mkdir(parents=True)
    lines = ["projectname: bench", "dataSets:"]
    for index in range(count):
        name = "out" if count == 1 else f"out{index:02d}"
        lines += [
            f"  - name: {name}",
            f"    path: {name}",
            "    task:",
            "      executor: !custom",
            f"        command: {json.dumps(COMMAND if count == 1 else SMALL)}",
        ]
    (project / "ame.yaml").write_text("\n".join(lines) + "\n")


def _env(cluster: Cluster, ws: Path, storage: str, engine: str) -> dict[str, str]:
    return {
        **cluster.env,
        "AME_PROJECT": str(ws / "project"),
        "AME_STATE_DIR": str(ws / "state"),
        "AME_STORAGE": storage,
        "AME_CAPACITY": "1Gi",
        "AME_ENGINE": engine,
        "RAY_ADDRESS": RAY_ADDRESS,
    }


def _once(cluster: Cluster, ws: Path, storage: str, engine: str) -> float:
    env = _env(cluster, ws, storage, engine)
    began = time.perf_counter()
    done = cluster.ns.run([str(BIN / "amed"), "run", "--once"], env=env, timeout=1800)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"amed run --once, engine {engine}: {done.stderr[-500:]}")
    return seconds


def _baseline(cluster: Cluster, work: Path, address: str) -> float:
    code = (
        _BASELINE.replace("ADDRESS", repr(address))
        .replace("COMMAND", repr(COMMAND))
        .replace("WORK", repr(str(work)))
    )
    return float(cluster.ns.python(code, env=cluster.env))


def _amed(cluster: Cluster, ws: Path, bin_dir: Path, storage: str, address: str) -> float:
    env = _env(cluster, ws, storage, "ray")
    ns = cluster.ns
    done = ns.run([str(bin_dir / "amed"), "run", "--once"], env=env)
    if done.returncode != 0:
        raise RuntimeError(f"amed run --once on Ray: {done.stderr[-500:]}")
    events = ns.run([str(bin_dir / "ame"), "events", "--json"], env=env)
    times = {}
    for line in events.stdout.splitlines():
        event = json.loads(line)
        if event["type"] in ("run_started", "version_stored"):
            times[event["type"]] = datetime.fromisoformat(event["at"])
    return (times["version_stored"] - times["run_started"]).total_seconds()
