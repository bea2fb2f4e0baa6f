"""The one writer of the state database: the event log and its projections.

Every append runs in a `BEGIN IMMEDIATE` transaction that inserts the events and folds them
into the projection tables, so the tables are always in step with the log. The writer keeps
the projection in memory as well (it is the only writer of projections); `PRAGMA
data_version` tells it when another connection committed, and it reloads then.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from state.errors import StateError as StateError  # re-exported
from state.errors import StoreMismatch as StoreMismatch
from state.events import (
    ALERT_EVENTS,
    TASK_EVENTS,
    AlertDelivered,
    AlertDeliveryFailed,
    Event,
    TaskFinished,
    TaskStarted,
    VersionStored,
    event_data,
    event_from_row,
)
from state.fold import (
    FOLD_VERSION,
    apply_alert,
    apply_channel,
    apply_dataset,
    apply_dataset_use,
    apply_task,
    apply_versions,
    serves,
)
from state.heartbeat import DaemonRow
from state.heartbeat import write as write_heartbeat
from state.observed import Observed
from state.read import BUSY_TIMEOUT_MS, DB_FILENAME
from state.rows import (
    AlertRow,
    AnyRow,
    ChannelRow,
    DatasetRow,
    TaskRow,
    VersionRow,
    alert_from_record,
    changed_columns,
    channel_from_record,
    dataset_from_record,
    task_from_record,
    time_column,
    to_record,
    version_from_record,
)
from state.schema import MIGRATIONS, SCHEMA_VERSION


@dataclass(frozen=True)
class Mismatch:
    table: str
    key: tuple[object, ...]
    live: object
    rebuilt: object


def connect(path: Path) -> sqlite3.Connection:
    """A writer connection with the pragmas the state store relies on."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class StateStore:
    """Append events; read the projection. Not thread-safe: one owner thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _create_private(path)
        self._conn = connect(path)
        self._migrate()
        # The tables are read at the first read or append, not here: the daemon loads
        # ame.yaml first, so the memory that load frees is reused by them.
        self._data_version = -1
        self._tables = Tables()

    @classmethod
    def in_dir(cls, state_dir: Path) -> StateStore:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(state_dir / DB_FILENAME)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            current = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path}: state database schema {current} is newer than this amed "
                    f"understands ({SCHEMA_VERSION}); upgrade amed"
                )
            if current < SCHEMA_VERSION:
                import sqlite_utils

                db = sqlite_utils.Database(self._conn)
                for number in range(current, SCHEMA_VERSION):
                    MIGRATIONS[number](db)
            if current != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # -- reading ------------------------------------------------------------------------

    def observed(self) -> Observed:
        self._refresh()
        return self._tables.observed()

    def dataset(self, project: str, name: str) -> DatasetRow | None:
        self._refresh()
        return self._tables.datasets.get((project, name))

    def alert(self, key: str) -> AlertRow | None:
        self._refresh()
        return self._tables.alerts.get(key)

    def channel(self, name: str) -> ChannelRow | None:
        self._refresh()
        return self._tables.channels.get(name)

    def _refresh(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._tables = load_tables(self._conn)
        self._data_version = version

    # -- writing ------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[int]:
        """Append events and fold them into the projections, all or nothing.

        The projection is brought up to date after the write lock is taken, so no other
        writer can slip in between; it is then folded in place, remembering each touched
        row's value before, so only rows that really changed are written. On any failure
        the transaction is rolled back and the next read reloads the projection.
        """
        if not events:
            return []
        ids: list[int] = []
        before: dict[tuple[str, Any], object | None] = {}
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._refresh()
            tables = self._tables
            for event in events:
                cursor = conn.execute(
                    "INSERT INTO events (at, type, project, dataset, data) VALUES (?, ?, ?, ?, ?)",
                    (
                        time_column(event.at),
                        event.type,
                        event.project,
                        event.dataset,
                        event_data(event),
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
                tables.fold(event, before)
            for (table, key), old in before.items():
                new = getattr(tables, table).get(key)
                if new != old:
                    _write(conn, table, key, old, new)
            conn.execute("COMMIT")
        except BaseException:
            self._data_version = -1
            conn.execute("ROLLBACK")
            raise
        return ids

    # -- the log as truth -----------------------------------------------------------------

    def events(self, after_id: int = 0) -> Iterator[tuple[int, Event]]:
        rows = self._conn.execute(
            "SELECT id, type, at, project, dataset, data FROM events WHERE id > ? ORDER BY id",
            (after_id,),
        )
        for id_, type_, at, project, dataset, data in rows:
            yield id_, event_from_row(type_, at, project, dataset, json.loads(data))

    def check(self) -> list[Mismatch]:
        """Differences between the live projection tables and a replay of the whole log."""
        rebuilt = replay(event for _, event in self.events())
        live = load_tables(self._conn)
        found: list[Mismatch] = []
        for table in TABLE_NAMES:
            want, have = getattr(rebuilt, table), getattr(live, table)
            for key in sorted(want.keys() | have.keys(), key=repr):
                if want.get(key) != have.get(key):
                    found.append(Mismatch(table, _as_tuple(key), have.get(key), want.get(key)))
        return found

    def rebuild(self) -> None:
        """Recompute the projection tables from the log, in one transaction that holds the
        write lock from the first event read, so no append can slip in between."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            rebuilt = replay(event for _, event in self.events())
            for table in TABLE_NAMES:
                conn.execute(f"DELETE FROM {_SQL_TABLE[table]}")
                for key, rows in getattr(rebuilt, table).items():
                    _write(conn, table, key, None, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._data_version = -1

    # -- clean stops: when the check at start may be skipped -----------------------------

    def record_clean_stop(self) -> None:
        """Record that the tables matched the log when this process let go of them: the
        folds' version, the last event's id, the number of events and a digest of the
        tables. The next `why_check` compares them all. (An event edited in place by hand
        is not seen: the log is what the tables are checked against, not what is checked.)"""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            stamp = json.dumps(
                {
                    "fold_version": FOLD_VERSION,
                    "events": _log_extent(conn),
                    "tables": _digest(conn),
                }
            )
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_CLEAN_STOP, stamp)
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def why_check(self) -> str | None:
        """Why the tables must be checked against the log now, or None when the last owner
        stopped cleanly and neither the log nor the tables changed since.

        The record of that clean stop is removed either way, so a crash of this process
        leaves none behind. Reads the tables row by row: they are not loaded here.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (_CLEAN_STOP,)).fetchone()
            conn.execute("DELETE FROM meta WHERE key = ?", (_CLEAN_STOP,))
            if found is None:
                reason: str | None = "no clean stop recorded"
            else:
                stamp = json.loads(found[0])
                if stamp.get("fold_version") != FOLD_VERSION:
                    reason = "the events are read differently since the last clean stop"
                elif stamp.get("events") != _log_extent(conn):
                    reason = "events were appended since the last clean stop"
                elif stamp.get("tables") != _digest(conn):
                    reason = "the tables changed since the last clean stop"
                else:
                    reason = None
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return reason

    # -- the state dir's store ----------------------------------------------------------

    def bind_store(self, store_url: str) -> None:
        """Tie the state dir to the store its versions live in, on first use; refuse any
        other store after that, since every `ready` row would then point at nothing.
        `store_url` must hold no credentials."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = 'store_url'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('store_url', ?)", (store_url,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if found is not None and found[0] != store_url:
            raise StoreMismatch(
                f"{self.path.parent} keeps its data sets in {found[0]}, not {store_url}; "
                "use that store, or another state dir"
            )

    def state_id(self) -> str:
        """This state's id: random, made at the first call and kept in `meta` for good.

        States that share a store tell their claims and versions apart by it (amed.claims);
        a path or host name would not do, since either may be reused by another state or
        change under this one."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = 'state_id'").fetchone()
            state_id = found[0] if found is not None else secrets.token_hex(16)
            if found is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('state_id', ?)", (state_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return str(state_id)

    # -- the daemon's heartbeat -------------------------------------------------------

    def write_heartbeat(self, row: DaemonRow) -> None:
        """Replace the daemon's heartbeat row (state.heartbeat): never an event, never part
        of the projection. Written on this connection, so that it does not look like a
        change by another writer (which would reload the projection), and under the same
        rule as `append`: one thread at a time."""
        write_heartbeat(self._conn, row)


TABLE_NAMES = ("datasets", "versions", "alerts", "channels", "tasks")
_SQL_TABLE = {
    "datasets": "datasets",
    "versions": "versions",
    "alerts": "alerts",
    "channels": "alert_channels",
    "tasks": "tasks",
}
# The primary key of the tables with one row per key (versions: one per version).
_KEY_WHERE = {
    "datasets": "project = ? AND name = ?",
    "alerts": "key = ?",
    "channels": "channel = ?",
    "tasks": "project = ? AND name = ?",
}


@dataclass
class Tables:
    """The projections in memory: what the log folds to."""

    datasets: dict[tuple[str, str], DatasetRow] = field(default_factory=dict)
    versions: dict[tuple[str, str], tuple[VersionRow, ...]] = field(default_factory=dict)
    alerts: dict[str, AlertRow] = field(default_factory=dict)
    channels: dict[str, ChannelRow] = field(default_factory=dict)
    tasks: dict[tuple[str, str], TaskRow] = field(default_factory=dict)

    def copy(self) -> Tables:
        return Tables(
            dict(self.datasets),
            dict(self.versions),
            dict(self.alerts),
            dict(self.channels),
            dict(self.tasks),
        )

    def observed(self) -> Observed:
        return Observed(
            datasets=dict(self.datasets),
            versions=dict(self.versions),
            alerts=dict(self.alerts),
            channels=dict(self.channels),
            tasks=dict(self.tasks),
        )

    def fold(
        self, event: Event, before: dict[tuple[str, Any], object | None] | None = None
    ) -> None:
        """Apply one event. `before`, when given, gets the value each touched row had before
        its first change (None: the row did not exist)."""
        if isinstance(event, ALERT_EVENTS):
            self._put("alerts", event.key, apply_alert(self.alerts.get(event.key), event), before)
            channels: tuple[str, ...] = ()
            if isinstance(event, AlertDelivered):
                channels = event.channels
            elif isinstance(event, AlertDeliveryFailed):
                channels = (event.channel,)
            for channel in channels:
                row = apply_channel(self.channels.get(channel), channel, event)
                self._put("channels", channel, row, before)
            return
        if isinstance(event, TASK_EVENTS):
            key = (event.project, event.task)
            self._put("tasks", key, apply_task(self.tasks.get(key), event), before)
            if isinstance(event, TaskStarted | TaskFinished):
                for name in event.inputs:
                    used = (event.project, name)
                    in_use = apply_dataset_use(self.datasets.get(used), event)
                    self._put("datasets", used, in_use, before)
            return
        if event.dataset is None:
            return
        key = (event.project, event.dataset)
        current = self.datasets.get(key)
        serving = serves(current, event) if isinstance(event, VersionStored) else True
        self._put("datasets", key, apply_dataset(current, event), before)
        rows = apply_versions(self.versions.get(key, ()), event, serving=serving)
        self._put("versions", key, rows or None, before)

    def _put(
        self,
        table: str,
        key: Any,
        row: object | None,
        before: dict[tuple[str, Any], object | None] | None,
    ) -> None:
        rows: dict[Any, Any] = getattr(self, table)
        if before is not None and (table, key) not in before:
            before[(table, key)] = rows.get(key)
        if row is None:
            rows.pop(key, None)
        else:
            rows[key] = row


_CLEAN_STOP = "clean_stop"


def _log_extent(conn: sqlite3.Connection) -> list[int]:
    """[last event id, number of events]: an append changes the first, a deletion the second."""
    last, count = conn.execute("SELECT coalesce(max(id), 0), count(*) FROM events").fetchone()
    return [int(last), int(count)]


def _digest(conn: sqlite3.Connection) -> str:
    """sha256 over every row of the projection tables in storage order: any edit, insert or
    delete changes it (a rewrite that changes nothing but row order does too, harmlessly)."""
    digest = hashlib.sha256()
    for table in TABLE_NAMES:
        digest.update(_SQL_TABLE[table].encode())
        for row in conn.execute(f"SELECT * FROM {_SQL_TABLE[table]} ORDER BY rowid"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def _as_tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


def replay(events: Iterable[Event]) -> Tables:
    """The projection a log folds to, computed in memory."""
    tables = Tables()
    for event in events:
        tables.fold(event)
    return tables


def _write(conn: sqlite3.Connection, table: str, key: Any, old: Any, new: Any) -> None:
    """Make the table's row(s) for `key` go from `old` to what the in-memory projection
    holds now, `new` (None: no row). `old` is what the table holds (the projection is in
    step with it inside the write lock), so a row that stays is updated in the columns that
    changed only: most events change two or three of a data set's 25 columns, and SQLite
    rewrites a row in place for that at half the cost of replacing it. Versions are written
    one version at a time, so that storing a version writes two rows, not every version the
    data set has."""
    sql_table = _SQL_TABLE[table]
    if table == "versions":
        old_rows = {row.version: row for row in old or ()}
        new_rows = {row.version: row for row in new or ()}
        for number in old_rows.keys() - new_rows.keys():
            conn.execute(
                f"DELETE FROM {sql_table} WHERE project = ? AND dataset = ? AND version = ?",
                (*key, number),
            )
        for number, row in new_rows.items():
            before = old_rows.get(number)
            if before is None:
                _insert(conn, sql_table, row)
            elif before != row:
                _update(conn, table, (*key, number), before, row)
    elif new is None:
        conn.execute(f"DELETE FROM {sql_table} WHERE {_KEY_WHERE[table]}", _as_tuple(key))
    elif old is None:
        _insert(conn, sql_table, new)
    else:
        _update(conn, table, _as_tuple(key), old, new)


def _insert(conn: sqlite3.Connection, sql_table: str, row: AnyRow) -> None:
    record = to_record(row)
    columns = ", ".join(record)
    marks = ", ".join("?" * len(record))
    conn.execute(
        f"INSERT OR REPLACE INTO {sql_table} ({columns}) VALUES ({marks})",
        tuple(record.values()),
    )


def _update(
    conn: sqlite3.Connection, table: str, key: tuple[Any, ...], old: AnyRow, new: AnyRow
) -> None:
    changed = changed_columns(old, new)
    if not changed:
        return
    names = tuple(changed)
    sql = _UPDATE_SQL.get((table, names))
    if sql is None:
        assignments = ", ".join(f"{name} = ?" for name in names)
        sql = f"UPDATE {_SQL_TABLE[table]} SET {assignments} WHERE {_ROW_WHERE[table]}"
        _UPDATE_SQL[(table, names)] = sql
    conn.execute(sql, (*changed.values(), *key))


# One row of each table by its primary key (versions: one version of a data set).
_ROW_WHERE = {**_KEY_WHERE, "versions": "project = ? AND dataset = ? AND version = ?"}
# UPDATE statements by table and the columns they set; a few dozen combinations occur.
_UPDATE_SQL: dict[tuple[str, tuple[str, ...]], str] = {}


def load_tables(conn: sqlite3.Connection) -> Tables:
    """The projection tables in memory."""
    pool: dict[str, str] = {}
    tables = Tables()
    for record in _records(conn, "SELECT * FROM datasets", pool):
        tables.datasets[(record["project"], record["name"])] = dataset_from_record(record)
    grouped: dict[tuple[str, str], list[VersionRow]] = {}
    for record in _records(conn, "SELECT * FROM versions ORDER BY project, dataset, version", pool):
        grouped.setdefault((record["project"], record["dataset"]), []).append(
            version_from_record(record)
        )
    tables.versions = {k: tuple(v) for k, v in grouped.items()}
    for record in _records(conn, "SELECT * FROM alerts", pool):
        tables.alerts[record["key"]] = alert_from_record(record)
    for record in _records(conn, "SELECT * FROM alert_channels", pool):
        tables.channels[record["channel"]] = channel_from_record(record)
    for record in _records(conn, "SELECT * FROM tasks", pool):
        tables.tasks[(record["project"], record["name"])] = task_from_record(record)
    return tables


def _records(conn: sqlite3.Connection, sql: str, pool: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Each row as {column: value}. Equal texts share one object from `pool`: a project
    name, a status, a task and a spec hash repeat in every row of a data set and of its
    versions (~6 MB of copies with 10,000 data sets, the largest part of the tables)."""
    cursor = conn.execute(sql)
    columns = [description[0] for description in cursor.description]
    for row in cursor:
        yield {
            column: pool.setdefault(value, value) if type(value) is str else value
            for column, value in zip(columns, row, strict=True)
        }


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
