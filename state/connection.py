"""Opening the state database, and the one kind of write transaction it is changed in.

Shared by the writer and the readers and importing neither: a reader (`ame ds list`) must
not pay for importing the writer and the event models (pydantic) at start-up.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DB_FILENAME = "state.db"
BUSY_TIMEOUT_MS = 5000


def connect(path: Path) -> sqlite3.Connection:
    """A writer connection with the pragmas the state store relies on. Autocommit
    (`isolation_level=None`): every change goes through `immediate`, never through the
    transactions the sqlite3 module would open on its own."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A reader connection: under WAL it never blocks the writer, and it cannot change
    anything by mistake.

    A reader that may not write the directory (a member of a service's group) reads WAL
    through the -wal and -shm files the running writer keeps. Once the writer has closed,
    they are gone and SQLite may not create them: the database file then holds every
    commit, and is read as immutable. A writer that starts meanwhile writes to a new -wal
    file, not to the database file, until its first checkpoint: far later than a read ends.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        wal = path.with_name(f"{path.name}-wal")
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_DIRECTORY" or wal.exists():
            conn.close()
            raise
        conn.close()
        conn = sqlite3.connect(f"{uri}&immutable=1", uri=True)
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction that holds the write lock from its first statement: committed when the
    block ends, rolled back when it raises (a failed COMMIT included).

    IMMEDIATE, because a deferred transaction that reads and then writes fails at once with
    "database is locked" when another writer got in between, whatever the busy timeout.
    Only for autocommit connections (`connect`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create_private(path: Path) -> None:
    """Create the database file before SQLite opens it: writable by its owner, readable by
    its group (readers of a service's state join it), nothing for others. SQLite gives
    the -wal and -shm files the database's mode."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o640)
    os.close(fd)
