"""The projections as pure folds over the event log.

`apply_dataset` and `apply_versions` are the only definitions of what an event means for the
tables. The writer applies them on every append inside the same transaction, and a rebuild
replays them over the whole log; both must agree, and a property test holds them to it.
"""

from __future__ import annotations

from dataclasses import replace

from state.events import (
    DatasetDeclared,
    DatasetRemoved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)
from state.rows import DatasetRow, VersionRow

_TAIL_CHARS = 2000


def apply_dataset(row: DatasetRow | None, event: Event) -> DatasetRow | None:
    """The data set row after `event`. Events about an unknown data set (only possible in a
    hand-edited log) leave it unknown rather than inventing one."""
    if isinstance(event, DatasetDeclared):
        return _declared(row, event)
    if row is None:
        return None
    at = event.at
    match event:
        case RunStarted():
            return replace(
                row,
                status="running",
                run_id=event.run_id,
                running_version=event.version,
                last_version=max(row.last_version, event.version),
                updated_at=at,
            )
        case RunSucceeded():
            if row.run_id != event.run_id:
                return row
            return replace(row, status="uploading", updated_at=at)
        case RunFailed():
            if row.run_id not in (None, event.run_id):
                return row
            return replace(
                row,
                status="failed",
                run_id=None,
                running_version=None,
                attempts=row.attempts + 1,
                retry_at=event.retry_at,
                error=_failure_text(event),
                updated_at=at,
            )
        case VersionStored():
            fresh = event.spec_hash == row.spec_hash
            return replace(
                row,
                status="ready" if fresh else "pending",
                version=event.version,
                size_bytes=event.size_bytes,
                files=event.files,
                stored_spec_hash=event.spec_hash,
                produced_at=at,
                last_used_at=at,
                run_id=None,
                running_version=None,
                last_version=max(row.last_version, event.version),
                attempts=0,
                retry_at=None,
                error=None,
                updated_at=at,
            )
        case VersionDeleted():
            if row.version != event.version:
                return replace(row, updated_at=at)
            return replace(
                row,
                version=None,
                size_bytes=None,
                files=None,
                stored_spec_hash=None,
                status="pending" if row.status == "ready" else row.status,
                updated_at=at,
            )
        case DatasetRemoved():
            return replace(
                row,
                status="removed",
                version=None,
                size_bytes=None,
                files=None,
                stored_spec_hash=None,
                run_id=None,
                running_version=None,
                attempts=0,
                retry_at=None,
                error=None,
                in_use_by=(),
                updated_at=at,
            )
    return row


def _declared(row: DatasetRow | None, event: DatasetDeclared) -> DatasetRow:
    if row is None or row.status == "removed":
        return DatasetRow(
            project=event.project,
            name=event.dataset,
            status="pending",
            path=event.path,
            task=event.task,
            spec_hash=event.spec_hash,
            declared_size_bytes=event.declared_size_bytes,
            updated_at=event.at,
            last_version=row.last_version if row else 0,
        )
    changed = event.spec_hash != row.spec_hash
    status = row.status
    if changed and status not in ("running", "uploading"):
        fresh = row.version is not None and row.stored_spec_hash == event.spec_hash
        status = "ready" if fresh else "pending"
    return replace(
        row,
        status=status,
        path=event.path,
        task=event.task,
        spec_hash=event.spec_hash,
        declared_size_bytes=event.declared_size_bytes,
        attempts=0 if changed else row.attempts,
        retry_at=None if changed else row.retry_at,
        error=None if changed else row.error,
        updated_at=event.at,
    )


def _failure_text(event: RunFailed) -> str:
    text = event.reason
    if event.output_tail:
        tail = event.output_tail[-_TAIL_CHARS:].rstrip()
        if tail:
            text = f"{text}\n{tail}"
    return text


def apply_versions(rows: tuple[VersionRow, ...], event: Event) -> tuple[VersionRow, ...]:
    """The committed versions of one data set after `event`, oldest first."""
    match event:
        case VersionStored():
            kept = tuple(replace(r, current=False) for r in rows if r.version != event.version)
            added = VersionRow(
                project=event.project,
                dataset=event.dataset,
                version=event.version,
                spec_hash=event.spec_hash,
                size_bytes=event.size_bytes,
                files=event.files,
                stored_at=event.at,
                current=True,
            )
            return (*kept, added)
        case VersionDeleted():
            return tuple(r for r in rows if r.version != event.version)
    return rows
