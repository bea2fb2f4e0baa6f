"""The daemon's heartbeat: one row saying that amed is alive and how its last pass went.

It lives in the `daemon` table, outside the event log: a beat every few seconds would flood
the log and explain nothing. The row is overwritten, never appended, and is not part of the
projection (`check` and `rebuild` leave it alone).
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any, Literal, get_args

from state.connection import immediate
from state.timefmt import format_time, parse_time

DaemonState = Literal["running", "stopping", "stopped"]
DAEMON_STATES: tuple[DaemonState, ...] = get_args(DaemonState)

_TIME_FIELDS = frozenset({"started_at", "beat_at", "pass_at"})
_BOOL_FIELDS = frozenset({"pass_ok", "spec_valid"})


@dataclass(frozen=True)
class DaemonRow:
    """What the daemon last said about itself.

    `stale_after_seconds`: a reader may call the daemon alive only while `beat_at` is at
    most this old (the daemon beats much more often). `pass_ok` is None before the first
    pass; `spec_valid` None before the first load of ame.yaml. Sizes are in bytes, None
    when unknown (`free_bytes` of a remote store without a capacity).
    """

    pid: int
    host: str
    state: DaemonState
    started_at: datetime
    beat_at: datetime
    stale_after_seconds: float
    store_url: str
    spec_path: str
    pass_at: datetime | None = None
    pass_seconds: float | None = None
    pass_ok: bool | None = None
    pass_error: str | None = None
    spec_valid: bool | None = None
    spec_error: str | None = None
    used_bytes: int | None = None
    free_bytes: int | None = None
    capacity_bytes: int | None = None

    def alive_at(self, now: datetime) -> bool:
        """Running (or finishing its runs) and beating recently, as of `now`."""
        if self.state == "stopped":
            return False
        return (now - self.beat_at).total_seconds() <= self.stale_after_seconds


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DaemonRow))


def to_record(row: DaemonRow) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, value in asdict(row).items():
        if isinstance(value, datetime):
            value = format_time(value)
        elif isinstance(value, bool):
            value = int(value)
        record[name] = value
    return record


def from_record(record: dict[str, Any]) -> DaemonRow:
    values: dict[str, Any] = {}
    for name in COLUMNS:
        value = record.get(name)
        if value is not None and name in _TIME_FIELDS:
            value = parse_time(value)
        elif value is not None and name in _BOOL_FIELDS:
            value = bool(value)
        values[name] = value
    if values["state"] not in DAEMON_STATES:
        values["state"] = "stopped"
    return DaemonRow(**values)


def write(conn: sqlite3.Connection, row: DaemonRow) -> None:
    """Replace the row, in a transaction of its own (autocommit connections only)."""
    record = to_record(row)
    columns = ", ".join(["id", *record])
    marks = ", ".join("?" for _ in range(len(record) + 1))
    with immediate(conn):
        conn.execute(
            f"INSERT OR REPLACE INTO daemon ({columns}) VALUES ({marks})",
            (1, *record.values()),
        )


def read(conn: sqlite3.Connection) -> DaemonRow | None:
    """The row, or None when no daemon has written one (or the schema predates it)."""
    try:
        cursor = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM daemon WHERE id = 1")
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    found = cursor.fetchone()
    if found is None:
        return None
    return from_record(dict(zip(COLUMNS, tuple(found), strict=True)))
