"""Read-only access for the CLI and the dashboard.

Readers open the database with `mode=ro`: under WAL they never block the daemon, and they
cannot change anything by mistake. A missing database is not an error for a reader: it
means nothing has been recorded yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from state.connection import DB_FILENAME, connect_read_only
from state.heartbeat import DaemonRow
from state.heartbeat import read as read_heartbeat
from state.history import HistoryReads
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

if TYPE_CHECKING:
    pass


class DatasetState(NamedTuple):
    project: str
    name: str
    status: str
    size_bytes: int | None


class StateReader(HistoryReads):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        if path.exists():
            self._conn = connect_read_only(path)
            self._conn.row_factory = sqlite3.Row
            if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                # Created but not migrated yet (a daemon starting right now): nothing
                # is recorded, as if the file were not there.
                self._conn.close()
                self._conn = None

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
        # Here, not at the top: the tables fold events, and the event models (pydantic)
        # would slow the start of every command that only lists rows.
        from state.tables import load_tables

        return load_tables(self._conn).observed()

    def alerts(self) -> list[AlertRow]:
        if self._conn is None:
            return []
        return [
            alert_from_record(dict(r))
            for r in self._conn.execute("SELECT * FROM alerts ORDER BY key")
        ]

    def alerts_firing(self) -> int:
        """How many alert keys fire now, counted without building their rows."""
        if self._conn is None:
            return 0
        return int(self._conn.execute("SELECT COUNT(*) FROM alerts WHERE firing").fetchone()[0])

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

    def dataset_states(self) -> list[DatasetState]:
        """Every data set's status and size, removed ones included: four columns, not a
        `DatasetRow` each, so that `/metrics` stays cheap at 10,000 data sets."""
        if self._conn is None:
            return []
        cursor = self._conn.execute(
            "SELECT project, name, status, size_bytes FROM datasets ORDER BY project, name"
        )
        cursor.row_factory = None
        return [DatasetState(*row) for row in cursor]

    def usage_bytes(self) -> tuple[int, int]:
        """(held, reserved), as `amed.plan.capacity.usage_of` counts them from the full
        tables: the bytes of every committed version, and the declared sizes of the data
        sets being produced. Summed by SQLite, so that `/metrics` builds no row for them."""
        if self._conn is None:
            return 0, 0
        held, reserved = self._conn.execute(
            "SELECT (SELECT coalesce(SUM(size_bytes), 0) FROM versions),"
            " (SELECT coalesce(SUM(declared_size_bytes), 0) FROM datasets"
            " WHERE status IN ('running', 'uploading'))"
        ).fetchone()
        return int(held), int(reserved)

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

    def state_id(self) -> str | None:
        """The state's id (StateStore.state_id), or None when no daemon has made one yet."""
        if self._conn is None:
            return None
        found = self._conn.execute("SELECT value FROM meta WHERE key = 'state_id'").fetchone()
        return None if found is None else str(found[0])

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

    def projects(self) -> list[str]:
        """The projects that have data sets not removed."""
        if self._conn is None:
            return []
        rows = self._conn.execute(
            "SELECT DISTINCT project FROM datasets WHERE status != 'removed' ORDER BY project"
        )
        return [str(project) for (project,) in rows]

    def datasets_page(
        self,
        *,
        status: str | None = None,
        name_contains: str | None = None,
        project: str | None = None,
        task: str | None = None,
        names: Sequence[str] | None = None,
        needs: str | None = None,
        include_removed: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[DatasetRow], int]:
        """One page of the data sets that match, ordered like `datasets()`, and how many
        match in all. `name_contains` matches anywhere in the name, case-insensitively;
        `status` "removed" finds removed ones whatever `include_removed` says; `names`: only
        these; `needs`: only those whose inputs name this data set."""
        if self._conn is None:
            return [], 0
        where: list[str] = []
        params: list[object] = []
        if status:
            where.append("status = ?")
            params.append(status)
        elif not include_removed:
            where.append("status != 'removed'")
        if name_contains:
            escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("name LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if task is not None:
            where.append("task = ?")
            params.append(task)
        if names is not None:
            where.append(f"name IN ({', '.join('?' for _ in names)})" if names else "0")
            params.extend(names)
        if needs is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(coalesce(inputs, '[]')) WHERE value = ?)")
            params.append(needs)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = int(
            self._conn.execute(f"SELECT COUNT(*) FROM datasets{clause}", params).fetchone()[0]
        )
        rows = self._conn.execute(
            f"SELECT * FROM datasets{clause} ORDER BY project, name LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        return [dataset_from_record(dict(r)) for r in rows], total


def changes_after(state_dir: Path, event_id: int | None) -> tuple[int, set[tuple[str, str]] | None]:
    """The log's last event id now, and the (project, data set) pairs that events after
    `event_id` are about (None without an `event_id`): what may have changed in the store
    since the log stood there. (0, None) when the log cannot be read: a caller then takes
    everything as changed. A range of the log's key, however long the log."""
    try:
        reader = StateReader.in_dir(state_dir)
    except sqlite3.Error:
        return 0, None
    try:
        if reader._conn is None:
            return 0, None
        last = reader.last_event_id()
        if event_id is None:
            return last, None
        rows = reader._conn.execute(
            "SELECT DISTINCT project, dataset FROM events WHERE id > ? AND dataset IS NOT NULL",
            (int(event_id),),
        )
        return last, {(str(project), str(dataset)) for project, dataset in rows}
    except sqlite3.Error:
        return 0, None
    finally:
        reader.close()
