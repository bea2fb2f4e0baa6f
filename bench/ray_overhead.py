"""12. Ray overhead: what amed adds to a run on a Ray cluster, and many small data sets on
Ray against the local engine.

amed's figure is a run's span in its own event log, `run_started` to `version_stored`: the
working copy zipped and submitted, the job run by `python -m amed.worker` (the task, its
1 MiB output uploaded to S3 with a manifest), the daemon's check of that manifest, the
commit. The baseline does the same work through Ray's own `JobSubmissionClient`: the same
project as its working_dir, the same command, then, inside the same job, the same 1 MiB
uploaded to the same S3 bucket by the worker's own Python (obstore's `put`, with the
credentials the workers have, as amed's worker reads them), polled every 50 ms until it has
SUCCEEDED. What it leaves out is what only amed does: the manifest, its check, the commit.
Both run on one Ray head and moto S3 on loopback, in a network namespace (tests.ray.cluster),
interleaved with the order swapped every round, after a `sync`; one untimed job of each
first (the first runtime env is slow). When Ray cannot start here (no Ray, not root), the
row says why instead.

The second row produces `MANY` small data sets with one `amed run --once` on Ray and the
same with the local engine, into the same S3 store, two at a time (tasks.max_parallel):
what a fleet of tiny tasks pays for running on a cluster. Each Ray job costs seconds of
Ray's own (a job supervisor, a runtime env), so two rounds of two show that per-run cost as
fifty did (a pass of fifty took minutes).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from datetime import datetime
from pathlib import Path

from bench.common import Result, in_turn, not_measured, runs_for, scratch
from tests.ray.cluster import BIN, BUCKET, RAY_ADDRESS, Cluster, why_not

QUESTION = "12 Ray overhead"
MEASURE = "one small run on Ray, submitted -> ready"
COMMAND = "mkdir -p out && head -c 1048576 /dev/urandom > out/x.bin && echo made"
SMALL = 'mkdir -p "$AME_DATASET_PATH" && echo small > "$AME_DATASET_PATH/s.txt"'
MANY = 4
MANY_QUICK = 3
MANY_MEASURE = "small data sets, one amed run --once"

# The baseline job's storing: the task's 1 MiB put into the same bucket by the worker's
# Python, with the endpoint and credentials of the worker's environment (as amed's worker).
_UPLOAD = """
import os, sys, obstore
from obstore.store import S3Store
endpoint = os.environ["AWS_ENDPOINT_URL"]
store = S3Store(
    sys.argv[1], prefix=sys.argv[2], endpoint=endpoint, region=os.environ["AWS_REGION"],
    client_options={"allow_http": endpoint.startswith("http://")},
)
with open("out/x.bin", "rb") as handle:
    obstore.put(store, "x.bin", handle.read())
"""

_BASELINE = """
import json, sys, time
from ray.job_submission import JobSubmissionClient, JobStatus
client = JobSubmissionClient(ADDRESS)
began = time.perf_counter()
job = client.submit_job(entrypoint=ENTRYPOINT, runtime_env={"working_dir": WORK})
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
            _baseline(cluster, warm / "project", "warm")  # the first runtime env is slow
            if "warm/x.bin" not in cluster.objects("warm/"):
                raise RuntimeError("the baseline job stored nothing")
            _amed(cluster, warm, f"s3://{BUCKET}/warm-amed")
            for index in range(runs_for(quick)):
                ws = root / f"ws{index}"
                _project(ws)
                for side in in_turn(("ray", "amed"), index):
                    os.sync()
                    if side == "ray":
                        baseline.append(_baseline(cluster, ws / "project", f"b{index}"))
                    else:
                        amed.append(_amed(cluster, ws, f"s3://{BUCKET}/a{index}"))
            for index in range(runs_for(quick)):
                engines = [("ray", on_ray), ("local", local)]
                for engine, into in in_turn(engines, index):
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
            baseline_name="Ray's JobSubmissionClient, same command and 1 MiB put to the same S3",
            baseline=tuple(baseline),
            note="amed's span also holds the manifest, its check and the commit",
        ),
        Result(
            QUESTION,
            f"{many} {MANY_MEASURE}, engine ray",
            "s",
            tuple(on_ray),
            baseline_name="the same with the local engine",
            baseline=tuple(local),
            note="each sample is a whole pass of many runs",
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


def _baseline(cluster: Cluster, work: Path, prefix: str) -> float:
    entrypoint = f"{COMMAND} && python -c {shlex.quote(_UPLOAD)} {BUCKET} {prefix}"
    code = (
        _BASELINE.replace("ADDRESS", repr(RAY_ADDRESS))
        .replace("ENTRYPOINT", repr(entrypoint))
        .replace("WORK", repr(str(work)))
    )
    return float(cluster.ns.python(code, env=cluster.env))


def _amed(cluster: Cluster, ws: Path, storage: str) -> float:
    env = _env(cluster, ws, storage, "ray")
    ns = cluster.ns
    done = ns.run([str(BIN / "amed"), "run", "--once"], env=env)
    if done.returncode != 0:
        raise RuntimeError(f"amed run --once on Ray: {done.stderr[-500:]}")
    events = ns.run([str(BIN / "ame"), "events", "--json"], env=env)
    times = {}
    for line in events.stdout.splitlines():
        event = json.loads(line)
        if event["type"] in ("run_started", "version_stored"):
            times[event["type"]] = datetime.fromisoformat(event["at"])
    return (times["version_stored"] - times["run_started"]).total_seconds()
