"""What the projection keeps of the graph and of a version's identity: inputs in use while
a producing run has them, what a served version was made from, and version numbers that
count stored versions only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from state.db import StateStore
from state.events import (
    DatasetDeclared,
    DatasetEvicted,
    Event,
    InputFailed,
    RebuildRequested,
    RunFailed,
    RunStarted,
    VersionStored,
)
from state.rows import DatasetRow

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def declare(name: str, inputs: tuple[str, ...] = (), t: float = 0) -> DatasetDeclared:
    return DatasetDeclared(
        at=at(t), project="p", dataset=name, spec_hash="h", path=name, task=name, inputs=inputs
    )


def start(name: str, run_id: str, t: float, inputs: dict[str, int] | None = None) -> RunStarted:
    return RunStarted(
        at=at(t),
        project="p",
        dataset=name,
        run_id=run_id,
        version=1,
        spec_hash="h",
        task=name,
        attempt=1,
        inputs=inputs or {},
        code_digest="k",
    )


def store(
    name: str, run_id: str, t: float, content: str, inputs: dict[str, str] | None = None
) -> VersionStored:
    return VersionStored(
        at=at(t),
        project="p",
        dataset=name,
        run_id=run_id,
        version=1,
        spec_hash="h",
        size_bytes=4,
        files=1,
        seconds=1,
        content_digest=content,
        code_digest="k",
        inputs=inputs or {},
    )


def fail(name: str, run_id: str, t: float) -> RunFailed:
    return RunFailed(at=at(t), project="p", dataset=name, run_id=run_id, stage="task", reason="x")


def rows_after(tmp_path: Path, *events: Event) -> dict[str, DatasetRow]:
    with StateStore.in_dir(tmp_path) as state:
        state.append(list(events))
        assert state.check() == [], "the live tables are what a replay of the log gives"
        return {name: row for (_, name), row in state.observed().datasets.items()}


READY_RAW = [declare("raw"), declare("features", ("raw",)), start("raw", "r1", 1)]


def test_an_input_is_in_use_while_a_producing_run_has_it(tmp_path: Path) -> None:
    rows = rows_after(
        tmp_path,
        *READY_RAW,
        store("raw", "r1", 2, "c-raw"),
        start("features", "f1", 3, {"raw": 1}),
    )
    assert rows["raw"].in_use_by == ("features",) and rows["raw"].last_used_at == at(3)
    assert rows["features"].running_inputs == ("raw",)
    assert rows["features"].inputs == ("raw",)


def test_an_input_is_out_of_use_when_the_run_ends_either_way(tmp_path: Path) -> None:
    stored = rows_after(
        tmp_path / "stored",
        *READY_RAW,
        store("raw", "r1", 2, "c-raw"),
        start("features", "f1", 3, {"raw": 1}),
        store("features", "f1", 4, "c-features", {"raw": "c-raw"}),
    )
    failed = rows_after(
        tmp_path / "failed",
        *READY_RAW,
        store("raw", "r1", 2, "c-raw"),
        start("features", "f1", 3, {"raw": 1}),
        fail("features", "f1", 4),
    )
    for rows in (stored, failed):
        assert rows["raw"].in_use_by == () and rows["raw"].last_used_at == at(4)
        assert rows["features"].running_inputs == ()


def test_a_served_version_keeps_what_it_was_made_from_until_it_is_given_up(
    tmp_path: Path,
) -> None:
    made = [
        *READY_RAW,
        store("raw", "r1", 2, "c-raw"),
        start("features", "f1", 3, {"raw": 1}),
        store("features", "f1", 4, "c-features", {"raw": "c-raw"}),
    ]
    features = rows_after(tmp_path / "made", *made)["features"]
    assert (features.content_digest, features.stored_code_digest) == ("c-features", "k")
    assert features.stored_inputs == (("raw", "c-raw"),)
    evicted = DatasetEvicted(
        at=at(5), project="p", dataset="features", version=1, reason="x", bytes_freed=4
    )
    gone = rows_after(tmp_path / "evicted", *made, evicted)["features"]
    assert (gone.content_digest, gone.stored_code_digest, gone.stored_inputs) == (None, None, ())


def test_failed_attempts_take_no_version_number(tmp_path: Path) -> None:
    attempts = [e for n in range(3) for e in (start("raw", f"r{n}", n), fail("raw", f"r{n}", n))]
    rows = rows_after(tmp_path, declare("raw"), *attempts)
    assert (rows["raw"].attempts, rows["raw"].last_version) == (3, 0)


def test_a_rebuild_request_waits_for_the_next_run(tmp_path: Path) -> None:
    asked = RebuildRequested(at=at(3), project="p", dataset="raw")
    waiting = rows_after(tmp_path / "asked", *READY_RAW, store("raw", "r1", 2, "c-raw"), asked)
    assert waiting["raw"].rebuild_requested_at == at(3)
    answered = rows_after(
        tmp_path / "answered",
        *READY_RAW,
        store("raw", "r1", 2, "c-raw"),
        asked,
        start("raw", "r2", 4),
    )
    assert answered["raw"].rebuild_requested_at is None


def test_a_data_set_failed_for_its_input_counts_no_attempt(tmp_path: Path) -> None:
    failed = InputFailed(
        at=at(2), project="p", dataset="features", input="raw", reason="input raw failed: x"
    )
    rows = rows_after(tmp_path, *READY_RAW, fail("raw", "r1", 1), failed)
    features = rows["features"]
    assert (features.status, features.failed_stage, features.attempts) == ("failed", "input", 0)
    assert features.error == "input raw failed: x" and features.retry_at is None
