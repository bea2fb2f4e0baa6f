"""Tasks on a Ray cluster, data in S3, end to end: the real `amed` and `ame`, a Ray head
and moto, all on loopback in a network namespace of their own (tests.ray.cluster)."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ray.conftest import RayProject

# A Ray head starts in tens of seconds on two busy cores, and a job's first runtime env in
# about fifteen: the bound only ends a hang.
pytestmark = pytest.mark.timeout(600)

PRODUCE = (
    "mkdir -p out/sub && printf 'alpha\\n' > out/a.txt && printf 'beta\\n' > out/sub/b.txt "
    '&& echo "made on $(hostname)"'
)


def one_dataset(
    ray_project: RayProject,
    command: str,
    *,
    executor: str = "custom",
    env: dict[str, str] | None = None,
    resources: dict[str, int] | None = None,
) -> None:
    """Write an ame.yaml of project `demo` declaring one data set, `out` at `out`, made by
    `command` (its executor, environment and resources as given)."""
    lines = [
        "projectname: demo",
        "dataSets:",
        "  - name: out",
        "    path: out",
        "    task:",
        f"      executor: !{executor}",
        f"        command: {json.dumps(command)}",
    ]
    if env:
        lines.append("      env:")
        lines += [f"        - {{key: {k}, val: {json.dumps(v)}}}" for k, v in env.items()]
    if resources:
        lines.append(f"      resources: {json.dumps(resources)}")
    ray_project.write("ame.yaml", "\n".join(lines) + "\n")


def test_a_producing_task_runs_on_ray_into_s3_and_becomes_ready(ray_project: RayProject) -> None:
    one_dataset(ray_project, PRODUCE, resources={"cpu": 1})
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    row = ray_project.datasets()["out"]
    assert (row["status"], row["version"]) == ("ready", 1)

    objects = ray_project.cluster.objects(f"{ray_project.prefix}/datasets/demo/out/1/")
    files = {k.rpartition("/1/files/")[2]: v for k, v in objects.items() if "/files/" in k}
    assert files == {
        "a.txt": hashlib.sha256(b"alpha\n").hexdigest(),
        "sub/b.txt": hashlib.sha256(b"beta\n").hexdigest(),
    }
    # The job was Ray's, named by the run, and `ame ds logs` shows what the task printed.
    [run_id] = [e["run_id"] for e in ray_project.events() if e["type"] == "run_started"]
    [job] = [j for j in ray_project.cluster.jobs() if j["submission_id"] == run_id]
    assert job["status"] == "SUCCEEDED"
    assert job["entrypoint"] == "python -m amed.worker .amed-ray-job.json"
    logs = ray_project.run("ame", "ds", "logs", "out")
    assert logs.returncode == 0, logs.stderr
    assert "made on" in logs.stdout
    assert "amed-worker-result" not in logs.stdout


SEES = "find raw features -type f 2>/dev/null | sort"
FEATURES = (
    f"{SEES} > seen.lst && mkdir -p features && mv seen.lst features/seen.txt "
    "&& tr a-z A-Z < raw/x.txt > features/f.txt"
)


def test_a_pipeline_stage_and_a_consumer_on_ray_each_see_exactly_their_inputs(
    ray_project: RayProject,
) -> None:
    seen_by_train = ray_project.root / "train.seen"
    ray_project.write(
        "ame.yaml",
        f"""
        projectname: demo
        tasks:
          - name: train
            executor: !custom
              command: {json.dumps(f'{SEES} > "$SEEN"')}
            env: [{{key: SEEN, val: {json.dumps(str(seen_by_train))}}}]
            dataSets: [features]
        dataSets:
          - name: raw
            path: raw
            task:
              executor: !custom
                command: "mkdir -p raw && echo hello > raw/x.txt"
          - name: features
            path: features
            task:
              executor: !custom
                command: {json.dumps(FEATURES)}
              dataSets: [raw]
        """,
    )
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    rows = ray_project.datasets()
    assert (rows["raw"]["status"], rows["features"]["status"]) == ("ready", "ready")
    objects = ray_project.cluster.objects(f"{ray_project.prefix}/datasets/demo/features/1/files/")
    names = sorted(key.rpartition("/files/")[2] for key in objects)
    assert names == ["f.txt", "seen.txt"]
    assert objects[f"{ray_project.prefix}/datasets/demo/features/1/files/f.txt"] == (
        hashlib.sha256(b"HELLO\n").hexdigest()
    )
    assert objects[f"{ray_project.prefix}/datasets/demo/features/1/files/seen.txt"] == (
        hashlib.sha256(b"raw/x.txt\n").hexdigest()
    )

    assert ray_project.run("ame", "task", "run", "train").returncode == 0
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert seen_by_train.read_text() == "features/f.txt\nfeatures/seen.txt\n"


def wait_for(condition: Callable[[], object], what: str, timeout_seconds: float = 300) -> None:
    """Wait for an event (a file, a status, a process gone); the bound only ends a hang."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def gated(ray_project: RayProject) -> tuple[Path, Path]:
    """A data set whose task says it started (writing its PID) and then waits for a gate."""
    started, gate = ray_project.root / "started", ray_project.root / "gate"
    command = (
        'echo $$ > "$STARTED.part" && mv "$STARTED.part" "$STARTED" && '
        'while [ ! -e "$GATE" ]; do sleep 0.2; done && mkdir -p out && echo done > out/d.txt'
    )
    one_dataset(ray_project, command, env={"STARTED": str(started), "GATE": str(gate)})
    return started, gate


