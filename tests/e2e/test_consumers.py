"""Consumers and access end to end: tasks that need a data set get it produced once and
placed in their working copy; `ame ds pull` downloads verified data; requests reach the
daemon through the event log."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Workspace, command_path

PRODUCE = (
    "mkdir -p data/deep && head -c 300000 /dev/urandom > data/a.bin && echo hello > data/deep/b.txt"
    ' && echo produced >> "$RUNS_LOG"'
)
CONSUME = (
    'cd data && find . -type f | sort | xargs sha256sum > "$RUNS_LOG.$AME_TASK" && cd ..'
    ' && echo consumed >> "$RUNS_LOG"'
)


def spec(consumers: int, produce: str = PRODUCE, consume: str = CONSUME) -> str:
    lines = [
        "projectname: demo",
        "tasks:",
        "  - name: fetch",
        "    executor: !custom",
        f"      command: {produce}",
    ]
    for n in range(consumers):
        lines += [
            f"  - name: train{n}",
            "    executor: !custom",
            f"      command: {consume}",
            "    dataSets: [mnist]",
        ]
    lines += ["dataSets:", "  - name: mnist", "    path: data", "    task: {taskRef: fetch}"]
    return "\n".join(lines) + "\n"


def wait_until(condition: Callable[[], bool], what: str, timeout_seconds: float = 60) -> None:
    """Wait for an event, polling; the bound only turns a hang into a failure, so it is
    far above what a loaded machine needs."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_seconds:.0f} s"
        time.sleep(0.05)


def count(ws: Workspace, word: str) -> int:
    log = ws.root / "runs.log"
    return log.read_text().split().count(word) if log.exists() else 0


def stored_hashes(ws: Workspace, version: int = 1) -> str:
    files = ws.objects / f"datasets/demo/mnist/{version}/files"
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  ./{p.relative_to(files).as_posix()}"
        for p in sorted(files.rglob("*"), key=lambda p: p.relative_to(files).as_posix())
        if p.is_file()
    ]
    return "\n".join(lines) + "\n"


def test_ten_consumers_asked_together_get_one_producing_run_and_the_whole_data(
    ws: Workspace,
) -> None:
    ws.write_spec(spec(10))
    for n in range(10):
        proc = ws.run("ame", "task", "run", f"train{n}")
        assert proc.returncode == 0, proc.stderr
        assert "no amed daemon is running" in proc.stderr
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert count(ws, "produced") == 1
    assert count(ws, "consumed") == 10
    expected = stored_hashes(ws)
    for n in range(10):
        assert Path(f"{ws.root}/runs.log.train{n}").read_text() == expected
    tasks = json.loads(ws.run("ame", "task", "list", "--json", check=True).stdout)
    assert {t["name"]: t["status"] for t in tasks if t["name"] != "fetch"} == {
        f"train{n}": "succeeded" for n in range(10)
    }
    assert ws.dataset("mnist")["in_use_by"] == []


def test_a_consumer_whose_data_set_fails_does_not_run_and_says_why(ws: Workspace) -> None:
    ws.write_spec(spec(1, produce="echo broken >&2; exit 4"))
    assert ws.run("ame", "task", "run", "train0").returncode == 0
    assert ws.once().returncode == 1
    assert count(ws, "consumed") == 0
    (task,) = [
        t
        for t in json.loads(ws.run("ame", "task", "list", "--json", check=True).stdout)
        if t["name"] == "train0"
    ]
    assert task["status"] == "failed"
    assert task["error"] == "data set mnist failed: exited with code 4"


def test_task_logs_shows_the_output_of_the_last_run(ws: Workspace) -> None:
    ws.write_spec(spec(1, consume="echo the-model-trained"))
    ws.run("ame", "task", "run", "train0", check=True)
    assert ws.once().returncode == 0
    assert ws.run("ame", "task", "logs", "train0", check=True).stdout == "the-model-trained\n"
    assert ws.run("ame", "task", "run", "nope").returncode == 2


