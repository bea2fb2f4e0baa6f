"""Shell completion of data set and task names, read from the state the command would use.

Completion runs on every Tab press: it reads two small columns through a read-only
connection and says nothing when it cannot (no state yet, a bad config): a completion
that prints an error would land in the person's command line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import click

from amed.errors import ConfigError, StateDirError
from amed.state_dir import locate

DATASET_NAMES_SQL = (
    "SELECT DISTINCT project, name FROM datasets WHERE status != 'removed' ORDER BY name, project"
)
TASK_NAMES_SQL = (
    "SELECT project, name FROM tasks UNION SELECT project, task FROM datasets ORDER BY 2, 1"
)


def offered(keys: list[tuple[str, str]], incomplete: str) -> list[str]:
    """A name alone when one project has it; `PROJECT/NAME` for each project when several
    do (the bare name would be refused as ambiguous), and for every key once `/` is typed."""
    projects: dict[str, list[str]] = {}
    for project, name in keys:
        projects.setdefault(name, []).append(project)
    words: list[str] = []
    for name, owners in projects.items():
        if len(owners) == 1 and "/" not in incomplete:
            words.append(name)
        else:
            words += [f"{project}/{name}" for project in owners]
    return [word for word in words if word.startswith(incomplete)]


def _names(ctx: click.Context, sql: str, incomplete: str) -> list[str]:
    from state.connection import DB_FILENAME, connect_read_only

    params: dict[str, Any] = {}
    node: click.Context | None = ctx
    while node is not None:  # the flags may have been given to this command or a group
        params = {**node.params, **params}
        node = node.parent
    try:
        found = locate(params.get("state_dir"), params.get("config_file"), must_exist=False)
        path = Path(found.state_dir) / DB_FILENAME
        if found.missing is not None or not path.exists():
            return []
        conn = connect_read_only(path)
        try:
            keys = [(str(project), str(name)) for project, name in conn.execute(sql) if name]
        finally:
            conn.close()
    except (ConfigError, StateDirError, OSError, sqlite3.Error):
        return []
    return offered(keys, incomplete)


def dataset_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _names(ctx, DATASET_NAMES_SQL, incomplete)


def task_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _names(ctx, TASK_NAMES_SQL, incomplete)
