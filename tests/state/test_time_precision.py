"""Times an event carries in its payload are folded at the precision the tables store, so a
database reopened after its daemon stopped agrees with a replay of its log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from state.db import StateStore
from state.events import DatasetDeclared, DatasetUndeclared, RunFailed, RunStarted

T0 = datetime(2026, 1, 1, 12, 0, 0, 31_686, tzinfo=UTC)  # microseconds, as a clock gives


def test_a_failed_and_an_undeclared_data_set_reopen_with_no_mismatch(tmp_path: Path) -> None:
    def declared(name: str) -> DatasetDeclared:
        return DatasetDeclared(
            at=T0, project="p", dataset=name, spec_hash="h", path="data", task="t"
        )

    events = [
        declared("failing"),
        declared("going"),
        RunStarted(
            at=T0,
            project="p",
            dataset="failing",
            run_id="r1",
            version=1,
            spec_hash="h",
            task="t",
            attempt=1,
        ),
        RunFailed(
            at=T0,
            project="p",
            dataset="failing",
            run_id="r1",
            stage="task",
            reason="exited with code 3",
            exit_code=3,
            retry_at=T0.replace(second=30),
        ),
        DatasetUndeclared(at=T0, project="p", dataset="going", delete_after=T0.replace(hour=13)),
    ]
    with StateStore.in_dir(tmp_path) as store:
        store.append(events)
    with StateStore.in_dir(tmp_path) as reopened:
        assert reopened.check(full=True) == []
        row = reopened.dataset("p", "failing")
    assert row is not None and row.retry_at == T0.replace(second=30, microsecond=31_000)
