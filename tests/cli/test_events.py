"""`ame events --since`, `-n`, `--type`: filters of the real command over a real log."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amed.cli.events_cmd import event_types, parse_since
from state.db import StateStore
from state.events import DatasetDeclared, RunFailed, RunStarted
from tests.conftest import command_path

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def seed(state_dir: Path) -> None:
    """Per data set d0..d3, an hour apart: declared, started, failed (12 events)."""
    events = []
    for i in range(4):
        common = {"at": NOW + timedelta(hours=i), "project": "demo", "dataset": f"d{i}"}
        events += [
            DatasetDeclared(**common, spec_hash="h", path=f"p{i}", task="t"),
            RunStarted(**common, run_id=f"r{i}", version=1, spec_hash="h", task="t", attempt=1),
            RunFailed(**common, run_id=f"r{i}", stage="task", reason=f"exit {i}"),
        ]
    with StateStore.in_dir(state_dir) as store:
        store.append(events)


def ame_events(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    return subprocess.run(
        [command_path("ame"), "events", "--state-dir", str(state), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def json_lines(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_type_filters_and_repeats(tmp_path: Path) -> None:
    seed(tmp_path)
    failed = json_lines(ame_events(tmp_path, "--json", "--type", "run_failed"))
    assert [(e["type"], e["reason"]) for e in failed] == [
        ("run_failed", f"exit {i}") for i in range(4)
    ]
    both = json_lines(
        ame_events(tmp_path, "--json", "--type", "run_failed", "--type", "dataset_declared")
    )
    assert [e["id"] for e in both] == [1, 3, 4, 6, 7, 9, 10, 12]


def test_an_unknown_type_is_bad_usage_naming_the_known_ones(tmp_path: Path) -> None:
    seed(tmp_path)
    proc = ame_events(tmp_path, "--type", "run_exploded")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'run_exploded' is not an event type" in proc.stderr and "run_failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_n_shows_the_last_that_match_oldest_first(tmp_path: Path) -> None:
    seed(tmp_path)
    assert [e["id"] for e in json_lines(ame_events(tmp_path, "--json", "-n", "2"))] == [11, 12]
    last_failures = json_lines(ame_events(tmp_path, "--json", "-n", "2", "--type", "run_failed"))
    assert [e["dataset"] for e in last_failures] == ["d2", "d3"]
    assert json_lines(ame_events(tmp_path, "--json", "-n", "0")) == []
    assert [e["id"] for e in json_lines(ame_events(tmp_path, "--json", "-n", "50"))] == list(
        range(1, 13)
    )


def test_since_a_time_and_since_a_duration(tmp_path: Path) -> None:
    seed(tmp_path)
    since = json_lines(ame_events(tmp_path, "--json", "--since", "2026-05-01T14:00"))
    assert {e["dataset"] for e in since} == {"d2", "d3"}
    offset = json_lines(ame_events(tmp_path, "--json", "--since", "2026-05-01T16:00+02:00"))
    assert {e["dataset"] for e in offset} == {"d2", "d3"}
    # The seeded events are months before now, in the test's past or future alike: a
    # duration measured back from now either takes them all or none of them.
    recent = json_lines(ame_events(tmp_path, "--json", "--since", "1h"))
    ago = datetime.now(UTC) - NOW
    assert len(recent) == (12 if ago < timedelta(hours=1) else 0)
    everything = json_lines(ame_events(tmp_path, "--json", "--since", "100000w"))
    assert len(everything) == 12


def test_a_bad_since_is_one_line_and_exit_2(tmp_path: Path) -> None:
    seed(tmp_path)
    proc = ame_events(tmp_path, "--since", "yesterday")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "'yesterday' is neither a duration" in proc.stderr
    assert "Traceback" not in proc.stderr
    for too_far in ("99999999999w", "0001-01-01T00:00+05:00"):
        proc = ame_events(tmp_path, "--since", too_far)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, too_far
        assert "reaches past the dates amed can read" in proc.stderr


def test_filters_combine_in_the_people_s_lines(tmp_path: Path) -> None:
    seed(tmp_path)
    proc = ame_events(tmp_path, "--dataset", "d1", "--type", "run_failed")
    assert proc.returncode == 0
    (line,) = proc.stdout.splitlines()
    assert line.startswith("2026-05-01T13:00:00.000Z run_failed") and "d1" in line


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_durations_count_back_from_now(text: str, back: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - back


def test_event_types_are_the_models() -> None:
    types = event_types()
    assert "run_failed" in types and "alert_raised" in types and len(types) == len(set(types))


def test_follow_shows_the_last_n_then_only_new_events_that_match(tmp_path: Path) -> None:
    seed(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    argv = [command_path("ame"), "events", "--state-dir", str(tmp_path), "--json", "-f"]
    proc = subprocess.Popen(
        [*argv, "-n", "1", "--type", "run_failed"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["dataset"] == "d3"
        later = {"at": NOW + timedelta(hours=5), "project": "demo", "dataset": "d9"}
        with StateStore.in_dir(tmp_path) as store:
            store.append([DatasetDeclared(**later, spec_hash="h", path="p9", task="t")])
            store.append([RunFailed(**later, run_id="r9", stage="task", reason="exit 9")])
        shown = json.loads(proc.stdout.readline())
        assert (shown["type"], shown["dataset"]) == ("run_failed", "d9")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_data_set_s_runs_are_found_by_type_in_the_index(tmp_path: Path) -> None:
    """`ame task list` reads every data set's producing runs: three types of its events,
    looked up in the index, not each row of its history fetched to test its type."""
    import sqlite3

    from state.history import _PRODUCING_RUNS_SQL

    seed(tmp_path)
    conn = sqlite3.connect(tmp_path / "state.db")
    plan = " ".join(
        row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + _PRODUCING_RUNS_SQL, ("demo", "d1"))
    )
    conn.close()
    assert "events_by_dataset_type (project=? AND dataset=? AND type=?)" in plan


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["events", "--since", "soon"], "error: ame events: Invalid value for '--since': 'soon'"),
        # click spells this one differently across the versions we allow: the start only
        (["ds", "list", "--bogus"], "error: ame ds list: No such option"),
        (["ds", "nope"], "error: ame ds: No such command 'nope'"),
    ],
)
def test_bad_usage_is_one_line_naming_the_command_and_its_help(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    seed(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    proc = subprocess.run(
        [command_path("ame"), *args],
        env=env | {"AME_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(expected) and line.endswith("--help`)")
    assert args[-1] in line
