from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.db import StateStore
from state.errors import StateError
from state.events import (
    AlertCleared,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertRaised,
    DatasetBlocked,
    DatasetDeclared,
    DatasetEvicted,
    DatasetRemoved,
    Event,
    InputFailed,
    RebuildRequested,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)
from state.read import StateReader

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def declared(name: str = "mnist", spec_hash: str = "h1", t: float = 0) -> DatasetDeclared:
    return DatasetDeclared(
        at=at(t),
        project="p",
        dataset=name,
        spec_hash=spec_hash,
        path="data",
        task="fetch",
        declared_size_bytes=100,
    )


def produced(name: str, version: int, spec_hash: str, t: float) -> list[Event]:
    run_id = f"r{version}"
    return [
        RunStarted(
            at=at(t),
            project="p",
            dataset=name,
            run_id=run_id,
            version=version,
            spec_hash=spec_hash,
            task="fetch",
            attempt=1,
        ),
        RunSucceeded(at=at(t + 1), project="p", dataset=name, run_id=run_id, seconds=1.0),
        VersionStored(
            at=at(t + 2),
            project="p",
            dataset=name,
            run_id=run_id,
            version=version,
            spec_hash=spec_hash,
            size_bytes=42,
            files=2,
            seconds=0.5,
        ),
    ]


def test_a_declared_then_produced_data_set_is_ready_with_its_version(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), *produced("mnist", 1, "h1", 10)])
        row = store.dataset("p", "mnist")
    assert row is not None
    assert (row.status, row.version, row.size_bytes, row.files) == ("ready", 1, 42, 2)
    assert row.updated_at == at(12)


def test_a_changed_spec_keeps_the_old_version_until_the_new_one_is_stored(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), *produced("mnist", 1, "h1", 10)])
        store.append([declared(spec_hash="h2", t=20)])
        row = store.dataset("p", "mnist")
        assert row is not None and (row.status, row.version) == ("pending", 1)
        store.append(produced("mnist", 2, "h2", 30))
        observed = store.observed()
    versions = observed.versions[("p", "mnist")]
    assert [(v.version, v.current) for v in versions] == [(1, False), (2, True)]
    assert observed.owned_versions() == {("p", "mnist", 1), ("p", "mnist", 2)}


def test_a_failed_run_counts_attempts_and_keeps_the_reason_with_the_output_tail(
    tmp_path: Path,
) -> None:
    failure = RunFailed(
        at=at(5),
        project="p",
        dataset="mnist",
        run_id="r1",
        stage="task",
        reason="exited with code 3",
        exit_code=3,
        output_tail="boom\n",
        retry_at=at(15),
    )
    start = RunStarted(
        at=at(1),
        project="p",
        dataset="mnist",
        run_id="r1",
        version=1,
        spec_hash="h1",
        task="fetch",
        attempt=1,
    )
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), start, failure])
        row = store.dataset("p", "mnist")
    assert row is not None
    assert row.status == "failed" and row.attempts == 1 and row.retry_at == at(15)
    assert row.error == "exited with code 3\nboom"
    assert row.last_version == 0, "a failed attempt takes no version number"


def test_version_numbers_are_never_reused_after_removal(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), *produced("mnist", 1, "h1", 10)])
        store.append(
            [
                VersionDeleted(
                    at=at(20), project="p", dataset="mnist", version=1, reason="removed", objects=3
                ),
                DatasetRemoved(at=at(20), project="p", dataset="mnist", reason="not declared"),
            ]
        )
        assert store.dataset("p", "mnist").status == "removed"  # type: ignore[union-attr]
        store.append([declared(t=30)])
        row = store.dataset("p", "mnist")
    assert row is not None and row.status == "pending" and row.last_version == 1


