"""`ame ds list --json`, answered before click is imported.

Scripts call the listing often and over many data sets, so it runs at close to what Python
and SQLite alone cost: `ame` looks at its arguments first, and when they ask for the JSON
listing and nothing else it imports only the state dir's rules and the read-only
connection. SQLite writes each row's JSON and each is written out as it comes, so no row
is held twice and memory does not grow with the number of data sets.

Anything this module does not recognise, and any error before the first byte is written,
is left to the full command, which parses and reports it the usual way.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TextIO

# `amed.web.listing.dataset_json`'s fields as stored columns, in contract order:
# (key, column, holds JSON text). Kept here so the listing does not import the web module;
# a test holds the two to the same objects.
LISTING_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("name", "name", False),
    ("project", "project", False),
    ("status", "status", False),
    ("declared_size_bytes", "declared_size_bytes", False),
    ("size_bytes", "size_bytes", False),
    ("version", "version", False),
    ("updated_at", "updated_at", False),
    ("in_use_by", "in_use_by", True),
    ("error", "error", False),
    ("path", "path", False),
    ("task", "task", False),
    ("files", "files", False),
    ("produced_at", "produced_at", False),
    ("last_used_at", "last_used_at", False),
    ("attempts", "attempts", False),
    ("retry_at", "retry_at", False),
    ("inputs", "inputs", True),
)


def listing_sql(*, include_removed: bool) -> str:
    """One JSON object per row, built by SQLite: a list column that is NULL becomes []."""
    pairs = []
    for key, column, holds_json in LISTING_FIELDS:
        value = f"json(coalesce({column}, '[]'))" if holds_json else column
        pairs.append(f"'{key}', {value}")
    where = "" if include_removed else " WHERE status != 'removed'"
    return f"SELECT json_object({', '.join(pairs)}) FROM datasets{where} ORDER BY project, name"


class ListingRequest(NamedTuple):
    state_dir: Path | None = None
    config_file: Path | None = None
    include_removed: bool = False


def listing_request(argv: Sequence[str]) -> ListingRequest | None:
    """The request when `argv` is `ds|dataset list --json` with only `--all`, `--state-dir`
    and `--config`; None for anything else (the full command handles it)."""
    if len(argv) < 3 or argv[0] not in ("ds", "dataset") or argv[1] != "list":
        return None
    values: dict[str, str] = {}
    flags: set[str] = set()
    rest = iter(argv[2:])
    for token in rest:
        name, eq, value = token.partition("=")
        if name in ("--state-dir", "--config"):
            value = value if eq else next(rest, "")
            if not value or value.startswith("-") or name in values:
                return None
            values[name] = value
        elif token in ("--json", "--all") and token not in flags:
            flags.add(token)
        else:
            return None
    if "--json" not in flags:
        return None
    state_dir = Path(values["--state-dir"]) if "--state-dir" in values else None
    config = Path(values["--config"]) if "--config" in values else None
    # click's own checks on these paths are the full command's to report.
    if (state_dir is not None and state_dir.is_file()) or (config is not None and config.is_dir()):
        return None
    return ListingRequest(state_dir, config, "--all" in flags)


def json_rows(state_dir: Path, *, include_removed: bool) -> Iterator[str]:
    """The rows' JSON texts, read through a read-only connection; none when the daemon has
    made the database but not its tables yet (nothing is recorded)."""
    from state.connection import DB_FILENAME, connect_read_only

    path = state_dir / DB_FILENAME
    if not path.exists():
        return
    conn = connect_read_only(path)
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
            return
        for (text,) in conn.execute(listing_sql(include_removed=include_removed)):
            yield text
    finally:
        conn.close()


def write_array(texts: Iterator[str], out: TextIO) -> None:
    """A JSON array, one object per line, written as the texts come."""
    first = next(texts, None)
    if first is None:
        out.write("[]\n")
        return
    out.write("[\n")
    out.write(first)
    for text in texts:
        out.write(",\n")
        out.write(text)
    out.write("\n]\n")


def run_fast(argv: Sequence[str]) -> int | None:
    """The exit code when the listing was written here; None to let the full command run
    (not a listing, or an error to report before anything was written)."""
    request = listing_request(argv)
    if request is None:
        return None
    try:
        from amed.state_dir import locate

        found = locate(request.state_dir, request.config_file).state_dir
        texts = json_rows(found, include_removed=request.include_removed)
        first = next(texts, None)
    except Exception:  # noqa: BLE001 - the full command reports it as one line
        return None
    out = sys.stdout
    try:
        write_array(texts if first is None else _chain(first, texts), out)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and no error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 1
    except (OSError, sqlite3.Error) as exc:
        print(f"error: state database: {exc}", file=sys.stderr)
        return 1
    return 0


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
