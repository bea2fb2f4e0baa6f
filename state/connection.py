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
    anything by mistake."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
    """Create the database file readable by its owner only, before SQLite opens it."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