def test_an_append_that_fails_leaves_neither_log_nor_tables_changed(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared()])
        bad = declared(name="other")
        object.__setattr__(bad, "project", None)  # violates NOT NULL inside the transaction
        with pytest.raises(sqlite3.IntegrityError):
            store.append([declared(name="second"), bad])
        assert [e.dataset for _, e in store.events()] == ["mnist"]
        assert set(store.observed().datasets) == {("p", "mnist")}
    with StateStore.in_dir(tmp_path) as reopened:
        assert set(reopened.observed().datasets) == {("p", "mnist")}


def test_a_database_from_a_newer_amed_is_refused(tmp_path: Path) -> None:
    StateStore.in_dir(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StateError, match="newer than this amed"):
        StateStore.in_dir(tmp_path)


def test_the_database_file_and_state_dir_are_for_the_owner_and_its_group(tmp_path: Path) -> None:
    """Members of the service's group read the state (`ame ds list`); nobody else does."""
    state_dir = tmp_path / "state"
    StateStore.in_dir(state_dir).close()
    assert (state_dir.stat().st_mode & 0o777) == 0o750
    assert ((state_dir / "state.db").stat().st_mode & 0o777) == 0o640


def test_a_reader_sees_what_another_connection_committed_and_cannot_write(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared()])
        reader = StateReader.in_dir(tmp_path)
        assert [r.name for r in reader.datasets()] == ["mnist"]
        store.append(produced("mnist", 1, "h1", 10))
        assert reader.dataset("mnist").status == "ready"  # type: ignore[union-attr]
        assert [e.event.type for e in reader.events(dataset="mnist")][-1] == "version_stored"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("DELETE FROM events")  # type: ignore[union-attr]
        reader.close()


def test_a_reader_is_not_blocked_while_the_writer_holds_its_lock(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared()])
        writer = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE datasets SET status = 'failed'")
        seen: list[str] = []

        def read() -> None:
            reader = StateReader.in_dir(tmp_path)
            seen.extend(r.status for r in reader.datasets())
            reader.close()

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=3)
        writer.execute("ROLLBACK")
        writer.close()
    assert seen == ["pending"]


def test_a_missing_database_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    reader = StateReader.in_dir(tmp_path)
    assert reader.datasets() == [] and list(reader.events()) == []
    assert not (tmp_path / "state.db").exists()


