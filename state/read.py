"""Read-only access for the CLI and the dashboard.

Readers open the database with `mode=ro`: under WAL they never block the daemon, and they
cannot change anything by mistake. A missing database is not an error for a reader: it
means nothing has been recorded yet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from state.db import BUSY_TIMEOUT_MS, DB_FILENAME, load_tables
from state.events import Event, event_from_row
from state.heartbeat import DaemonRow
from state.heartbeat import read as read_heartbeat
from state.observed import Observed
from state.rows import (
    AlertRow,
    ChannelRow,
    DatasetRow,
    TaskRow,
    VersionRow,
    alert_from_record,
    channel_from_record,
    dataset_from_record,
    task_from_record,
    version_from_record,
)


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    event: Event


class StateReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        if path.exists():
            uri = f"{path.resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True)
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._conn.row_factory = sqlite3.Row

    @classmethod
    def in_dir(cls, state_dir: Path) -> StateReader:
        return cls(state_dir / DB_FILENAME)

    @property
    def exists(self) -> bool:
        return self._conn is not None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def observed(self) -> Observed:
        """Everything the planner looks at, as the daemon would see it now."""
        if self._conn is None:
            return Observed()
        self._conn.row_factory = None
        try:
            return load_tables(self._conn).observed()
        finally:
            self._conn.row_factory = sqlite3.Row

    def alerts(self) -> list[AlertRow]:
        if self._conn is None:
            return []
        return [
            alert_from_record(dict(r))
            for r in self._conn.execute("SELECT * FROM alerts ORDER BY key")
        ]

    def channels(self) -> list[ChannelRow]:
        if self._conn is None:
            return []
        rows = self._conn.execute("SELECT * FROM alert_channels ORDER BY channel")
        return [channel_from_record(dict(r)) for r in rows]

    def tasks(self) -> list[TaskRow]:
        if self._conn is None:
            return []
        rows = self._conn.execute("SELECT * FROM tasks ORDER BY project, name")
        return [task_from_record(dict(r)) for r in rows]

    def datasets(self, *, include_removed: bool = False) -> list[DatasetRow]:
        if self._conn is None:
            return []
        sql = "SELECT * FROM datasets"
        if not include_removed:
            sql += " WHERE status != 'removed'"
        sql += " ORDER BY project, name"
        return [dataset_from_record(dict(r)) for r in self._conn.execute(sql)]

    def dataset_records(self, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """The `datasets` rows as stored, ordered like `datasets()`: times as the ISO text
        `format_time` wrote, lists as JSON text. For listings that print what is stored
        anyway: building a `DatasetRow` per row costs more than the whole query."""
        if self._conn is None:
            return []
        sql = "SELECT * FROM datasets"
        if not include_removed:
            sql += " WHERE status != 'removed'"
        sql += " ORDER BY project, name"
        cursor = self._conn.execute(sql)
        cursor.row_factory = None  # plain tuples: several times faster than sqlite3.Row
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def dataset(self, name: str, project: str | None = None) -> DatasetRow | None:
        if self._conn is None:
            return None
        sql = "SELECT * FROM datasets WHERE name = ?"
        params: tuple[str, ...] = (name,)
        if project is not None:
            sql += " AND project = ?"
            params += (project,)
        sql += " ORDER BY status = 'removed', updated_at DESC LIMIT 1"
        found = self._conn.execute(sql, params).fetchone()
        return dataset_from_record(dict(found)) if found else None

    def versions(self, project: str, dataset: str) -> list[VersionRow]:
        if self._conn is None:
            return []
        rows = self._conn.execute(
            "SELECT * FROM versions WHERE project = ? AND dataset = ? ORDER BY version",
            (project, dataset),
        )
        return [version_from_record(dict(r)) for r in rows]

    def events(
        self,
        *,
        after_id: int = 0,
        project: str | None = None,
        dataset: str | None = None,
        limit: int | None = None,
    ) -> Iterator[LoggedEvent]:
        if self._conn is None:
            return
        where = ["id > ?"]
        params: list[object] = [after_id]
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if dataset is not None:
            where.append("dataset = ?")
            params.append(dataset)
        sql = f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for r in self._conn.execute(sql, params):
            event = event_from_row(
                r["type"], r["at"], r["project"], r["dataset"], json.loads(r["data"])
            )
            yield LoggedEvent(r["id"], event)

    def daemon(self) -> DaemonRow | None:
        """The daemon's heartbeat row, or None when no daemon has written one here."""
        if self._conn is None:
            return None
        return read_heartbeat(self._conn)

    def status_counts(self) -> dict[str, int]:
        """How many data sets are in each status (removed ones left out)."""
        if self._conn is None:
            return {}
        try:
            rows = self._conn.execute(
                "SELECT status, COUNT(*) FROM datasets WHERE status != 'removed' GROUP BY status"
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}  # the daemon has created the file but not its tables yet
            raise
        return {str(status): int(count) for status, count in rows}

    def event_counts(self) -> dict[str, int]:
        """How many events of each type the log holds. The log is append-only, so each
        count only grows: a Prometheus counter can be read straight off it."""
        if self._conn is None:
            return {}
        rows = self._conn.execute("SELECT type, COUNT(*) FROM events GROUP BY type")
        return {str(type_): int(count) for type_, count in rows}
