"""The projections as pure folds over the event log.

`apply_dataset` and `apply_versions` are the only definitions of what an event means for the
tables (the tasks' folds are beside them, the alerts' in `state.fold_alerts`; `FOLD_VERSION`
covers them all). The writer applies them on every append inside the same transaction, and
a rebuild replays them over the whole log; both must agree, and a property test holds them
to it.
"""

from __future__ import annotations

from datetime import datetime

from state.events import (
    DatasetBlocked,
    DatasetDeclared,
    DatasetEvicted,
    DatasetPulled,
    DatasetRemoved,
    DatasetRequested,
    DatasetUndeclared,
    DeletionApproved,
    Event,
    InputFailed,
    RebuildRequested,
    RunFailed,
    RunStarted,
    RunSucceeded,
    TaskDeclared,
    TaskFinished,
    TaskRequested,
    TaskStarted,
    VersionDeleted,
    VersionStored,
)
from state.rows import (
    ERROR_TAIL_CHARS,
    STORED_SIZES_KEPT,
    DatasetRow,
    Status,
    TaskRow,
    VersionRow,
    replace_row,
)

FOLD_VERSION = 3
"""What the events mean for the tables. Raise it with any change to the folds, so that a
start after an upgrade replays the log into the new tables even after a clean stop."""


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
            # No number is taken here: `last_version` counts stored versions only.
            return replace_row(
                row,
                status="running",
                run_id=event.run_id,
                running_version=event.version,
                running_inputs=tuple(sorted(event.inputs)),
                rebuild_requested_at=None,
                updated_at=at,
            )
        case RunSucceeded():
            if row.run_id != event.run_id:
                return row
            return replace_row(row, status="uploading", updated_at=at)
        case RunFailed():
            if row.run_id != event.run_id:
                return row  # about a run this row no longer waits for
            return replace_row(
                row,
                status="failed",
                run_id=None,
                running_version=None,
                running_inputs=(),
                attempts=row.attempts + 1,
                retry_at=event.retry_at,
                error=_failure_text(event),
                failed_stage=event.stage,
                requested_at=None,
                updated_at=at,
            )
        case VersionStored():
            if not serves(row, event):
                return replace_row(row, last_version=max(row.last_version, event.version))
            fresh = event.spec_hash == row.spec_hash
            return replace_row(
                row,
                status="ready" if fresh else "pending",
                version=event.version,
                size_bytes=event.size_bytes,
                files=event.files,
                stored_spec_hash=event.spec_hash,
                content_digest=event.content_digest,
                stored_code_digest=event.code_digest,
                stored_inputs=tuple(sorted(event.inputs.items())),
                produced_at=at,
                last_used_at=at,
                run_id=None,
                running_version=None,
                running_inputs=(),
                last_version=max(row.last_version, event.version),
                stored_sizes=(*row.stored_sizes, event.size_bytes)[-STORED_SIZES_KEPT:],
                attempts=0,
                retry_at=None,
                error=None,
                failed_stage=None,
                requested_at=None,
                updated_at=at,
            )
        case DatasetUndeclared():
            if row.status in ("removed", "deleting"):
                return row
            return replace_row(
                row,
                status="deleting",
                status_before=row.status,
                delete_after=event.delete_after,
                updated_at=at,
            )
        case DeletionApproved():
            if row.status != "deleting":
                return row
            return replace_row(row, delete_after=at, updated_at=at)
        case DatasetRequested():
            if row.status == "removed":
                return row
            return replace_row(row, requested_at=at, updated_at=at)
        case RebuildRequested():
            if row.status == "removed":
                return row
            return replace_row(row, rebuild_requested_at=at, updated_at=at)
        case InputFailed():
            if row.status in ("running", "uploading", "deleting", "removed"):
                return row
            return replace_row(
                row,
                status="failed",
                error=event.reason,
                failed_stage="input",
                retry_at=None,
                updated_at=at,
            )
        case DatasetPulled():
            return replace_row(row, last_used_at=at)
        case VersionDeleted():
            if row.version != event.version:
                return replace_row(row, updated_at=at)
            return replace_row(
                row,
                version=None,
                size_bytes=None,
                files=None,
                stored_spec_hash=None,
                content_digest=None,
                stored_code_digest=None,
                stored_inputs=(),
                status="pending" if row.status == "ready" else row.status,
                updated_at=at,
            )
        case DatasetEvicted():
            return replace_row(
                row,
                status="evicted",
                version=None,
                size_bytes=None,
                files=None,
                stored_spec_hash=None,
                content_digest=None,
                stored_code_digest=None,
                stored_inputs=(),
                error=None,
                updated_at=at,
            )
        case DatasetBlocked():
            return replace_row(
                row,
                status="blocked",
                error=event.reason,
                requested_at=None,
                run_id=None,
                running_version=None,
                running_inputs=(),
                updated_at=at,
            )
        case DatasetRemoved():
            return replace_row(
                row,
                status="removed",
                version=None,
                size_bytes=None,
                files=None,
                stored_spec_hash=None,
                content_digest=None,
                stored_code_digest=None,
                stored_inputs=(),
                run_id=None,
                running_version=None,
                running_inputs=(),
                rebuild_requested_at=None,
                attempts=0,
                retry_at=None,
                error=None,
                in_use_by=(),
                requested_at=None,
                delete_after=None,
                status_before=None,
                updated_at=at,
            )
    return row