def test_the_writer_notices_events_appended_by_another_connection(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as daemon, StateStore.in_dir(tmp_path) as cli:
        assert daemon.observed().datasets == {}
        cli.append([declared()])
        assert set(daemon.observed().datasets) == {("p", "mnist")}


def test_appends_by_two_writers_in_turn_leave_the_tables_a_rebuild_would_write(
    tmp_path: Path,
) -> None:
    with StateStore.in_dir(tmp_path) as daemon, StateStore.in_dir(tmp_path) as cli:
        daemon.append([declared()])
        start, succeeded, stored = produced("mnist", 1, "h1", 10)
        cli.append([start])
        daemon.append([succeeded])
        cli.append([stored])
        daemon.append([declared(spec_hash="h2", t=20)])
        assert cli.dataset("p", "mnist") == daemon.dataset("p", "mnist")
        row = daemon.dataset("p", "mnist")
        assert row is not None and (row.status, row.version, row.spec_hash) == ("pending", 1, "h2")
        written = table_contents(tmp_path)
        assert daemon.check() == [] and cli.check() == []
        daemon.rebuild()
    assert table_contents(tmp_path) == written


# -- the projection is a fold: rebuilding from the log gives exactly the live tables -------

NAMES = ("a", "b", "c")


@st.composite
def event_sequences(draw: st.DrawFn) -> list[list[Event]]:
    batches: list[list[Event]] = []
    t = 0.0
    version = {n: 0 for n in NAMES}
    for _ in range(draw(st.integers(1, 12))):
        batch: list[Event] = []
        for _ in range(draw(st.integers(1, 4))):
            t += 1
            name = draw(st.sampled_from(NAMES))
            spec_hash = draw(st.sampled_from(("h1", "h2")))
            kind = draw(
                st.sampled_from(
                    (
                        "declare",
                        "start",
                        "succeed",
                        "fail",
                        "store",
                        "delete",
                        "evict",
                        "block",
                        "alert",
                        "remove",
                        "rebuild",
                        "input_failed",
                    )
                )
            )
            others = [n for n in NAMES if n != name]
            run_id = f"r{version[name]}"
            if kind == "declare":
                batch.append(declared(name, spec_hash, t))
            elif kind == "start":
                version[name] += 1
                batch.append(
                    RunStarted(
                        at=at(t),
                        project="p",
                        dataset=name,
                        run_id=f"r{version[name]}",
                        version=version[name],
                        spec_hash=spec_hash,
                        task=draw(st.sampled_from(("t", "u"))),
                        attempt=1,
                        inputs={n: 1 for n in draw(st.lists(st.sampled_from(others)))},
                    )
                )
            elif kind == "succeed":
                batch.append(
                    RunSucceeded(at=at(t), project="p", dataset=name, run_id=run_id, seconds=1)
                )
            elif kind == "fail":
                batch.append(
                    RunFailed(
                        at=at(t),
                        project="p",
                        dataset=name,
                        run_id=run_id,
                        stage="task",
                        reason="x",
                        retry_at=at(t + 5),
                    )
                )
            elif kind == "store":
                batch.append(
                    VersionStored(
                        at=at(t),
                        project="p",
                        dataset=name,
                        run_id=run_id,
                        version=max(version[name], 1),
                        spec_hash=spec_hash,
                        size_bytes=draw(st.integers(0, 10**12)),
                        files=1,
                        seconds=1,
                        content_digest=draw(st.sampled_from((None, "c1", "c2"))),
                        code_digest=draw(st.sampled_from((None, "k1"))),
                        inputs={n: "c1" for n in draw(st.lists(st.sampled_from(others)))},
                    )
                )
            elif kind == "delete":
                batch.append(
                    VersionDeleted(
                        at=at(t),
                        project="p",
                        dataset=name,
                        version=draw(st.integers(1, 3)),
                        reason="x",
                        objects=1,
                    )
                )
            elif kind == "evict":
                batch.append(
                    DatasetEvicted(
                        at=at(t),
                        project="p",
                        dataset=name,
                        version=max(version[name], 1),
                        reason="lru",
                        bytes_freed=draw(st.integers(0, 10**9)),
                    )
                )
            elif kind == "block":
                batch.append(
                    DatasetBlocked(
                        at=at(t),
                        project="p",
                        dataset=name,
                        reason="no room",
                        needed_bytes=10,
                        free_bytes=1,
                        reclaimable_bytes=0,
                        capacity_bytes=5,
                    )
                )
            elif kind == "alert":
                key = draw(st.sampled_from(("low_space", f"blocked:{name}")))
                channel = draw(st.sampled_from(("json://a", "mailto://b")))
                notice = draw(st.sampled_from(("alert", "resolved")))
                alert_events: list[Event] = [
                    AlertRaised(
                        at=at(t), project="p", key=key, severity="warning", title="t", body="b"
                    ),
                    AlertCleared(at=at(t), project="p", key=key),
                    AlertDelivered(
                        at=at(t), project="p", key=key, notice=notice, channels=(channel,)
                    ),
                    AlertDeliveryFailed(
                        at=at(t),
                        project="p",
                        key=key,
                        notice=notice,
                        channel=channel,
                        error="refused",
                    ),
                ]
                batch.append(draw(st.sampled_from(alert_events)))
            elif kind == "rebuild":
                batch.append(RebuildRequested(at=at(t), project="p", dataset=name))
            elif kind == "input_failed":
                batch.append(
                    InputFailed(
                        at=at(t), project="p", dataset=name, input=others[0], reason="failed"
                    )
                )
            else:
                batch.append(DatasetRemoved(at=at(t), project="p", dataset=name, reason="x"))
        batches.append(batch)
    return batches


def table_contents(state_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every projection table's rows as SQLite holds them, column by column."""
    conn = sqlite3.connect(state_dir / "state.db")
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in ("datasets", "versions", "alerts", "alert_channels", "tasks")
        }
    finally:
        conn.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=event_sequences())
