"""What tasks print, through `ame`: a data set's producing runs (`ame ds logs`), tasks of both
kinds in `ame task list` and `ame task logs`, and `ame task run --wait` naming its run
before it starts. Real `amed` and `ame` processes; every wait is for a line, a file or an
event, never for a span of time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import IO

from tests.conftest import Workspace, command_path
from tests.service.conftest import StartDaemon
from tests.service.daemon import wait_for

GATED = (
    'echo first-line; while [ ! -e "$RUNS_LOG.go" ]; do sleep 0.05; done; '
    "echo last-line; mkdir -p data && echo x > data/x"
)


def spec(produce: str, consume: str = "echo consumed-it") -> str:
    return "\n".join(
        [
            "projectname: demo",
            "tasks:",
            "  - name: fetch",
            "    executor: !custom",
            f"      command: {json.dumps(produce)}",
            "  - name: train",
            "    executor: !custom",
            f"      command: {json.dumps(consume)}",
            "    dataSets: [mnist]",
            "dataSets:",
            "  - name: mnist",
            "    path: data",
            "    task: {taskRef: fetch}",
            "",
        ]
    )


def tasks(ws: Workspace) -> dict[str, dict[str, object]]:
    listed = json.loads(ws.run("ame", "task", "list", "--json", check=True).stdout)
    return {t["name"]: t for t in listed}


def read_line(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.readline()


def test_ds_logs_shows_the_last_producing_run_or_the_one_asked_for(ws: Workspace) -> None:
    ws.write_spec(spec('echo "output of $AME_RUN_ID"; mkdir -p data && echo one > data/x'))
    assert ws.once().returncode == 0
    first = tasks(ws)["fetch"]["last_run_id"]
    assert isinstance(first, str) and first.startswith("mnist-v1-")
    shown = ws.run("ame", "ds", "logs", "mnist", check=True).stdout
    assert f"output of {first}" in shown
    ws.write_spec(spec('echo "second: $AME_RUN_ID"; mkdir -p data && echo two > data/x'))
    assert ws.once().returncode == 0
    second = tasks(ws)["fetch"]["last_run_id"]
    assert second != first
    assert "second: " in ws.run("ame", "ds", "logs", "mnist", check=True).stdout
    older = ws.run("ame", "ds", "logs", "mnist", "--run", str(first), check=True).stdout
    assert f"output of {first}" in older and "second" not in older
    unknown = ws.run("ame", "ds", "logs", "mnist", "--run", "nope")
    assert unknown.returncode == 1 and len(unknown.stderr.splitlines()) == 1
    assert unknown.stderr.startswith("error: data set mnist has no run 'nope' (its last runs: ")
    assert ws.run("ame", "ds", "logs", "absent").returncode == 2


def test_task_list_and_logs_include_the_producing_runs(ws: Workspace) -> None:
    ws.write_spec(spec('echo "fetching for $AME_DATASET"; mkdir -p data && echo x > data/x'))
    assert ws.once().returncode == 0
    fetch = tasks(ws)["fetch"]
    assert fetch["produces"] == ["mnist"] and fetch["data_sets"] == []
    assert (fetch["status"], fetch["runs"], fetch["failures"]) == ("succeeded", 1, 0)
    assert str(fetch["last_run_id"]).startswith("mnist-v1-") and fetch["error"] is None
    logs = ws.run("ame", "task", "logs", "fetch", check=True).stdout
    assert "fetching for mnist" in logs
    table = ws.run("ame", "task", "list", check=True).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "STATUS", "USES", "PRODUCES"]
    assert table[1].split()[:4] == ["fetch", "succeeded", "-", "mnist"]


def test_a_failed_producing_run_is_the_tasks_failure(ws: Workspace) -> None:
    ws.write_spec(spec("echo broken >&2; exit 3"))
    assert ws.once().returncode == 1
    fetch = tasks(ws)["fetch"]
    assert (fetch["status"], fetch["runs"], fetch["failures"]) == ("failed", 1, 1)
    assert fetch["error"] == "exited with code 3"
    assert "broken" in ws.run("ame", "task", "logs", "fetch", check=True).stdout


def test_ds_logs_follow_prints_as_the_task_prints_and_ends_with_the_run(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(spec(GATED))
    daemon = start_daemon("--interval", "0.2")
    wait_for(lambda: tasks_started(ws))
    follower = subprocess.Popen(
        [command_path("ame"), "ds", "logs", "mnist", "--follow"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while (line := read_line(follower.stdout)) != "first-line\n":
            assert line, "the follower ended before the task's first line"
        assert follower.poll() is None, "the run has not ended: it keeps following"
        Path(f"{ws.root}/runs.log.go").touch()
        out, err = follower.communicate(timeout=60)
    finally:
        Path(f"{ws.root}/runs.log.go").touch()
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, err
    assert out == "last-line\n"
    assert err.endswith(": succeeded\n")
    daemon.check_alive()


def tasks_started(ws: Workspace) -> bool:
    runs = ws.state / "runs"
    return runs.exists() and any((run / "output.log").exists() for run in runs.iterdir())


def test_task_run_prints_its_run_id_and_wait_exits_with_the_runs_outcome(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    consume = 'echo "consumed in $AME_RUN_ID"; if [ -e "$RUNS_LOG.fail" ]; then exit 5; fi'
    ws.write_spec(spec("mkdir -p data && echo x > data/x", consume=consume))
    assert ws.once().returncode == 0
    start_daemon("--interval", "0.2")
    wait_for(lambda: ws.run("ame", "status").returncode == 0)
    ok = ws.run("ame", "task", "run", "train", "--wait")
    assert ok.returncode == 0, ok.stderr
    run_id = ok.stdout.strip()
    assert run_id.startswith("train-") and ok.stderr.endswith(f"{run_id}: succeeded\n")
    log = ws.state / "runs" / run_id / "output.log"
    assert f"consumed in {run_id}" in log.read_text()
    shown = ws.run("ame", "task", "logs", "train", "--run", run_id, check=True).stdout
    assert f"consumed in {run_id}" in shown
    assert tasks(ws)["train"]["last_run_id"] == run_id

    Path(f"{ws.root}/runs.log.fail").touch()
    failed = ws.run("ame", "task", "run", "train", "--wait")
    assert failed.returncode == 1
    assert failed.stderr.endswith(f"{failed.stdout.strip()}: failed: exited with code 5\n")