def apply_dataset_use(row: DatasetRow | None, event: Event) -> DatasetRow | None:
    """A data set while tasks use it: `in_use_by` names them, and each use moves its last
    use (what least-recently-used eviction goes by)."""
    if row is None:
        return None
    match event:
        case TaskStarted():
            users = tuple(sorted({*row.in_use_by, event.task}))
            return replace_row(row, in_use_by=users, last_used_at=event.at)
        case TaskFinished():
            users = tuple(u for u in row.in_use_by if u != event.task)
            return replace_row(row, in_use_by=users, last_used_at=event.at)
    return row


def apply_input_use(
    row: DatasetRow | None, user: str, at: datetime, *, using: bool
) -> DatasetRow | None:
    """An input while a producing task (`user`) runs with it, as `apply_dataset_use` for a
    consuming task: in use from the run's start to its end, and a use at both."""
    if row is None:
        return None
    others = tuple(u for u in row.in_use_by if u != user)
    users = tuple(sorted({*others, user})) if using else others
    return replace_row(row, in_use_by=users, last_used_at=at)


def apply_task(row: TaskRow | None, event: Event) -> TaskRow | None:
    """A task after `event`."""
    at = event.at
    if isinstance(event, TaskDeclared):
        if row is None:
            return TaskRow(
                project=event.project,
                name=event.task,
                status="idle",
                declared_at=at,
                updated_at=at,
                schedule=event.schedule,
                data_sets=event.data_sets,
            )
        return replace_row(row, schedule=event.schedule, data_sets=event.data_sets, updated_at=at)
    if row is None and isinstance(event, TaskRequested):
        # Asked for before the daemon declared it (`ame task run` right after an edit).
        row = TaskRow(
            project=event.project, name=event.task, status="idle", declared_at=at, updated_at=at
        )
    if row is None:
        return None
    match event:
        case TaskRequested():
            scheduled = event.scheduled_for or row.last_scheduled_for
            if row.status in ("waiting", "running"):
                return replace_row(row, last_scheduled_for=scheduled)
            return replace_row(
                row,
                status="waiting",
                request_id=event.request_id,
                request_reason=event.reason,
                requested_at=at,
                last_scheduled_for=scheduled,
                error=None,
                updated_at=at,
            )
        case TaskStarted():
            if event.request_id != row.request_id:
                return row
            return replace_row(
                row,
                status="running",
                run_id=event.run_id,
                started_at=at,
                inputs=tuple(sorted(event.inputs)),
                updated_at=at,
            )
        case TaskFinished():
            if event.request_id != row.request_id:
                return row
            return replace_row(
                row,
                status="succeeded" if event.ok else "failed",
                request_id=None,
                run_id=None,
                last_run_id=event.run_id or row.last_run_id,
                finished_at=at,
                inputs=(),
                error=None if event.ok else event.reason,
                runs=row.runs + (1 if event.run_id else 0),
                failures=row.failures + (0 if event.ok else 1),
                failures_in_row=0 if event.ok else row.failures_in_row + 1,
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
            inputs=event.inputs,
            updated_at=event.at,
            last_version=row.last_version if row else 0,
        )
    changed = event.spec_hash != row.spec_hash
    status: Status = row.status
    if status == "deleting":
        status = row.status_before or "pending"  # declared again within its grace
    if changed and status not in ("running", "uploading", "evicted"):
        fresh = row.version is not None and row.stored_spec_hash == event.spec_hash
        status = "ready" if fresh else "pending"
    return replace_row(
        row,
        status=status,
        path=event.path,
        task=event.task,
        spec_hash=event.spec_hash,
        declared_size_bytes=event.declared_size_bytes,
        inputs=event.inputs,
        delete_after=None,
        status_before=None,
        attempts=0 if changed else row.attempts,
        failed_stage=None if changed else row.failed_stage,
        retry_at=None if changed else row.retry_at,
        error=None if changed else row.error,
        updated_at=event.at,
    )


def _failure_text(event: RunFailed) -> str:
    text = event.reason
    if event.output_tail:
        tail = event.output_tail[-ERROR_TAIL_CHARS:].rstrip()
        if tail:
            text = f"{text}\n{tail}"
    return text


def serves(row: DatasetRow | None, event: VersionStored) -> bool:
    """Whether a stored version becomes the one served: only if its run is the one the row
    waits for. A version stored by a run given up for lost, or for a data set removed in the
    meantime, is kept as an unserved version, which the planner then deletes."""
    return row is not None and row.status != "removed" and row.run_id == event.run_id


def apply_versions(
    rows: tuple[VersionRow, ...], event: Event, *, serving: bool = True
) -> tuple[VersionRow, ...]:
    """The committed versions of one data set after `event`, oldest first. `serving`: for
    `version_stored`, whether the new version replaces the served one (see `serves`)."""
    match event:
        case VersionStored():
            kept = tuple(r for r in rows if r.version != event.version)
            if serving:
                kept = tuple(replace_row(r, current=False) for r in kept)
            added = VersionRow(
                project=event.project,
                dataset=event.dataset,
                version=event.version,
                spec_hash=event.spec_hash,
                size_bytes=event.size_bytes,
                files=event.files,
                stored_at=event.at,
                current=serving,
            )
            return (*kept, added)
        case VersionDeleted():
            return tuple(r for r in rows if r.version != event.version)
        case DatasetEvicted() | DatasetRemoved():
            return tuple(replace_row(r, current=False) if r.current else r for r in rows)
    return rows
