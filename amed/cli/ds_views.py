"""How `ame ds list` and `ame ds show` show a data set to a person.

Bytes become sizes a person reads at a glance (`--json` keeps the bytes), texts of several
lines stay under their key, and counts agree with their nouns.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from amed.cli.event_lines import event_line
from amed.cli.table import one_line
from amed.web.listing import age
from spec import format_bytes
from state.rows import DatasetRow
from state.timefmt import parse_time

TABLE_COLUMNS = ("NAME", "STATUS", "DECLARED", "SIZE", "VERSION", "UPDATED", "ERROR")
KEY_WIDTH = 16


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 task`, `2 tasks`, `0 data sets`: the noun agrees with its count."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def times(count: int) -> str:
    return "once" if count == 1 else f"{count:,} times"


def dataset_cells(row: DatasetRow, now: datetime | None = None) -> tuple[str, ...]:
    """A table row; the error whole, on one line (the table cuts it on a terminal only)."""
    now = now or datetime.now(UTC)
    return (
        row.name,
        row.status,
        format_bytes(row.declared_size_bytes) if row.declared_size_bytes is not None else "-",
        format_bytes(row.size_bytes) if row.size_bytes is not None else "-",
        str(row.version) if row.version is not None else "-",
        age(row.updated_at, now),
        one_line(row.error),
    )


def _when_due(text: str | None, now: datetime) -> str | None:
    """A time to come as the time and how far off it is: `2026-05-08T00:00:00Z (in 3d)`;
    once passed, the daemon acts on it at its next pass."""
    if text is None:
        return None
    seconds = int((parse_time(text) - now).total_seconds())
    if seconds <= 0:
        return f"{text} (due: at the daemon's next pass)"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{text} (in {seconds // size}{unit})"
    return f"{text} (in {seconds}s)"


def _size(value: int | None) -> str | None:
    return None if value is None else f"{format_bytes(value)} ({value:,} bytes)"


def show_lines(doc: dict[str, Any]) -> Iterator[str]:
    """`ame ds show NAME` from its `--json` document."""
    attempts = doc.get("attempts") or 0
    fields: list[tuple[str, Any]] = [
        ("name", doc["name"]),
        ("project", doc["project"]),
        ("status", doc["status"]),
        ("version", doc["version"]),
        ("size", _size(doc["size_bytes"])),
        ("declared size", _size(doc["declared_size_bytes"])),
        ("files", doc["files"]),
        ("path", doc["path"]),
        ("task", doc["task"]),
        ("inputs", ", ".join(doc["inputs"]) or None),
        ("dependants", ", ".join(doc.get("dependants", [])) or None),
        ("in use by", ", ".join(doc["in_use_by"]) or None),
        ("updated", doc["updated_at"]),
        ("produced", doc["produced_at"]),
        ("last used", doc["last_used_at"]),
        ("failures", f"failed {times(attempts)} in a row" if attempts else None),
        ("retry at", doc["retry_at"]),
        ("deleted after", _when_due(doc.get("delete_after"), datetime.now(UTC))),
        ("error", doc["error"]),
    ]
    for key, value in fields:
        yield from keyed(key, "-" if value is None else str(value))
    manifest = doc.get("manifest")
    if manifest is not None:
        yield from _manifest_lines(manifest)
    history = doc.get("history", [])
    yield f"history: {plural(len(history), 'event')}"
    for item in history:
        yield "  " + event_line(item)


def keyed(key: str, text: str) -> Iterator[str]:
    """`key:` then the text; its further lines indented under the first."""
    lines = text.splitlines() or [""]
    yield f"{key + ':':<{KEY_WIDTH}}{lines[0]}".rstrip()
    for line in lines[1:]:
        yield f"{'':<{KEY_WIDTH}}{line}".rstrip()


def _manifest_lines(manifest: dict[str, Any]) -> Iterator[str]:
    if "error" in manifest:
        yield from keyed("manifest", manifest["error"])
        return
    count = manifest["files"]
    summary = f"{plural(count, 'file')}, {format_bytes(manifest['size_bytes'])}"
    yield from keyed("manifest", summary)
    sample = manifest.get("sample", [])
    # Paths padded to the longest shown, sizes right-aligned: a column each.
    path_width = max((len(e["path"]) for e in sample), default=0)
    sizes = [format_bytes(e["size_bytes"]) for e in sample]
    size_width = max((len(s) for s in sizes), default=0)
    for entry, size in zip(sample, sizes, strict=True):
        yield f"  {entry['path']:<{path_width}}  {size:>{size_width}}"
    if count > len(sample):
        yield f"  … and {plural(count - len(sample), 'more file')}"
    for skipped in manifest.get("skipped", []):
        yield f"  skipped: {skipped}"
