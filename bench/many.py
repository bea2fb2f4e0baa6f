"""A project with many declared data sets, all `ready`, built without running any task.

The state is what amed itself would have recorded: each data set's `dataset_declared`,
`run_started`, `run_succeeded` and `version_stored`, appended through `StateStore.append` in
large batches (fast), with the spec hashes of the generated ame.yaml and each version's
identity (a content digest, the project's code digest), so a pass over it has nothing to do
but compare. `filler` adds further events that change no projection (a `run_succeeded`
of a run the data set is not running), to give the log a realistic length cheaply.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spec import Project, load_text
from state.db import StateStore
from state.events import DatasetDeclared, Event, RunStarted, RunSucceeded, VersionStored

PROJECT = "bench"
BATCH_DATA_SETS = 1000
STARTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def spec_text(count: int, command: str = "true") -> str:
    """An ame.yaml declaring `count` data sets produced by one shared task."""
    lines = [
        f"projectname: {PROJECT}",
        "tasks:",
        "  - name: produce",
        "    executor: !custom",
        f"      command: {json.dumps(command)}",
        "dataSets:",
    ]
    for index in range(count):
        lines += [
            f"  - name: d{index:05d}",
            f"    path: d/{index:05d}",
            "    task: {taskRef: produce}",
        ]
    return "\n".join(lines) + "\n"


def ready_events(
    project: Project, first: int, last: int, code_digest: str | None = None
) -> list[Event]:
    events: list[Event] = []
    for index, data_set in enumerate(project.data_sets[first:last], start=first):
        at = STARTED_AT + timedelta(milliseconds=index)
        run_id = f"{data_set.name}-v1-000000"
        common = {"at": at, "project": project.name, "dataset": data_set.name}
        events += [
            DatasetDeclared(
                **common,
                spec_hash=data_set.spec_hash,
                path=data_set.path,
                task=data_set.producer.name,
                declared_size_bytes=data_set.size_bytes,
            ),
            RunStarted(
                **common,
                run_id=run_id,
                version=1,
                spec_hash=data_set.spec_hash,
                task=data_set.producer.name,
                attempt=1,
            ),
            RunSucceeded(**common, run_id=run_id, seconds=0.01),
            VersionStored(
                **common,
                run_id=run_id,
                version=1,
                spec_hash=data_set.spec_hash,
                size_bytes=1024,
                files=1,
                seconds=0.01,
                content_digest=f"{index:064x}",
                code_digest=code_digest,
            ),
        ]
    return events


def max_bytes(count: int) -> int:
    """The spec size limit a project of `count` data sets needs: the default up to ~14,000,
    above that its size rounded up to a MiB (the `spec.max_size` setting)."""
    from spec.load import MAX_FILE_BYTES

    size = len(spec_text(count).encode("utf-8"))
    return max(MAX_FILE_BYTES, -(-size // MAX_FILE_BYTES) * MAX_FILE_BYTES)


def build(project_dir: Path, state_dir: Path, count: int, *, filler: int = 0) -> Project:
    """Write ame.yaml into `project_dir` and a state where all `count` data sets are ready."""
    project_dir.mkdir(parents=True, exist_ok=True)
    text = spec_text(count)
    (project_dir / "ame.yaml").write_text(text)
    project = load_text(text, max_bytes=max_bytes(count))
    code = code_digest(project_dir, project)
    with StateStore.in_dir(state_dir) as state:
        for first in range(0, count, BATCH_DATA_SETS):
            state.append(ready_events(project, first, first + BATCH_DATA_SETS, code))
    if filler:
        add_filler(state_dir / "state.db", project, filler)
    return project


def code_digest(project_dir: Path, project: Project) -> str:
    """The digest a daemon computes for the project: the same function, on the same files."""
    from amed.act.code_digest import CodeDigests

    paths = [d.path for d in project.data_sets]
    return CodeDigests(None).digest(project_dir, paths)


def add_filler(db_path: Path, project: Project, count: int) -> None:
    """`count` more `run_succeeded` events, spread over the data sets, that change nothing:
    their run id is no data set's current run, so the fold leaves every row as it is.
    Generated inside SQLite (a million rows take seconds, not minutes through Python)."""
    import sqlite3

    if count <= 0:
        return
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        # Keeping the events' indexes up to date row by row costs several times the insert
        # itself; built once afterwards from their own recorded SQL, they end up the same.
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master"
            " WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
            INSERT INTO events (at, type, project, dataset, data)
            SELECT strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-02', '+' || (i / 1000) || ' seconds'),
                   'run_succeeded', ?, printf('d%05d', i % ?),
                   json_object('run_id', 'filler-' || i, 'seconds', 0.5)
            FROM n
            """,
            (count, project.name, len(project.data_sets)),
        )
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
    finally:
        conn.close()


def event_count(db_path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        count: int = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return count
    finally:
        conn.close()
