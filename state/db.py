"""The one writer of the state database: the event log and its projections.

Every append runs in a `BEGIN IMMEDIATE` transaction that inserts the events and folds them
into the projection tables, so the tables are always in step with the log. The writer keeps
the projection in memory as well (it is the only writer of projections); `PRAGMA
data_version` tells it when another connection committed, and it reloads then.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlite_utils

from state.events import Event, event_at, event_from_row, event_payload
from state.fold import apply_dataset, apply_versions
from state.observed import Observed
from state.rows import (
    DatasetRow,
    VersionRow,
    dataset_from_record,
    to_record,
    version_from_record,
)
from state.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 5000
DB_FILENAME = "state.db"


class StateError(Exception):
    """The state database cannot be used: newer than this program, or corrupt."""


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
        self._db = sqlite_utils.Database(self._conn)
        self._migrate()
        self._data_version = -1
        self._datasets: dict[tuple[str, str], DatasetRow] = {}
        self._versions: dict[tuple[str, str], tuple[VersionRow, ...]] = {}
        self._refresh()

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
            for number in range(current, SCHEMA_VERSION):
                MIGRATIONS[number](self._db)
            if current != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    # -- reading ------------------------------------------------------------------------

    def observed(self) -> Observed:
        self._refresh()
        return Observed(datasets=dict(self._datasets), versions=dict(self._versions))

    def dataset(self, project: str, name: str) -> DatasetRow | None:
        self._refresh()
        return self._datasets.get((project, name))

    def _refresh(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._datasets, self._versions = _load_tables(self._conn)
        self._data_version = version

    # -- writing ------------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> list[int]:
        """Append events and fold them into the projections, all or nothing."""
        if not events:
            return []
        self._refresh()
        datasets = dict(self._datasets)
        versions = dict(self._versions)
        ids: list[int] = []
        touched: set[tuple[str, str]] = set()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for event in events:
                cursor = conn.execute(
                    "INSERT INTO events (at, type, project, dataset, data) VALUES (?, ?, ?, ?, ?)",
                    (
                        event_at(event),
                        event.type,
                        event.project,
                        event.dataset,
                        json.dumps(event_payload(event), separators=(",", ":")),
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
                if event.dataset is None:
                    continue
                key = (event.project, event.dataset)
                _fold_into(datasets, versions, key, event)
                touched.add(key)
            for key in touched:
                if datasets.get(key) != self._datasets.get(key):
                    _write_dataset(conn, key, datasets.get(key))
                if versions.get(key, ()) != self._versions.get(key, ()):
                    _write_versions(conn, key, versions.get(key, ()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._datasets, self._versions = datasets, versions
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
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
        datasets, versions = replay(event for _, event in self.events())
        live_datasets, live_versions = _load_tables(self._conn)
        found: list[Mismatch] = []
        for key in sorted(datasets.keys() | live_datasets.keys()):
            if datasets.get(key) != live_datasets.get(key):
                found.append(Mismatch("datasets", key, live_datasets.get(key), datasets.get(key)))
        for key in sorted(versions.keys() | live_versions.keys()):
            if versions.get(key, ()) != live_versions.get(key, ()):
                found.append(Mismatch("versions", key, live_versions.get(key), versions.get(key)))
        return found

    def rebuild(self) -> None:
        """Recompute the projection tables from the log, in one transaction."""
        datasets, versions = replay(event for _, event in self.events())
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM datasets")
            conn.execute("DELETE FROM versions")
            for key, row in datasets.items():
                _write_dataset(conn, key, row)
            for key, rows in versions.items():
                _write_versions(conn, key, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._data_version = -1
        self._refresh()


def replay(
    events: Iterator[Event] | Sequence[Event],
) -> tuple[dict[tuple[str, str], DatasetRow], dict[tuple[str, str], tuple[VersionRow, ...]]]:
    """The projection a log folds to, computed in memory."""
    datasets: dict[tuple[str, str], DatasetRow] = {}
    versions: dict[tuple[str, str], tuple[VersionRow, ...]] = {}
    for event in events:
        if event.dataset is not None:
            _fold_into(datasets, versions, (event.project, event.dataset), event)
    return datasets, versions


def _fold_into(
    datasets: dict[tuple[str, str], DatasetRow],
    versions: dict[tuple[str, str], tuple[VersionRow, ...]],
    key: tuple[str, str],
    event: Event,
) -> None:
    row = apply_dataset(datasets.get(key), event)
    if row is None:
        datasets.pop(key, None)
    else:
        datasets[key] = row
    rows = apply_versions(versions.get(key, ()), event)
    if rows:
        versions[key] = rows
    else:
        versions.pop(key, None)


def _write_dataset(conn: sqlite3.Connection, key: tuple[str, str], row: DatasetRow | None) -> None:
    if row is None:
        conn.execute("DELETE FROM datasets WHERE project = ? AND name = ?", key)
        return
    record = to_record(row)
    columns = ", ".join(record)
    marks = ", ".join("?" for _ in record)
    conn.execute(
        f"INSERT OR REPLACE INTO datasets ({columns}) VALUES ({marks})", tuple(record.values())
    )


def _write_versions(
    conn: sqlite3.Connection, key: tuple[str, str], rows: tuple[VersionRow, ...]
) -> None:
    conn.execute("DELETE FROM versions WHERE project = ? AND dataset = ?", key)
    for row in rows:
        record = to_record(row)
        columns = ", ".join(record)
        marks = ", ".join("?" for _ in record)
        conn.execute(f"INSERT INTO versions ({columns}) VALUES ({marks})", tuple(record.values()))


def _load_tables(
    conn: sqlite3.Connection,
) -> tuple[dict[tuple[str, str], DatasetRow], dict[tuple[str, str], tuple[VersionRow, ...]]]:
    conn.row_factory = sqlite3.Row
    try:
        datasets = {
            (r["project"], r["name"]): dataset_from_record(dict(r))
            for r in conn.execute("SELECT * FROM datasets")
        }
        grouped: dict[tuple[str, str], list[VersionRow]] = {}
        for r in conn.execute("SELECT * FROM versions ORDER BY project, dataset, version"):
            grouped.setdefault((r["project"], r["dataset"]), []).append(
                version_from_record(dict(r))
            )
    finally:
        conn.row_factory = None
    return datasets, {k: tuple(v) for k, v in grouped.items()}


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite opens it."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