def jobs_of(ray_project: RayProject) -> list[dict[str, Any]]:
    mine = str(ray_project.state)
    return [
        job
        for job in ray_project.cluster.jobs()
        if (job["metadata"] or {}).get("amed_run_dir", "").startswith(mine)
    ]


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_a_restarted_daemon_attaches_to_the_job_its_killed_predecessor_left(
    ray_project: RayProject,
) -> None:
    started, gate = gated(ray_project)
    daemon = ray_project.start()
    try:
        wait_for(started.exists, "the task to start on Ray")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        daemon = ray_project.start()
        wait_for(
            lambda: "run_attached" in (ray_project.root / "amed.log").read_text(),
            "the new daemon to attach",
        )
        gate.touch()
        wait_for(lambda: ray_project.datasets()["out"]["status"] == "ready", "out to be ready")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    assert [job["status"] for job in jobs_of(ray_project)] == ["SUCCEEDED"]
    kinds = [e["type"] for e in ray_project.events() if e.get("dataset") == "out"]
    assert kinds.count("run_started") == 1
    assert kinds.count("version_stored") == 1
    assert "run_failed" not in kinds


def test_sigterm_stops_the_job_the_daemon_started(ray_project: RayProject) -> None:
    started, _ = gated(ray_project)
    daemon = ray_project.start()
    try:
        wait_for(started.exists, "the task to start on Ray")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=300) == 0
    [job] = jobs_of(ray_project)
    assert job["status"] == "STOPPED"
    task_pid = int(started.read_text())
    wait_for(lambda: gone(task_pid), "the task's process to end")
    failed = [e for e in ray_project.events() if e["type"] == "run_failed"]
    assert [e["reason"] for e in failed] == ["cancelled"]


def test_a_daemon_told_to_detach_leaves_its_job_running_for_the_next_one(
    ray_project: RayProject,
) -> None:
    started, gate = gated(ray_project)
    daemon = ray_project.start(AME_DETACH_ON_STOP="true")
    try:
        wait_for(started.exists, "the task to start on Ray")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=300) == 0
    assert [job["status"] for job in jobs_of(ray_project)] == ["RUNNING"]
    assert "run_failed" not in [e["type"] for e in ray_project.events()]
    daemon = ray_project.start()
    try:
        wait_for(
            lambda: "run_attached" in (ray_project.root / "amed.log").read_text(),
            "the next daemon to attach",
        )
        gate.touch()
        wait_for(lambda: ray_project.datasets()["out"]["status"] == "ready", "out to be ready")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    assert [job["status"] for job in jobs_of(ray_project)] == ["SUCCEEDED"]
    kinds = [e["type"] for e in ray_project.events() if e.get("dataset") == "out"]
    assert (kinds.count("run_started"), kinds.count("version_stored")) == (1, 1)


