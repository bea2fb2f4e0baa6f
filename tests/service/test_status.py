"""`ame status`: alive and healthy from the daemon's heartbeat row; exit 0 only then."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amed.cli.status_cmd import status_report
from state.heartbeat import DaemonRow
from state.rows import STATUSES
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import heartbeat, statuses, wait_for

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: {command}
"""
WRITES_13_BYTES = "mkdir -p data && printf 'images' > data/a && printf 'labels!' > data/b"


def status(ws: Workspace) -> tuple[int, dict[str, Any]]:
    proc = ws.run("ame", "status", "--json")
    return proc.returncode, json.loads(proc.stdout)


def test_status_without_any_daemon_is_unhealthy(ws: Workspace) -> None:
    code, report = status(ws)
    assert code == 1
    assert report["alive"] is False and report["daemon"] is None
    assert report["problems"] == [f"no amed has run with the state directory {ws.state}"]


def test_status_of_a_converged_running_daemon_is_healthy_with_counts_storage_and_spec(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC.format(command=WRITES_13_BYTES))
    daemon = start_daemon("--interval", "0.2")
    wait_for(lambda: (row := heartbeat(ws)) is not None and row.used_bytes == 13)
    code, report = status(ws)
    assert code == 0, report
    assert report["alive"] and report["healthy"] and report["problems"] == []
    assert report["daemon"]["pid"] == daemon.pid and report["daemon"]["state"] == "running"
    assert report["last_pass"]["outcome"] == "ok" and report["last_pass"]["error"] is None
    assert report["storage"]["url"] == ws.storage_url
    assert report["storage"]["used_bytes"] == 13
    assert report["storage"]["free_bytes"] > 0
    assert report["spec"] == {
        "path": str(ws.project / "ame.yaml"),
        "valid": True,
        "error": None,
    }
    text = ws.run("ame", "status")
    assert text.returncode == 0
    assert "daemon:     alive (pid" in text.stdout and "health:     healthy" in text.stdout
    assert "data sets:  1 ready" in text.stdout and "13 B used" in text.stdout

    daemon.stop(signal.SIGTERM)
    code, report = status(ws)
    assert code == 1 and not report["alive"] and report["daemon"]["state"] == "stopped"
    assert report["problems"][0].startswith("amed is not running (it stopped at ")


def test_status_is_unhealthy_with_a_failed_data_set_or_an_invalid_spec(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC.format(command="exit 3"))
    start_daemon("--interval", "0.2")
    wait_for(lambda: statuses(ws) == {"d": ("failed", None)})
    code, report = status(ws)
    assert code == 1 and report["alive"]
    assert report["problems"] == ["1 data set failed"]
    (ws.project / "ame.yaml").write_text("projectname: demo\ndataSets: 3\n")
    wait_for(lambda: (row := heartbeat(ws)) is not None and row.spec_valid is False)
    code, report = status(ws)
    assert code == 1
    error = report["spec"]["error"]
    assert error.startswith(f"{ws.project / 'ame.yaml'}:2:11: ") and "\n" not in error
    assert f"ame.yaml is invalid: {error}" in report["problems"]
    text = ws.run("ame", "status").stdout
    assert f"INVALID: {error}" in text


def test_once_leaves_a_row_that_says_stopped_with_its_outcome(ws: Workspace) -> None:
    ws.write_spec(SPEC.format(command=WRITES_13_BYTES))
    assert ws.once().returncode == 0
    code, report = status(ws)
    assert code == 1 and report["daemon"]["state"] == "stopped"
    assert report["last_pass"]["outcome"] == "ok"
    assert report["counts"] == dict.fromkeys(STATUSES, 0) | {"ready": 1}


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ROW = DaemonRow(
    pid=42,
    host="box",
    state="running",
    started_at=NOW - timedelta(hours=1),
    beat_at=NOW - timedelta(seconds=5),
    stale_after_seconds=60.0,
    store_url="file:///srv/objects",
    spec_path="/srv/project/ame.yaml",
    pass_at=NOW - timedelta(seconds=5),
    pass_seconds=0.1,
    pass_ok=True,
    spec_valid=True,
)


def test_a_heartbeat_older_than_its_promise_means_not_alive() -> None:
    fresh = status_report(ROW, {"ready": 2}, now=NOW, state_dir=Path("/s"))
    assert fresh["alive"] and fresh["healthy"]
    stale_row = replace(ROW, beat_at=NOW - timedelta(seconds=61))
    stale = status_report(stale_row, {"ready": 2}, now=NOW, state_dir=Path("/s"))
    assert not stale["alive"] and not stale["healthy"]
    assert stale["problems"] == ["no heartbeat for 61 s (pid 42 on box)"]


def test_a_failed_pass_makes_a_live_daemon_unhealthy() -> None:
    row = replace(ROW, pass_ok=False, pass_error="database is locked")
    report = status_report(row, {}, now=NOW, state_dir=Path("/s"))
    assert report["alive"] and not report["healthy"]
    assert report["problems"] == ["the last pass failed: database is locked"]
    assert report["last_pass"]["outcome"] == "failed"
