"""The state database's schema, as numbered migrations.

A migration is frozen once released: the tables it creates are what older databases have.
Change the schema by adding a migration, never by editing one. `PRAGMA user_version` holds the
number of migrations applied.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by StateStore only when a migration runs (~3 MB resident)
    import sqlite_utils

# sqlite-utils imports pandas and numpy at its own import when they are installed, only to
# map their types to columns, which no migration uses. In a daemon that would be ~0.8 s of
# its first start and ~60 MB resident for the rest of its life, in any environment that
# also has pandas (a data scientist's, or ours with the test extras).
_NOT_NEEDED_BY_MIGRATIONS = ("pandas", "numpy")


def migration_db(conn: sqlite3.Connection) -> sqlite_utils.Database:
    """sqlite-utils over `conn`, imported without pandas and numpy unless this process has
    loaded them already (then they cost nothing more)."""
    if "sqlite_utils" not in sys.modules:
        hidden = [name for name in _NOT_NEEDED_BY_MIGRATIONS if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
        try:
            import sqlite_utils
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    import sqlite_utils

    return sqlite_utils.Database(conn)


def _v1(db: sqlite_utils.Database) -> None:
    db["events"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "at": str,
            "type": str,
            "project": str,
            "dataset": str,
            "data": str,
        },
        pk="id",
        not_null={"at", "type", "project", "data"},
    )
    db.execute("CREATE INDEX events_by_dataset ON events (project, dataset, id)")
    db["datasets"].create(  # type: ignore[union-attr]
        {
            "project": str,
            "name": str,
            "status": str,
            "path": str,
            "task": str,
            "spec_hash": str,
            "declared_size_bytes": int,
            "updated_at": str,
            "version": int,
            "size_bytes": int,
            "files": int,
            "stored_spec_hash": str,
            "produced_at": str,
            "last_used_at": str,
            "run_id": str,
            "running_version": int,
            "last_version": int,
            "attempts": int,
            "retry_at": str,
            "error": str,
            "in_use_by": str,
        },
        pk=("project", "name"),
        not_null={"status", "path", "task", "spec_hash", "updated_at"},
    )
    db["versions"].create(  # type: ignore[union-attr]
        {
            "project": str,
            "dataset": str,
            "version": int,
            "spec_hash": str,
            "size_bytes": int,
            "files": int,
            "stored_at": str,
            "current": int,
        },
        pk=("project", "dataset", "version"),
    )


def _v2(db: sqlite_utils.Database) -> None:
    db["datasets"].add_column("failed_stage", str)  # type: ignore[union-attr]
    db["alerts"].create(  # type: ignore[union-attr]
        {
            "key": str,
            "severity": str,
            "title": str,
            "body": str,
            "resolvable": int,
            "firing": int,
            "raised_at": str,
            "last_raised_at": str,
            "updated_at": str,
            "delivered_at": str,
            "pending": str,
            "failures": int,
            "last_error": str,
            "undelivered": str,
        },
        pk="key",
    )
    db["alert_channels"].create(  # type: ignore[union-attr]
        {
            "channel": str,
            "healthy": int,
            "failures": int,
            "updated_at": str,
            "last_ok_at": str,
            "last_error": str,
        },
        pk="channel",
    )


def _v3(db: sqlite_utils.Database) -> None:
    """The daemon's heartbeat row (state.heartbeat); kept out of the event log."""
    db.execute(
        """
        CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at TEXT NOT NULL,
            beat_at TEXT NOT NULL,
            stale_after_seconds REAL NOT NULL,
            store_url TEXT NOT NULL,
            spec_path TEXT NOT NULL,
            pass_at TEXT,
            pass_seconds REAL,
            pass_ok INTEGER,
            pass_error TEXT,
            spec_valid INTEGER,
            spec_error TEXT,
            used_bytes INTEGER,
            free_bytes INTEGER,
            capacity_bytes INTEGER
        )
        """
    )


def _v4(db: sqlite_utils.Database) -> None:
    """Tasks as consumers of data sets, and requests for data sets."""
    db["datasets"].add_column("requested_at", str)  # type: ignore[union-attr]
    db["tasks"].create(  # type: ignore[union-attr]
        {
            "project": str,
            "name": str,
            "status": str,
            "declared_at": str,
            "updated_at": str,
            "schedule": str,
            "data_sets": str,
            "request_id": str,
            "request_reason": str,
            "requested_at": str,
            "last_scheduled_for": str,
            "run_id": str,
            "last_run_id": str,
            "started_at": str,
            "finished_at": str,
            "inputs": str,
            "error": str,
            "runs": int,
            "failures": int,
        },
        pk=("project", "name"),
    )


def _v5(db: sqlite_utils.Database) -> None:
    """Deletion grace: when an undeclared data set is deleted, and what it was before."""
    db["datasets"].add_column("delete_after", str)  # type: ignore[union-attr]
    db["datasets"].add_column("status_before", str)  # type: ignore[union-attr]


def _v6(db: sqlite_utils.Database) -> None:
    """Facts about the state dir itself, such as the store its versions live in."""
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


def _v7(db: sqlite_utils.Database) -> None:
    """Data sets as a graph, and what a version was made from (its identity)."""
    table = db["datasets"]
    table.add_column("inputs", str)  # type: ignore[union-attr]
    table.add_column("running_inputs", str)  # type: ignore[union-attr]
    table.add_column("content_digest", str)  # type: ignore[union-attr]
    table.add_column("stored_code_digest", str)  # type: ignore[union-attr]
    table.add_column("stored_inputs", str)  # type: ignore[union-attr]
    table.add_column("rebuild_requested_at", str)  # type: ignore[union-attr]


def _v8(db: sqlite_utils.Database) -> None:
    """A task's failures since its last success (its alert counts them), and when and why
    an alert channel last refused, kept after it works again."""
    db["tasks"].add_column("failures_in_row", int)  # type: ignore[union-attr]
    db["alert_channels"].add_column("last_failed_at", str)  # type: ignore[union-attr]


def _v9(db: sqlite_utils.Database) -> None:
    """The sizes of a data set's last versions, whose growth the planner watches."""
    db["datasets"].add_column("stored_sizes", str)  # type: ignore[union-attr]


def _v10(db: sqlite_utils.Database) -> None:
    """A data set's events found by type in the index: the producing runs of every data
    set (`ame task list`) read three types out of a log that holds many more, and with
    (project, dataset, id) each of those rows was fetched only to be skipped. The new
    index serves the data set's whole history as well (a short sort by id), so it
    replaces the old one rather than adding a second cost to every append."""
    db.execute("DROP INDEX events_by_dataset")
    db.execute("CREATE INDEX events_by_dataset_type ON events (project, dataset, type, id)")


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
    _v10,
)
SCHEMA_VERSION = len(MIGRATIONS)
