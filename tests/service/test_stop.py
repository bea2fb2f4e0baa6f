"""SIGTERM and SIGINT: nothing new starts, running tasks get the stop timeout to finish, then
their whole process groups are ended; runs end as failed ("cancelled"); exit 0."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import process_gone, wait_for

TWO_DATA_SETS = """
projectname: demo
dataSets:
  - name: first
    path: ./data
    task:
      executor: !custom
        command: {first}
  - name: second
    path: ./other
    task:
      executor: !custom
        command: mkdir -p other && echo second > other/x
"""
# The task and a child of its own write their pids outside the project, then wait.
STUBBORN = 'sleep 300 & echo $! > "$PIDS_DIR/child"; echo $$ > "$PIDS_DIR/task"; echo started; wait'
FINISHES_SOON = 'echo $$ > "$PIDS_DIR/task"; sleep 1.5; mkdir -p data && echo first > data/x'


def run_statuses(ws: Workspace) -> dict[str, str]:
    return {row["name"]: row["status"] for row in ws.datasets()}


def ws_events(ws: Workspace) -> list[dict[str, str]]:
    return [json.loads(line) for line in ws.run("ame", "events", "--json").stdout.splitlines()]


def pids(directory: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(directory.iterdir())]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_a_task_past_the_stop_timeout_with_its_process_group(
    ws: Workspace, start_daemon: StartDaemon, signum: signal.Signals
) -> None:
    pids_dir = ws.root / "pids"
    pids_dir.mkdir()
    ws.env.update(AME_STOP_TIMEOUT="1", AME_MAX_PARALLEL="1", PIDS_DIR=str(pids_dir))
    ws.write_spec(TWO_DATA_SETS.format(first=STUBBORN))
    daemon = start_daemon("--interval", "0.2")
    wait_for(lambda: len(list(pids_dir.iterdir())) == 2)
    assert all(not process_gone(pid) for pid in pids(pids_dir))
    assert daemon.stop(signum) == 0
    assert all(process_gone(pid) for pid in pids(pids_dir)), "the whole group was ended"
    row = ws.dataset("first")
    assert row["status"] == "failed" and row["error"].startswith("cancelled")
    assert ws.dataset("second")["status"] == "pending", "nothing new started"
    assert daemon.logged("cancelling_runs")[0]["runs"][0].startswith("first-v1-")
    assert daemon.events()[-1]["event"] == "stopped"
    failed = [e for e in ws_events(ws) if e["type"] == "run_failed"]
    assert [(e["dataset"], e["reason"]) for e in failed] == [("first", "cancelled")]


def test_a_task_that_finishes_within_the_stop_timeout_is_stored_and_nothing_new_starts(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    pids_dir = ws.root / "pids"
    pids_dir.mkdir()
    ws.env.update(AME_MAX_PARALLEL="1", PIDS_DIR=str(pids_dir))
    ws.write_spec(TWO_DATA_SETS.format(first=FINISHES_SOON))
    daemon = start_daemon("--interval", "0.2")
    wait_for(lambda: (pids_dir / "task").exists())
    assert daemon.stop() == 0
    assert run_statuses(ws) == {"first": "ready", "second": "pending"}
    assert not any(e["type"] == "run_started" and e["dataset"] == "second" for e in ws_events(ws))
    assert daemon.logged("waiting_for_runs") and not daemon.logged("cancelling_runs")


def test_a_second_stop_signal_ends_running_tasks_at_once(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    pids_dir = ws.root / "pids"
    pids_dir.mkdir()
    ws.env.update(AME_STOP_TIMEOUT="600", AME_MAX_PARALLEL="1", PIDS_DIR=str(pids_dir))
    ws.write_spec(TWO_DATA_SETS.format(first=STUBBORN))
    daemon = start_daemon("--interval", "0.2")
    wait_for(lambda: len(list(pids_dir.iterdir())) == 2)
    daemon.send(signal.SIGTERM)
    daemon.wait_for_log("waiting_for_runs")
    daemon.send(signal.SIGTERM)
    assert daemon.proc.wait(timeout=60) == 0
    assert all(process_gone(pid) for pid in pids(pids_dir))
    assert ws.dataset("first")["error"].startswith("cancelled")


def test_once_stops_on_sigterm_like_the_service_and_reports_not_converged(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    pids_dir = ws.root / "pids"
    pids_dir.mkdir()
    ws.env.update(AME_STOP_TIMEOUT="0.5", AME_MAX_PARALLEL="1", PIDS_DIR=str(pids_dir))
    ws.write_spec(TWO_DATA_SETS.format(first=STUBBORN))
    once = start_daemon("--once")
    wait_for(lambda: len(list(pids_dir.iterdir())) == 2)
    assert once.stop() == 1
    assert all(process_gone(pid) for pid in pids(pids_dir))
    assert run_statuses(ws) == {"first": "failed", "second": "pending"}