def test_rebuilding_from_the_log_gives_exactly_the_live_tables(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[Event]]
) -> None:
    state_dir = tmp_path_factory.mktemp("state")
    with StateStore.in_dir(state_dir) as store:
        for batch in batches:
            store.append(batch)
        live = store.observed()
        written = table_contents(state_dir)
        assert store.check() == []
        store.rebuild()
        assert store.observed() == live
        # The rebuild writes every row whole; the appends wrote only what changed.
        assert table_contents(state_dir) == written
    with StateStore.in_dir(state_dir) as reopened:
        assert reopened.observed() == live


def test_a_late_lost_mark_does_not_undo_a_stored_version(tmp_path: Path) -> None:
    lost = RunFailed(
        at=at(20),
        project="p",
        dataset="mnist",
        run_id="r1",
        stage="lost",
        reason="the daemon stopped",
    )
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), *produced("mnist", 1, "h1", 10), lost])
        row = store.dataset("p", "mnist")
    assert row is not None and (row.status, row.version, row.attempts) == ("ready", 1, 0)


def test_a_version_stored_for_a_removed_data_set_is_kept_unserved_for_deletion(
    tmp_path: Path,
) -> None:
    start, _, stored = produced("mnist", 1, "h1", 10)
    removed = DatasetRemoved(at=at(11), project="p", dataset="mnist", reason="not declared")
    with StateStore.in_dir(tmp_path) as store:
        store.append([declared(), start, removed, stored])
        observed = store.observed()
    assert observed.datasets[("p", "mnist")].status == "removed"
    assert [(v.version, v.current) for v in observed.versions[("p", "mnist")]] == [(1, False)]


def test_a_database_not_migrated_yet_reads_as_empty(tmp_path: Path) -> None:
    (tmp_path / "state.db").touch()
    reader = StateReader.in_dir(tmp_path)
    assert reader.datasets() == [] and list(reader.events()) == [] and reader.tasks() == []
    reader.close()


def test_event_counts_count_failed_task_runs_apart(tmp_path: Path) -> None:
    from state.events import TaskFinished, TaskRequested, TaskStarted

    def run(n: int, ok: bool) -> list[Event]:
        return [
            TaskRequested(at=at(n), project="p", task="t", request_id=f"q{n}", reason="manual"),
            TaskStarted(
                at=at(n), project="p", task="t", request_id=f"q{n}", run_id=f"r{n}", inputs={}
            ),
            TaskFinished(
                at=at(n), project="p", task="t", request_id=f"q{n}", run_id=f"r{n}", ok=ok
            ),
        ]

    with StateStore.in_dir(tmp_path) as store:
        store.append([*run(1, True), *run(2, False), *run(3, False)])
    reader = StateReader.in_dir(tmp_path)
    counts = reader.event_counts()
    reader.close()
    assert counts["task_started"] == 3 and counts["task_finished"] == 3
    assert counts["task_finished.failed"] == 2


def test_a_state_keeps_one_id_for_good_and_no_two_states_share_one(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path / "a") as first:
        state_id = first.state_id()
        assert first.state_id() == state_id
    with StateStore.in_dir(tmp_path / "a") as again:
        assert again.state_id() == state_id
    with StateStore.in_dir(tmp_path / "b") as other:
        assert other.state_id() != state_id
    reader = StateReader.in_dir(tmp_path / "a")
    assert reader.state_id() == state_id
    reader.close()


def test_a_reader_finds_no_state_id_before_one_is_made(tmp_path: Path) -> None:
    StateStore.in_dir(tmp_path).close()
    reader = StateReader.in_dir(tmp_path)
    assert reader.state_id() is None
    reader.close()
    assert StateReader.in_dir(tmp_path / "missing").state_id() is None