def test_a_restarted_daemon_attaches_to_a_consumers_job_too(ray_project: RayProject) -> None:
    started, gate, seen = (ray_project.root / n for n in ("started", "gate", "seen"))
    command = (
        'echo $$ > "$STARTED.part" && mv "$STARTED.part" "$STARTED" && '
        'while [ ! -e "$GATE" ]; do sleep 0.2; done && cat data/d.txt > "$SEEN"'
    )
    ray_project.write(
        "ame.yaml",
        f"""
        projectname: demo
        tasks:
          - name: train
            executor: !custom
              command: {json.dumps(command)}
            env:
              - {{key: STARTED, val: {json.dumps(str(started))}}}
              - {{key: GATE, val: {json.dumps(str(gate))}}}
              - {{key: SEEN, val: {json.dumps(str(seen))}}}
            dataSets: [data]
        dataSets:
          - name: data
            path: data
            task:
              executor: !custom
                command: "mkdir -p data && echo d > data/d.txt"
        """,
    )
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ray_project.run("ame", "task", "run", "train").returncode == 0
    daemon = ray_project.start()
    try:
        wait_for(started.exists, "the consumer to start on Ray")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        daemon = ray_project.start()
        wait_for(
            lambda: "run_attached" in (ray_project.root / "amed.log").read_text(),
            "the new daemon to attach",
        )
        gate.touch()
        wait_for(
            lambda: any(e["type"] == "task_finished" for e in ray_project.events()),
            "the consumer to finish",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    [run_id] = [e["run_id"] for e in ray_project.events() if e["type"] == "task_started"]
    [finished] = [e for e in ray_project.events() if e["type"] == "task_finished"]
    assert (finished["ok"], finished["run_id"]) == (True, run_id)
    assert seen.read_text() == "d\n"
    assert [j["status"] for j in jobs_of(ray_project) if j["submission_id"] == run_id] == [
        "SUCCEEDED"
    ]


def _wheel(directory: Path) -> Path:
    """A wheel of a one-module package, `amedprobe`, that pip installs without a network."""
    import base64
    import zipfile

    files = {
        "amedprobe.py": b"VALUE = 'from the wheel'\n",
        "amedprobe-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: amedprobe\nVersion: 1.0\n"
        ),
        "amedprobe-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("amedprobe-1.0.dist-info/RECORD,,")
    path = directory / "amedprobe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("amedprobe-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def test_a_pip_task_gets_its_requirements_from_ray(ray_project: RayProject) -> None:
    wheel = _wheel(ray_project.root)
    ray_project.write("requirements.txt", f"{wheel}\n")
    command = 'mkdir -p out && python -c "import amedprobe; print(amedprobe.VALUE)" > out/v.txt'
    one_dataset(ray_project, command, executor="pip")
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, (done.stderr[-3000:], ray_project.datasets())
    objects = ray_project.cluster.objects(f"{ray_project.prefix}/datasets/demo/out/1/files/")
    assert list(objects.values()) == [hashlib.sha256(b"from the wheel\n").hexdigest()]


_LEAVE_DEBRIS = """
import json, os
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for key, body in KEYS:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
print(json.dumps(True))
"""


def test_what_a_dead_attempt_left_under_the_version_never_reaches_the_stored_one(
    ray_project: RayProject,
) -> None:
    """Objects (a manifest too) left under version 1 by an attempt that died: the run on
    Ray stores version 1 whole, and nothing of the debris is left in it."""
    from tests.ray.cluster import BUCKET

    base = f"{ray_project.prefix}/datasets/demo/out/1"
    keys = [
        (f"{base}/manifest.json", '{"left": "by an attempt that died"}'),
        (f"{base}/files/stale.txt", "stale\n"),
    ]
    code = _LEAVE_DEBRIS.replace("KEYS", repr(keys)).replace("BUCKET", repr(BUCKET))
    ray_project.cluster.ns.python(code, env=ray_project.cluster.env)
    one_dataset(ray_project, PRODUCE)
    done = ray_project.run("amed", "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (ray_project.datasets()["out"]["status"], ray_project.datasets()["out"]["version"]) == (
        "ready",
        1,
    )
    objects = ray_project.cluster.objects(f"{base}/")
    files = sorted(k.rpartition("/1/files/")[2] for k in objects if "/files/" in k)
    assert files == ["a.txt", "sub/b.txt"]
