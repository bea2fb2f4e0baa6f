"""The projection: its rows in memory, and the tables in SQLite that hold them.

The writer keeps the projection in memory and writes to the tables only the rows an
append changed; a rebuild and a check fold the whole log into a fresh one. Both use
`Tables.fold`, so what an event touches is decided in one place.
"""

from __future__ import annotations

import hashlib
import marshal
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from state.collector import collector_paused
from state.events import (
    ALERT_EVENTS,
    TASK_EVENTS,
    AlertDelivered,
    AlertDeliveryFailed,
    Event,
    TaskFinished,
    TaskStarted,
    VersionStored,
)
from state.fold import (
    apply_dataset,
    apply_dataset_use,
    apply_input_use,
    apply_task,
    apply_versions,
    serves,
)
from state.fold_alerts import apply_alert, apply_channel
from state.observed import Observed
from state.rows import (
    AlertRow,
    AnyRow,
    ChannelRow,
    DatasetRow,
    RowT,
    TaskRow,
    VersionRow,
    alert_from_record,
    changed_columns,
    channel_from_record,
    dataset_from_record,
    task_from_record,
    to_record,
    tuple_builder,
    version_from_record,
)

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

TABLE_NAMES = ("datasets", "versions", "alerts", "channels", "tasks")
SQL_TABLE = {
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
# One row of each table by its primary key (versions: one version of a data set).
_ROW_WHERE = {**_KEY_WHERE, "versions": "project = ? AND dataset = ? AND version = ?"}

# What `fold` records of each row it touches: (table name, key) -> the row before, or None.
Before = dict[tuple[str, Any], object | None]


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

    def fold(self, event: Event, before: Before | None = None) -> None:
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
        folded = apply_dataset(current, event)
        self._put("datasets", key, folded, before)
        rows = apply_versions(self.versions.get(key, ()), event, serving=serving)
        self._put("versions", key, rows or None, before)
        if current is not None and folded is not None:
            self._use_inputs(current, folded, event, before)

    def _use_inputs(
        self, old: DatasetRow, new: DatasetRow, event: Event, before: Before | None
    ) -> None:
        """Put the inputs of a producing run in use by its task when it starts, and out of
        use when it ends (or its task is renamed meanwhile)."""
        was = {(old.task, name) for name in old.running_inputs}
        now = {(new.task, name) for name in new.running_inputs}
        if was == now:
            return
        for (user, name), using in [(p, False) for p in sorted(was - now)] + [
            (p, True) for p in sorted(now - was)
        ]:
            used = (event.project, name)
            row = apply_input_use(self.datasets.get(used), user, event.at, using=using)
            self._put("datasets", used, row, before)

    def _put(self, table: str, key: Any, row: object | None, before: Before | None) -> None:
        rows: dict[Any, Any] = getattr(self, table)
        if before is not None and (table, key) not in before:
            before[(table, key)] = rows.get(key)
        if row is None:
            rows.pop(key, None)
        else:
            rows[key] = row


def replay(events: Iterable[Event]) -> Tables:
    """The projection a log folds to, computed in memory."""
    tables = Tables()
    for event in events:
        tables.fold(event)
    return tables


def as_tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


# -- reading ------------------------------------------------------------------------------


def load_tables(
    conn: sqlite3.Connection, prefix: str = "", *, hasher: Hash | None = None
) -> Tables:
    """The projection tables in memory; with a `prefix`, a copy of them (state.checkpoint).
    With `hasher`, also fed what `digest()` hashes, from the same rows: a start that checks
    the tables and then loads them reads each row once."""
    with collector_paused():
        return _load(conn, prefix, hasher)


def _load(conn: sqlite3.Connection, prefix: str, hasher: Hash | None) -> Tables:
    pool: dict[str, str] = {}
    tables = Tables()
    for dataset in _rows(conn, prefix, "datasets", DatasetRow, pool, hasher):
        tables.datasets[(dataset.project, dataset.name)] = dataset
    grouped: dict[tuple[str, str], list[VersionRow]] = {}
    for version in _rows(conn, prefix, "versions", VersionRow, pool, hasher):
        grouped.setdefault((version.project, version.dataset), []).append(version)
    # Read in storage order (as the digest is), which is almost always version order.
    tables.versions = {
        key: tuple(rows if len(rows) == 1 else sorted(rows, key=_version_number))
        for key, rows in grouped.items()
    }
    for record in _records(conn, prefix, "alerts", pool, hasher):
        tables.alerts[record["key"]] = alert_from_record(record)
    for record in _records(conn, prefix, "channels", pool, hasher):
        tables.channels[record["channel"]] = channel_from_record(record)
    for record in _records(conn, prefix, "tasks", pool, hasher):
        tables.tasks[(record["project"], record["name"])] = task_from_record(record)
    return tables


def _version_number(row: VersionRow) -> int:
    return row.version


_FROM_RECORD: dict[type, Callable[[dict[str, Any]], Any]] = {
    DatasetRow: dataset_from_record,
    VersionRow: version_from_record,
}


def _rows(
    conn: sqlite3.Connection,
    prefix: str,
    table: str,
    cls: type[RowT],
    pool: dict[str, str],
    hasher: Hash | None,
) -> Iterator[RowT]:
    """Each row of `table` as a `cls`, in storage order, built straight from the tuples
    SQLite gives when the table's columns are the row's fields (`tuple_builder`), else
    through a record (a table an older schema left with other columns)."""
    columns, rows = _read(conn, prefix, table, hasher)
    build = tuple_builder(cast("type", cls), columns)
    if build is None:
        from_record = _FROM_RECORD[cls]
        for record in _as_records(columns, rows, pool):
            yield from_record(record)
        return
    share = pool.setdefault
    for row in rows:
        yield build(row, share)


def _records(
    conn: sqlite3.Connection, prefix: str, table: str, pool: dict[str, str], hasher: Hash | None
) -> Iterator[dict[str, Any]]:
    columns, rows = _read(conn, prefix, table, hasher)
    return _as_records(columns, rows, pool)


def _as_records(
    columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]], pool: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """Each row as {column: value}. Equal texts share one object from `pool`: a project
    name, a status, a task and a spec hash repeat in every row of a data set and of its
    versions (~6 MB of copies with 10,000 data sets, the largest part of the tables)."""
    for row in rows:
        yield {
            column: pool.setdefault(value, value) if type(value) is str else value
            for column, value in zip(columns, row, strict=True)
        }


