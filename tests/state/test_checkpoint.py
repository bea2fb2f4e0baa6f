"""Checkpoints of the tables: a check after an unclean stop folds only the events after the
last one; `ame state check` replays the whole log."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from amed.cli.state_cmd import state as state_command
from state import checkpoint
from state.db import StateStore
from state.events import Event, RunSucceeded
from state.tables import digest, load_tables
from tests.state.test_state_store import at, declared, produced

BATCH = 2_000


def noise(count: int, first: int = 0) -> list[Event]:
    """Events that are appended and folded but change no row: a finished run that is not
    the data set's current one."""
    return [
        RunSucceeded(at=at(100), project="p", dataset="mnist", run_id=f"old{i}", seconds=1.0)
        for i in range(first, first + count)
    ]


def fill(state: StateStore, count: int) -> None:
    for first in range(0, count, BATCH):
        state.append(noise(min(BATCH, count - first), first))


def stamp(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        value = conn.execute("SELECT value FROM meta WHERE key = 'checkpoint'").fetchone()
    return dict(json.loads(value[0])) if value else {}


def test_a_checkpoint_is_taken_once_enough_events_follow_the_last_one(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as state:
        state.append([declared(), *produced("mnist", 1, "h1", 1)])
        fill(state, checkpoint.MIN_EVENTS_BETWEEN - BATCH)
        assert stamp(tmp_path / "state.db") == {}, "not yet: too few events"
        fill(state, BATCH)
        last_id = max(i for i, _ in state.events(checkpoint.MIN_EVENTS_BETWEEN))
        assert stamp(tmp_path / "state.db")["event_id"] == last_id
        assert state.check() == [] and state.check(full=True) == []


def _checkpointed(tmp_path: Path) -> StateStore:
    state = StateStore.in_dir(tmp_path)
    state.append([declared(), *produced("mnist", 1, "h1", 1)])
    fill(state, checkpoint.MIN_EVENTS_BETWEEN)
    assert stamp(tmp_path / "state.db")
    state.append(produced("mnist", 2, "h1", 200))  # after the checkpoint
    return state


def _edit(tmp_path: Path, sql: str) -> None:
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute(sql)


def test_the_check_folds_the_events_after_the_checkpoint_onto_it(tmp_path: Path) -> None:
    with _checkpointed(tmp_path) as state:
        assert state.check() == []
        # An event before the checkpoint, edited by hand, is past what this check reads;
        # one after it is not, and neither is an edited row of the tables.
        _edit(tmp_path, "UPDATE events SET data = replace(data, '\"h1\"', '\"hX\"') WHERE id = 1")
        assert state.check() == []
        assert {m.table for m in state.check(full=True)} == {"datasets"}
        _edit(tmp_path, "UPDATE datasets SET status = 'failed'")
        assert [(m.table, m.key) for m in state.check()] == [("datasets", ("p", "mnist"))]


def test_a_checkpoint_of_another_fold_version_is_not_used(tmp_path: Path) -> None:
    with _checkpointed(tmp_path) as state:
        _edit(tmp_path, "UPDATE events SET data = replace(data, '\"h1\"', '\"hX\"') WHERE id = 1")
        assert state.check() == []
        old = json.dumps({**stamp(tmp_path / "state.db"), "fold_version": -1})
        _edit(tmp_path, f"UPDATE meta SET value = '{old}' WHERE key = 'checkpoint'")
        assert {m.table for m in state.check()} == {"datasets"}, "the whole log is replayed"


def test_a_rebuild_leaves_a_checkpoint_of_what_it_wrote(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as state:
        state.append([declared(), *produced("mnist", 1, "h1", 1)])
        _edit(tmp_path, "UPDATE datasets SET status = 'failed'")
        state.rebuild()
        assert stamp(tmp_path / "state.db")["event_id"] == 4
        _edit(tmp_path, "UPDATE datasets SET status = 'failed'")
        assert [m.table for m in state.check()] == ["datasets"]


def test_state_check_replays_the_whole_log_and_rebuilds_on_request(tmp_path: Path) -> None:
    with _checkpointed(tmp_path) as state:
        events = sum(1 for _ in state.events())
    runner = CliRunner()
    args = ["check", "--state-dir", str(tmp_path)]
    ok = runner.invoke(state_command, args)
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"the tables match the log: {events:,} events replayed in ")

    _edit(tmp_path, "UPDATE events SET data = replace(data, '\"h1\"', '\"hX\"') WHERE id = 1")
    found = runner.invoke(state_command, args)
    assert found.exit_code == 1
    assert found.stderr.splitlines() == [
        "datasets p/mnist: the tables differ from the log",
        "error: 1 rows differ from a replay of the log; `ame state check --rebuild` (with "
        "amed stopped) computes them again",
    ]
    fixed = runner.invoke(state_command, [*args, "--rebuild"])
    assert fixed.exit_code == 0, fixed.output
    assert runner.invoke(state_command, args).exit_code == 0


def test_state_check_of_a_missing_state_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(state_command, ["check", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no state database in {tmp_path / 'none'}")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "none").exists(), "a check creates no state"


def test_a_clean_stop_after_tables_edited_meanwhile_records_their_new_digest(
    tmp_path: Path,
) -> None:
    with StateStore.in_dir(tmp_path) as state:
        state.append([declared(), *produced("mnist", 1, "h1", 1)])
        state.record_clean_stop()
    with StateStore.in_dir(tmp_path) as state:
        assert state.why_check() is None
        _edit(tmp_path, "UPDATE datasets SET error = 'edited by another connection'")
        state.record_clean_stop()  # not the digest found at start: the tables changed since
    with StateStore.in_dir(tmp_path) as state:
        assert state.why_check() is None
        state.record_clean_stop()
    _edit(tmp_path, "UPDATE datasets SET error = 'edited while stopped'")
    with StateStore.in_dir(tmp_path) as state:
        assert state.why_check() == "the tables changed since the last clean stop"


def test_the_tables_loaded_by_the_check_at_start_are_current_and_hash_as_the_digest(
    tmp_path: Path,
) -> None:
    with StateStore.in_dir(tmp_path) as state:
        state.append([declared(), *produced("mnist", 1, "h1", 1), *produced("mnist", 2, "h1", 2)])
        state.record_clean_stop()
    conn = sqlite3.connect(tmp_path / "state.db")
    hasher = hashlib.sha256()
    loaded = load_tables(conn, hasher=hasher)
    assert hasher.hexdigest() == digest(conn)
    assert [v.version for v in loaded.versions[("p", "mnist")]] == [1, 2]
    conn.close()
    with StateStore.in_dir(tmp_path) as state:
        assert state.why_check() is None
        mnist = state.dataset("p", "mnist")
        assert mnist is not None and mnist.version == 2 and mnist.error is None
        _edit(tmp_path, "UPDATE datasets SET error = 'edited by another connection'")
        edited = state.dataset("p", "mnist")
        assert edited is not None and edited.error == "edited by another connection"


def test_a_table_with_a_column_the_rows_do_not_know_loads_the_same(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as state:
        state.append([declared(), *produced("mnist", 1, "h1", 1)])
    conn = sqlite3.connect(tmp_path / "state.db")
    before = load_tables(conn)
    conn.execute("ALTER TABLE datasets ADD COLUMN added_later TEXT DEFAULT 'x'")
    conn.execute("ALTER TABLE versions ADD COLUMN added_later TEXT DEFAULT 'x'")
    after = load_tables(conn)
    conn.close()
    assert after.datasets == before.datasets and after.versions == before.versions
    assert after.datasets[("p", "mnist")].version == 1