def test_pull_downloads_the_ready_version_verified_and_refuses_to_overwrite(
    ws: Workspace,
) -> None:
    ws.write_spec(spec(0))
    assert ws.once().returncode == 0
    dest = ws.root / "pulled"
    proc = ws.run("ame", "ds", "pull", "mnist", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert (dest / "deep/b.txt").read_text() == "hello\n"
    stored = ws.objects / "datasets/demo/mnist/1/files/a.bin"
    assert (dest / "a.bin").read_bytes() == stored.read_bytes()
    again = ws.run("ame", "ds", "pull", "mnist", str(dest))
    assert again.returncode == 2 and "not empty" in again.stderr
    (dest / "extra").write_text("x")
    forced = ws.run("ame", "ds", "pull", "mnist", str(dest), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (dest / "extra").exists()
    assert sorted(p.name for p in ws.root.iterdir() if p.name.startswith(".pulled")) == []
    events = ws.run("ame", "events", "--json", "--dataset", "mnist", check=True).stdout
    assert [json.loads(e)["type"] for e in events.splitlines()].count("dataset_pulled") == 2


def test_pull_of_a_tampered_version_fails_and_leaves_nothing(ws: Workspace) -> None:
    ws.write_spec(spec(0))
    assert ws.once().returncode == 0
    (ws.objects / "datasets/demo/mnist/1/files/deep/b.txt").write_text("HELLO\n")
    dest = ws.root / "pulled"
    proc = ws.run("ame", "ds", "pull", "mnist", str(dest))
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not dest.exists()
    assert [p for p in ws.root.iterdir() if p.name.startswith(".pulled")] == []


def evict_everything(ws: Workspace) -> None:
    """Evict through the daemon's own rule: a capacity far below what is stored."""
    ws.env.update(AME_CAPACITY="1", AME_EVICTION_HIGH_PERCENT="50", AME_EVICTION_LOW_PERCENT="10")
    assert ws.once().returncode == 0
    assert ws.dataset("mnist")["status"] == "evicted"
    for key in ("AME_CAPACITY", "AME_EVICTION_HIGH_PERCENT", "AME_EVICTION_LOW_PERCENT"):
        del ws.env[key]


def test_pulling_an_evicted_data_set_without_a_daemon_says_so(ws: Workspace) -> None:
    ws.write_spec(spec(0))
    assert ws.once().returncode == 0
    evict_everything(ws)
    proc = ws.run("ame", "ds", "pull", "mnist", str(ws.root / "pulled"))
    assert proc.returncode == 1
    assert "evicted and no amed daemon is running" in proc.stderr
    assert not (ws.root / "pulled").exists()


def test_pulling_an_evicted_data_set_asks_the_daemon_and_waits_for_it(ws: Workspace) -> None:
    ws.write_spec(spec(0))
    assert ws.once().returncode == 0
    evict_everything(ws)
    daemon = subprocess.Popen(
        [command_path("amed"), "--interval", "0.3"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and ws.run("ame", "status").returncode != 0:
            time.sleep(0.2)
        proc = ws.run("ame", "ds", "pull", "mnist", str(ws.root / "pulled"), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert (ws.root / "pulled/deep/b.txt").read_text() == "hello\n"
        assert ws.dataset("mnist")["version"] == 2
        assert count(ws, "produced") == 2
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)


def test_a_running_consumer_shows_its_data_set_in_use(ws: Workspace) -> None:
    """The task runs until the test has looked: it says it started, then waits for a file
    the test writes only after checking, so no timing decides what the test sees."""
    started, looked = Path(f"{ws.root}/runs.log.started"), Path(f"{ws.root}/runs.log.looked")
    waits = 'touch "$RUNS_LOG.started"; while [ ! -e "$RUNS_LOG.looked" ]; do sleep 0.05; done'
    ws.write_spec(spec(1, consume=waits))
    assert ws.once().returncode == 0
    daemon = subprocess.Popen(
        [command_path("amed"), "--interval", "0.3"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ws.run("ame", "task", "run", "train0", check=True)
        wait_until(started.exists, "the consumer started")
        assert ws.dataset("mnist")["in_use_by"] == ["train0"]
        # Even far over capacity, data in use is not chosen for eviction.
        squeezed = dict(
            AME_CAPACITY="1", AME_EVICTION_HIGH_PERCENT="50", AME_EVICTION_LOW_PERCENT="10"
        )
        ws.env.update(squeezed)
        plan = ws.run("amed", "run", "--once", "--dry-run")
        for key in squeezed:
            del ws.env[key]
        assert plan.returncode == 0, plan.stderr
        assert not [line for line in plan.stdout.splitlines() if line.startswith("evict")]
        looked.touch()
        wait_until(lambda: ws.dataset("mnist")["in_use_by"] == [], "the consumer finished")
    finally:
        looked.touch()  # a consumer still waiting must not hold the daemon's stop
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)


def test_ame_events_follow_prints_new_events_as_they_come(ws: Workspace) -> None:
    ws.write_spec(spec(0))
    assert ws.once().returncode == 0
    follower = subprocess.Popen(
        [command_path("ame"), "events", "--follow", "--json"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None

    def read_until(wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        # A hang is turned into a failure by the test's timeout.
        lines: list[dict[str, Any]] = []
        while not (lines and wanted(lines[-1])):
            line = follower.stdout.readline() if follower.stdout else ""
            assert line, "ame events --follow ended"
            lines.append(json.loads(line))
        return lines

    try:
        # The log so far comes first, oldest first: the follower has caught up after it.
        history = read_until(lambda e: e["type"] == "version_stored")
        assert [e["type"] for e in history[:2]] == ["dataset_declared", "task_declared"]
        # What is appended after the follower caught up is printed as it comes.
        ws.write_spec(spec(1))
        assert ws.once().returncode == 0
        later = read_until(lambda e: e["type"] == "task_declared")
        assert later[0]["id"] > history[-1]["id"]
        assert "train0" in json.dumps(later[-1])
    finally:
        follower.terminate()
        follower.communicate(timeout=10)
