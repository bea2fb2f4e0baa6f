"""The check of the tables against the whole log at start: skipped only after a clean stop
with nothing changed since, run after a kill or any change made while amed was stopped."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from state.db import StateStore
from state.events import DatasetRequested
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import HELLO_SPEC, Daemon, heartbeat, once_log, wait_for


def wait_for_first_pass(ws: Workspace, daemon: Daemon) -> None:
    daemon.wait_for_log("started")

    def passed() -> bool:
        daemon.check_alive()
        row = heartbeat(ws)
        return row is not None and row.pid == daemon.pid and row.pass_ok is True

    wait_for(passed)


def checks(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logged if entry["event"] == "state_checked"]


def clean_stop(ws: Workspace) -> str:
    """The record of the last clean stop, as stored."""
    with sqlite3.connect(ws.state / "state.db") as conn:
        (stamp,) = conn.execute("SELECT value FROM meta WHERE key = 'clean_stop'").fetchone()
    return str(stamp)


def set_clean_stop(ws: Workspace, text: str) -> None:
    with sqlite3.connect(ws.state / "state.db") as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'clean_stop'", (text,))


def test_a_start_after_a_clean_stop_skips_the_check(ws: Workspace) -> None:
    ws.write_spec(HELLO_SPEC)
    first = checks(once_log(ws))
    assert [entry["reason"] for entry in first] == ["no clean stop recorded"]
    assert checks(once_log(ws)) == []
    assert checks(once_log(ws)) == []
    assert ws.dataset("data")["status"] == "ready"


def test_a_start_after_a_kill_checks(ws: Workspace, start_daemon: StartDaemon) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    daemon = start_daemon("--interval", "60")
    wait_for_first_pass(ws, daemon)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    assert [entry["reason"] for entry in checks(once_log(ws))] == ["no clean stop recorded"]


def test_a_daemon_stopped_by_sigterm_leaves_a_clean_stop(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    daemon = start_daemon("--interval", "60")
    wait_for_first_pass(ws, daemon)
    assert daemon.stop(signal.SIGTERM) == 0
    assert checks(once_log(ws)) == []


def test_events_appended_while_stopped_make_the_next_start_check(ws: Workspace) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    with StateStore.in_dir(ws.state) as state:
        state.append(
            [
                DatasetRequested(
                    at=datetime.now(UTC), project="demo", dataset="data", reason="pulled"
                )
            ]
        )
    assert [entry["reason"] for entry in checks(once_log(ws))] == [
        "events were appended since the last clean stop"
    ]


def test_tables_edited_while_stopped_are_checked_and_rebuilt(ws: Workspace) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    with sqlite3.connect(ws.state / "state.db") as conn:
        conn.execute("UPDATE datasets SET error = 'edited by hand'")
    logged = once_log(ws)
    assert [entry["reason"] for entry in checks(logged)] == [
        "the tables changed since the last clean stop"
    ]
    assert [e["mismatches"] for e in logged if e["event"] == "projection_rebuilt"] == [1]
    assert ws.dataset("data")["error"] is None


def _without_digest_format(stamp: str) -> str:
    return json.dumps({k: v for k, v in json.loads(stamp).items() if k != "digest_format"})


def _other_folds(stamp: str) -> str:
    return json.dumps({**json.loads(stamp), "fold_version": 0})


@pytest.mark.parametrize(
    ("rewrite", "reason"),
    [
        # After an upgrade that reads events differently, the tables are replayed.
        (_other_folds, "the events are read differently since the last clean stop"),
        # An amed that hashed the tables otherwise (no format, as before formats were
        # recorded): its digest is not compared with this one's.
        (
            _without_digest_format,
            "the tables' digest is made differently since the last clean stop",
        ),
        # Not a traceback at every start: a record that does not read is no clean stop.
        (lambda _: "{not json", "the record of the last clean stop is unreadable"),
        (lambda _: "[]", "the record of the last clean stop is unreadable"),
    ],
)
def test_a_clean_stop_this_amed_cannot_compare_with_makes_the_next_start_check(
    ws: Workspace, rewrite: Callable[[str], str], reason: str
) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    set_clean_stop(ws, rewrite(clean_stop(ws)))
    assert [entry["reason"] for entry in checks(once_log(ws))] == [reason]
    assert checks(once_log(ws)) == []
