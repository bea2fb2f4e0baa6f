"""How a data set row is shown: the stable JSON of `ame ds list --json` and the people's table.

The JSON fields are a contract (DESIGN.md): add fields, never rename or drop one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from state.history import LoggedEvent
from state.rows import DatasetRow, VersionRow
from state.timefmt import format_time


def dataset_json(row: DatasetRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "project": row.project,
        "status": row.status,
        "declared_size_bytes": row.declared_size_bytes,
        "size_bytes": row.size_bytes,
        "version": row.version,
        "updated_at": format_time(row.updated_at),
        "in_use_by": list(row.in_use_by),
        "error": row.error,
        "path": row.path,
        "task": row.task,
        "files": row.files,
        "produced_at": _time(row.produced_at),
        "last_used_at": _time(row.last_used_at),
        "attempts": row.attempts,
        "retry_at": _time(row.retry_at),
        "inputs": list(row.inputs),
    }


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def age(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def dataset_document(
    row: DatasetRow,
    versions: list[VersionRow],
    history: list[LoggedEvent],
    others: Sequence[DatasetRow] = (),
) -> dict[str, Any]:
    """The document of `ame ds show NAME --json`: the list fields, its dependants (the data
    sets among `others` whose task needs it), the stored versions, and every event of the
    data set, oldest first."""
    return dataset_json(row) | {
        # When a data set that left ame.yaml goes: what a person looking at `deleting` asks.
        "delete_after": _time(row.delete_after),
        "dependants": dependants(row, others),
        "versions": [
            {
                "version": v.version,
                "size_bytes": v.size_bytes,
                "files": v.files,
                "stored_at": format_time(v.stored_at),
                "current": v.current,
            }
            for v in versions
        ],
        "history": [
            {"id": e.id, **e.event.model_dump(mode="json")} | {"at": format_time(e.event.at)}
            for e in history
        ],
    }


def dependants(row: DatasetRow, others: Iterable[DatasetRow]) -> list[str]:
    """The data sets of its project that are made from it, by name."""
    return sorted(
        o.name
        for o in others
        if o.project == row.project and row.name in o.inputs and o.status != "removed"
    )


MANIFEST_SAMPLE_FILES = 10


def manifest_summary(
    storage_url: str, row: DatasetRow, state_id: str | None = None
) -> dict[str, Any] | None:
    """The ready version's manifest as the store holds it, or why it cannot be read (one
    written by another state than `state_id`, in a shared store, is not this one's)."""
    if row.version is None:
        return None
    from amed.errors import StoreError
    from amed.store.schemes import open_store

    try:
        manifest = open_store(storage_url).read_manifest(
            row.project, row.name, row.version, state_id=state_id
        )
    except StoreError as exc:
        return {"error": f"unavailable: {exc}"}
    if manifest is None:
        return {"error": "missing from the store"}
    return {
        "version": manifest.version,
        "created_at": manifest.created_at,
        "files": len(manifest.files),
        "size_bytes": manifest.size_bytes,
        "sample": [
            {"path": f.path, "size_bytes": f.size_bytes, f.algorithm: f.digest}
            for f in manifest.files[:MANIFEST_SAMPLE_FILES]
        ],
        "skipped": list(manifest.skipped),
    }
