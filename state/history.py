"""What the event log tells of a data set's or a task's past: its runs, sizes, storage
over time and pages of events, read-only.

Kept apart from the current-state reads (state.read) because these scan the log, not the
tables: each is bounded by an index ((project, dataset, type, id)) or a limit, so a page
stays cheap however long the log grows. `StateReader` has them all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from state.timefmt import format_time

if TYPE_CHECKING:
    from state.events import Event


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    event: Event


@dataclass(frozen=True)
class RunRecord:
    """One run as the log tells it: a data set's producing run (`dataset` set), or a
    consumer's run of a request (`request_id` set; `run_id` None when the request ended
    before a run started, its data set having failed). `ok` is None while it runs; `seq`
    (its first event's id) orders runs as they began."""

    seq: int
    run_id: str | None
    started_at: str | None
    ended_at: str | None = None
    ok: bool | None = None
    reason: str | None = None
    dataset: str | None = None
    request_id: str | None = None
    project: str | None = None  # set by `recent_runs`, whose runs come from any project


_PRODUCING_RUNS_SQL = (
    "SELECT id, type, at, json_extract(data, '$.run_id'), json_extract(data, '$.reason') "
    "FROM events WHERE project = ? AND dataset = ? "
    "AND type IN ('run_started', 'run_failed', 'version_stored') ORDER BY id"
)
_TASK_RUNS_SQL = (
    "SELECT id, type, at, json_extract(data, '$.request_id'), json_extract(data, '$.run_id'), "
    "json_extract(data, '$.ok'), json_extract(data, '$.reason') "
    "FROM events WHERE project = ? AND dataset IS NULL "
    "AND type IN ('task_started', 'task_finished') AND json_extract(data, '$.task') = ? "
    "AND id > ? ORDER BY id"
)


class StoredSize(NamedTuple):
    """A version as stored: its event's id and time (ISO 8601 text), number and bytes."""

    id: int
    at: str
    version: int
    size_bytes: int


class StorageChange(NamedTuple):
    """A change of the bytes held: a version stored (`delta_bytes` > 0) or deleted."""

    id: int
    at: str
    type: str
    project: str
    dataset: str
    version: int
    delta_bytes: int


class HistoryReads:
    """The log's reads; `_conn` is the reader's read-only connection (None: no database)."""

    _conn: sqlite3.Connection | None

    def events(
        self,
        *,
        after_id: int = 0,
        until_id: int | None = None,
        project: str | None = None,
        dataset: str | None = None,
        types: Sequence[str] = (),
        since: datetime | None = None,
        last: int | None = None,
    ) -> Iterator[LoggedEvent]:
        """The events that match, oldest first; with `last`, only the last that many.
        Every filter is part of the query, so only the events returned are decoded: the
        log grows to millions of rows, and decoding one costs far more than SQLite's test
        of a column."""
        if self._conn is None:
            return
        from state.event_rows import COLUMNS, from_row

        where = ["id > ?"]
        params: list[object] = [after_id]
        if until_id is not None:
            where.append("id <= ?")
            params.append(until_id)
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if dataset is not None:
            where.append("dataset = ?")
            params.append(dataset)
        if types:
            where.append(f"type IN ({', '.join('?' for _ in types)})")
            params.extend(types)
        if since is not None:
            # Stored times are format_time's text, which sorts as the times do.
            where.append("at >= ?")
            params.append(format_time(since))
        sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(where)}"
        if last is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(last)})"
        cursor = self._conn.execute(sql + " ORDER BY id", params)
        cursor.row_factory = None
        for row in cursor:
            yield LoggedEvent(*from_row(row))

    def producing_runs(self, project: str, dataset: str) -> list[RunRecord]:
        """The data set's producing runs, oldest first (times as stored: ISO 8601 text)."""
        if self._conn is None:
            return []
        runs: dict[str, RunRecord] = {}
        for id_, type_, at, run_id, reason in self._conn.execute(
            _PRODUCING_RUNS_SQL, (project, dataset)
        ):
            if type_ == "run_started":
                runs[run_id] = RunRecord(id_, run_id, at, dataset=dataset)
            elif run_id in runs and runs[run_id].ok is None:
                ok = type_ == "version_stored"
                runs[run_id] = replace(runs[run_id], ended_at=at, ok=ok, reason=reason)
        return list(runs.values())

    def task_runs(self, project: str, task: str, *, after_id: int = 0) -> list[RunRecord]:
        """The runs of a task that consumes data sets, one per request that started or
        ended after event `after_id`, oldest first."""
        if self._conn is None:
            return []
        runs: dict[str, RunRecord] = {}
        rows = self._conn.execute(_TASK_RUNS_SQL, (project, task, after_id))
        for id_, type_, at, request_id, run_id, ok, reason in rows:
            if type_ == "task_started":
                runs[request_id] = RunRecord(id_, run_id, at, request_id=request_id)
            else:
                began = runs.get(request_id) or RunRecord(id_, run_id, None, request_id=request_id)
                runs[request_id] = replace(began, ended_at=at, ok=bool(ok), reason=reason)
        return list(runs.values())

    def last_event_id(self) -> int:
        if self._conn is None:
            return 0
        return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])

    def run_seconds_histogram(
        self, bounds_seconds: Sequence[float]
    ) -> tuple[list[int], int, float]:
        """Over every producing run that exited 0 (`run_succeeded`): how many took at most
        each bound (cumulative, one count per bound), how many there were, and their total
        seconds. Counted in SQLite in one pass over the log, so that `/metrics` never
        builds a row per run; like `event_counts`, each number only grows."""
        if self._conn is None:
            return [0] * len(bounds_seconds), 0, 0.0
        seconds = "json_extract(data, '$.seconds')"
        buckets = "".join(f", SUM({seconds} <= ?)" for _ in bounds_seconds)
        found = self._conn.execute(
            f"SELECT COUNT(*), TOTAL({seconds}){buckets} FROM events WHERE type = 'run_succeeded'",
            [float(b) for b in bounds_seconds],
        ).fetchone()
        count, total, *cumulative = found
        return [int(c or 0) for c in cumulative], int(count), float(total)

    def event_counts(self) -> dict[str, int]:
        """How many events of each type the log holds, and under `task_finished.failed`
        the task runs that failed. The log is append-only, so each count only grows: a
        Prometheus counter can be read straight off it."""
        if self._conn is None:
            return {}
        rows = self._conn.execute(
            "SELECT type, COUNT(*) FROM events GROUP BY type UNION ALL "
            "SELECT 'task_finished.failed', COUNT(*) FROM events "
            "WHERE type = 'task_finished' AND json_extract(data, '$.ok') = 0"
        )
        return {str(type_): int(count) for type_, count in rows}

    # -- the dashboard's bounded reads: each returns at most a page, whatever the state's size

    def events_page(
        self,
        *,
        project: str | None = None,
        dataset: str | None = None,
        types: Sequence[str] = (),
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[LoggedEvent]:
        """Up to `limit` events that match, newest first, older than `before_id` when given."""
        if self._conn is None:
            return []
        from state.event_rows import COLUMNS, from_row

        where: list[str] = []
        params: list[object] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(int(before_id))
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if dataset is not None:
            where.append("dataset = ?")
            params.append(dataset)
        if types:
            where.append(f"type IN ({', '.join('?' for _ in types)})")
            params.extend(types)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        cursor = self._conn.execute(
            f"SELECT {COLUMNS} FROM events{clause} ORDER BY id DESC LIMIT ?", [*params, int(limit)]
        )
        cursor.row_factory = None
        return [LoggedEvent(*from_row(row)) for row in cursor]

    def run_events(
        self, run_id: str, *, within: tuple[str, str | None] | None = None
    ) -> list[LoggedEvent]:
        """Every event of one run (producing or consuming), oldest first. `within`
        (project, data set; None for a consumer's run) narrows the search to that data
        set's events through the log's index; without it the whole log is read."""
        if self._conn is None:
            return []
        from state.event_rows import COLUMNS, from_row

        narrow, params = "", [run_id]
        if within is not None:
            project, dataset = within
            narrow = " AND project = ? AND " + (
                "dataset IS NULL" if dataset is None else "dataset = ?"
            )
            params = [run_id, project, *([dataset] if dataset is not None else [])]
        cursor = self._conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE type IN ('run_started', 'run_succeeded', "
            "'run_failed', 'version_stored', 'task_started', 'task_finished') "
            f"AND json_extract(data, '$.run_id') = ?{narrow} ORDER BY id",
            params,
        )
        cursor.row_factory = None
        return [LoggedEvent(*from_row(row)) for row in cursor]

    def version_sizes(self, project: str, dataset: str, *, limit: int = 200) -> list[StoredSize]:
        """The data set's newest stored versions (up to `limit`), oldest first: every
        version ever stored, deleted ones included, as its `version_stored` event says."""
        if self._conn is None:
            return []
        rows = self._conn.execute(
            "SELECT id, at, json_extract(data, '$.version'), json_extract(data, '$.size_bytes') "
            "FROM events WHERE project = ? AND dataset = ? AND type = 'version_stored' "
            "ORDER BY id DESC LIMIT ?",
            (project, dataset, int(limit)),
        )
        return [StoredSize(int(i), str(at), int(v), int(s)) for i, at, v, s in rows][::-1]

    def storage_changes(
        self, *, limit: int = 500, scan_events: int | None = None
    ) -> tuple[int, list[StorageChange]]:
        """How the bytes of committed versions changed: the newest `limit` changes (a
        version stored adds its size, a version deleted takes it away), oldest first, and
        the bytes held before the first of them. The newest change leaves the sum of the
        `versions` table. `scan_events`: look among the newest that many events only (the
        log has no index by type: this bounds the read however long the log)."""
        if self._conn is None:
            return 0, []
        rows = self._conn.execute(
            "SELECT e.id, e.at, e.type, e.project, e.dataset, "
            "json_extract(e.data, '$.version'), "
            "CASE e.type WHEN 'version_stored' THEN json_extract(e.data, '$.size_bytes') "
            "ELSE -(SELECT json_extract(s.data, '$.size_bytes') FROM events s "
            "WHERE s.project = e.project AND s.dataset = e.dataset AND s.type = 'version_stored' "
            "AND json_extract(s.data, '$.version') = json_extract(e.data, '$.version') "
            "ORDER BY s.id DESC LIMIT 1) END "
            "FROM events e WHERE e.type IN ('version_stored', 'version_deleted') "
            "AND e.id > ? ORDER BY e.id DESC LIMIT ?",
            (self._first_scanned(scan_events), int(limit)),
        ).fetchall()
        changes = [
            StorageChange(int(i), str(at), str(t), str(p), str(d), int(v), int(delta or 0))
            for i, at, t, p, d, v, delta in reversed(rows)
        ]
        held = int(
            self._conn.execute("SELECT coalesce(SUM(size_bytes), 0) FROM versions").fetchone()[0]
        )
        return held - sum(c.delta_bytes for c in changes), changes

    def recent_runs(self, *, limit: int = 200, scan_events: int | None = None) -> list[RunRecord]:
        """The newest `limit` runs of any data set or task (producing and consuming), each
        with its end when the log has it, oldest first: read from the log's tail only, and
        with `scan_events`, from that many of its newest events at most."""
        if self._conn is None:
            return []
        starts = self._conn.execute(
            "SELECT id, type, at, project, dataset, json_extract(data, '$.run_id'), "
            "json_extract(data, '$.request_id') FROM events "
            "WHERE type IN ('run_started', 'task_started') AND id > ? ORDER BY id DESC LIMIT ?",
            (self._first_scanned(scan_events), int(limit)),
        ).fetchall()
        if not starts:
            return []
        runs: dict[str, RunRecord] = {}
        for id_, type_, at, project, dataset, run_id, request_id in reversed(starts):
            key = run_id if type_ == "run_started" else f"request:{request_id}"
            runs[key] = RunRecord(
                id_,
                run_id,
                at,
                dataset=dataset,
                request_id=request_id if type_ == "task_started" else None,
                project=project,
            )
        ends = self._conn.execute(
            "SELECT type, at, json_extract(data, '$.run_id'), json_extract(data, '$.request_id'), "
            "json_extract(data, '$.ok'), json_extract(data, '$.reason') FROM events "
            "WHERE id > ? AND type IN ('run_failed', 'version_stored', 'task_finished') "
            "ORDER BY id",
            (int(starts[-1][0]),),
        )
        for type_, at, run_id, request_id, ok, reason in ends:
            key = run_id if type_ != "task_finished" else f"request:{request_id}"
            found = runs.get(key)
            if found is None or found.ok is not None:
                continue
            succeeded = type_ == "version_stored" or (type_ == "task_finished" and bool(ok))
            runs[key] = replace(found, ended_at=at, ok=succeeded, reason=reason)
        return list(runs.values())

    def _first_scanned(self, scan_events: int | None) -> int:
        """The id below which a read limited to the newest `scan_events` events stops."""
        if scan_events is None or self._conn is None:
            return 0
        return max(self.last_event_id() - int(scan_events), 0)