def _read(
    conn: sqlite3.Connection, prefix: str, table: str, hasher: Hash | None
) -> tuple[tuple[str, ...], Iterable[tuple[Any, ...]]]:
    """The one read of a table every reader here makes: its columns and its rows as tuples,
    in storage order; with `hasher`, each row fed to it as it goes by (what `digest` is
    made of). Does not switch the connection's row factory, which a reader shares."""
    cursor = conn.execute(f"SELECT * FROM {prefix}{SQL_TABLE[table]} ORDER BY rowid")
    cursor.row_factory = None
    columns = tuple(description[0] for description in cursor.description)
    if hasher is None:
        return columns, cursor
    hasher.update(SQL_TABLE[table].encode())
    return columns, _hashed(cursor, hasher)


DIGEST_FORMAT = 2
"""How `digest` turns rows into bytes; a clean stop records it, and a start that finds
another (an older amed's) checks the tables rather than compare unlike digests."""
_HASHED_BATCH = 256


def _hashed(cursor: sqlite3.Cursor, hasher: Hash) -> Iterator[tuple[Any, ...]]:
    """The rows, each batch of them hashed as `marshal` writes it: in C, a quarter of what
    `repr` of each row cost a start. Format 2 writes no back-references, so the bytes
    depend on the values alone, not on which of them happen to be one object."""
    while batch := cursor.fetchmany(_HASHED_BATCH):
        hasher.update(marshal.dumps(batch, 2))
        yield from batch


def digest(conn: sqlite3.Connection) -> str:
    """sha256 over every row of the projection tables in storage order (`DIGEST_FORMAT`):
    any edit, insert or delete changes it (a rewrite that changes nothing but row order
    does too, harmlessly)."""
    found = hashlib.sha256()
    for table in TABLE_NAMES:
        for _ in _read(conn, "", table, found)[1]:
            pass
    return found.hexdigest()


# -- writing ------------------------------------------------------------------------------


def write(conn: sqlite3.Connection, table: str, key: Any, old: Any, new: Any) -> None:
    """Make the table's row(s) for `key` go from `old` to what the in-memory projection
    holds now, `new` (None: no row). `old` is what the table holds (the projection is in
    step with it inside the write lock), so a row that stays is updated in the columns that
    changed only: most events change two or three of a data set's 25 columns, and SQLite
    rewrites a row in place for that at half the cost of replacing it. Versions are written
    one version at a time, so that storing a version writes two rows, not every version the
    data set has."""
    sql_table = SQL_TABLE[table]
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
        conn.execute(f"DELETE FROM {sql_table} WHERE {_KEY_WHERE[table]}", as_tuple(key))
    elif old is None:
        _insert(conn, sql_table, new)
    else:
        _update(conn, table, as_tuple(key), old, new)


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
        sql = f"UPDATE {SQL_TABLE[table]} SET {assignments} WHERE {_ROW_WHERE[table]}"
        _UPDATE_SQL[(table, names)] = sql
    conn.execute(sql, (*changed.values(), *key))


# UPDATE statements by table and the columns they set; a few dozen combinations occur.
_UPDATE_SQL: dict[tuple[str, tuple[str, ...]], str] = {}
