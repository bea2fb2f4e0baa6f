"""Which path serves what: every page, its live parts under `/api/live`, the JSON API, metrics.

A page is read from one read-only `StateReader` opened for the request and closed after
it. `/api/live?path=P` answers with the parts of the page at P, built by the same code as
the page itself, so a page and its live updates never disagree. Every read is bounded (a
page of data sets, of events, of a log), so a page costs the same at 10,000 data sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from amed.plan.capacity import Usage, usage_from
from amed.store.diskspace import free_bytes_under
from amed.web.health import Health, health_line
from amed.web.history import (
    HISTORY_PAGE,
    before_id,
    chosen_type,
    history_list,
    pager,
    type_filter,
    unknown_type_note,
)
from amed.web.html import Page, clock, esc, render, run_href
from amed.web.lineage import build, lineage_svg, neighbourhood
from amed.web.listing import dataset_document, dataset_json, manifest_summary
from amed.web.live import SCRIPT
from amed.web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from amed.web.metrics import scrape
from amed.web.pages import (
    INDEX_PAGE,
    DatasetView,
    Filter,
    alerts_panel,
    capacity_panel,
    dataset_page,
    index_parts,
    runs_table,
)
from amed.web.plots import LEGEND, NO_LEVELS, Levels, runs_plot, storage_plot
from amed.web.runs import TaskView, is_run_id, read_log_page, run_page, task_page
from state.history import RunRecord
from state.read import StateReader

HTML = "text/html; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
STORAGE_POINTS = 500
"""The newest changes of the bytes held that the overview's plot shows."""
SCAN_EVENTS = 100_000
"""The overview's plots look at the newest this many events only: the log has no index by
type, and a page must cost the same however long the log grows."""
RECENT_RUNS = 200
"""Runs of any data set or task on the overview's timeline."""
LINEAGE_DATASETS = 300
"""Data sets drawn on the lineage page; beyond, each data set's page draws its own."""
TASK_DATASETS = 50
"""A task's data sets whose runs its page gathers."""
RUNS_SHOWN = 200
"""Runs on a data set's or a task's timeline: the newest."""


def newest_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """The newest `RUNS_SHOWN` runs, oldest first, however many the log holds."""
    return sorted(runs, key=lambda r: r.seq)[-RUNS_SHOWN:]


@dataclass(frozen=True)
class Source:
    """What every request reads from: the state dir, and the facts the database lacks."""

    state_dir: Path
    capacity_bytes: int | None
    storage_url: str
    levels: Levels = NO_LEVELS

    def reader(self) -> StateReader:
        return StateReader.in_dir(self.state_dir)

    def disk_free_bytes(self) -> int | None:
        try:
            return free_bytes_under(self.storage_url)
        except OSError:
            return None

    def usage(self, reader: StateReader) -> Usage:
        """As `usage_of` counts it, summed by SQLite: no row is loaded to add it up."""
        held, reserved = reader.usage_bytes()
        return usage_from(
            held,
            reserved,
            capacity_bytes=self.capacity_bytes,
            disk_free_bytes=self.disk_free_bytes(),
        )


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] | None = None


def text(status: int, line: str, **headers: str) -> Response:
    return Response(status, TEXT, (line + "\n").encode(), headers)


def _json(document: Any) -> Response:
    return Response(200, JSON, (json.dumps(document, indent=2) + "\n").encode())


def route(source: Source, target: str) -> Response:
    """The response to a GET of `target` (path and query)."""
    parts = urlsplit(target)
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    query = parse_qs(parts.query)
    include_removed = query.get("all", [""])[-1].lower() in ("1", "true", "yes")
    match segments:
        case ["healthz"]:
            return Response(200, TEXT, b"ok")
        case ["metrics"]:
            return _metrics(source)
        case ["api", "datasets"]:
            return _list(source, include_removed)
        case ["api", "datasets", project, name] if project and name:
            return _one(source, project, name)
        case ["api", "live"]:
            return _live(source, query.get("path", ["/"])[-1])
    now = datetime.now(UTC)
    page = page_at(source, target, now)
    if page is None:
        return text(404, f"not found: {parts.path}")
    return Response(200, HTML, render(page, script=SCRIPT, now=now).encode())


def _live(source: Source, target: str) -> Response:
    if not target.startswith("/") or target.startswith("/api/"):
        return text(400, "path: give the path of a page, as /datasets/<project>/<name>")
    now = datetime.now(UTC)
    page = page_at(source, target, now)
    if page is None:
        return text(404, f"not found: {urlsplit(target).path}")
    return _json({"at": clock(now), "parts": page.live_parts()})


def page_at(source: Source, target: str, now: datetime) -> Page | None:
    """The page at `target` (path and query) with the header's health, None if none."""
    parts = urlsplit(target)
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    query = parse_qs(parts.query)
    builders: dict[str, Callable[[StateReader, list[str]], Page | None]] = {
        "": lambda r, _: _index(source, r, Filter.of(query), now),
        "lineage": lambda r, _: _lineage(r, query.get("q", [""])[-1].strip()[:200]),
        "events": lambda r, _: _events(r, query, now),
        "datasets": lambda r, rest: _dataset(r, rest, query, now),
        "tasks": lambda r, rest: _task(r, rest, now),
        "runs": lambda r, rest: _run(source, r, rest, query, now),
    }
    if not segments:  # "//host/...": a network path, not one of ours
        return None
    head, rest = segments[0], segments[1:]
    if head not in builders or (head in ("", "lineage", "events") and rest):
        return None
    reader = source.reader()
    try:
        page = builders[head](reader, rest)
        if page is None:
            return None
        return replace(page, health=health_line(Health.read(reader), now))
    finally:
        reader.close()


def _index(source: Source, reader: StateReader, chosen: Filter, now: datetime) -> Page:
    rows, total = reader.datasets_page(
        status=chosen.status,
        name_contains=chosen.name or None,
        include_removed=chosen.include_removed,
        limit=INDEX_PAGE,
        offset=(chosen.page - 1) * INDEX_PAGE,
    )
    usage = source.usage(reader)
    baseline, changes = reader.storage_changes(limit=STORAGE_POINTS, scan_events=SCAN_EVENTS)
    plot = storage_plot(
        baseline, changes, capacity_bytes=usage.capacity_bytes, levels=source.levels, now=now
    )
    overview = capacity_panel(usage) + alerts_panel(reader.alerts())
    held = (
        f"<h2>Bytes held <span class='muted small'>(the newest {STORAGE_POINTS} changes at "
        f"most, among the newest {SCAN_EVENTS:,} events)</span></h2>" + plot
    )
    recent = reader.recent_runs(limit=RECENT_RUNS, scan_events=SCAN_EVENTS)
    runs = (
        f"<h2>Runs <span class='muted small'>(the newest {RECENT_RUNS} at most, among the "
        f"newest {SCAN_EVENTS:,} events)</span></h2>"
        + runs_plot(recent, now)
        + LEGEND
        + '<details id="recent-runs"><summary>the newest runs as a table</summary>'
        + runs_table(recent, now, project="", with_dataset=True)
        + "</details>"
    )
    listing = index_parts(rows, total, reader.status_counts(), chosen, now)
    # The data sets come before the plots: on a phone they are what is read first.
    parts = (("overview", overview), *listing, ("storage", held), ("recent", runs))
    return Page("amed: data sets", parts)


def _dataset(
    reader: StateReader, rest: list[str], query: dict[str, list[str]], now: datetime
) -> Page | None:
    if len(rest) != 2 or not all(rest):
        return None
    project, name = rest
    row = reader.dataset(name, project)
    if row is None:
        return None
    chosen, before = chosen_type(query), before_id(query)
    # Only the rows its pipeline shows: its inputs and the data sets made from it.
    inputs, _ = reader.datasets_page(project=project, names=row.inputs, limit=1000)
    users, _ = reader.datasets_page(project=project, needs=name, limit=1000)
    others = [*inputs, *users]
    view = DatasetView(
        row=row,
        versions=reader.versions(project, name),
        history=reader.events_page(
            project=project,
            dataset=name,
            types=(chosen,) if chosen else (),
            before_id=before,
            limit=HISTORY_PAGE,
        ),
        others=others,
        sizes=reader.version_sizes(project, name),
        runs=newest_runs(reader.producing_runs(project, name)),
    )
    page = dataset_page(view, now=now, chosen_type=chosen, before=before)
    graph = neighbourhood(row, others, reader.tasks())
    lineage = lineage_svg(graph, focus=("dataset", project, name), svg_id="neighbourhood")
    parts = tuple(
        (pid, body + lineage) if pid == "pipeline-part" else (pid, body) for pid, body in page.parts
    )
    return replace(page, parts=parts)


def _task(reader: StateReader, rest: list[str], now: datetime) -> Page | None:
    if len(rest) != 2 or not all(rest):
        return None
    project, name = rest
    consumer = next((t for t in reader.tasks() if t.key == (project, name)), None)
    made, total = reader.datasets_page(project=project, task=name, limit=TASK_DATASETS)
    if consumer is None and not made:
        return None
    runs = [r for d in made for r in reader.producing_runs(project, d.name)]
    runs += reader.task_runs(project, name)
    view = TaskView(project, name, consumer, made, total, newest_runs(runs))
    return task_page(view, now=now)


def _run(
    source: Source, reader: StateReader, rest: list[str], query: dict[str, list[str]], now: datetime
) -> Page | None:
    if len(rest) != 1 or not is_run_id(rest[0]):
        return None
    run_id = rest[0]
    project, dataset = (query.get(key, [""])[-1] for key in ("project", "dataset"))
    events = reader.run_events(run_id, within=(project, dataset or None)) if project else []
    if not events:  # no hint, or a wrong one: the whole log
        events = reader.run_events(run_id)
    if not events:
        return None
    raw = query.get("page", [""])[-1]
    log = read_log_page(source.state_dir, run_id, int(raw) if raw.isdigit() else None)
    return run_page(
        run_id, events, log, now=now, href=run_href(run_id, project or None, dataset or None)
    )


def _lineage(reader: StateReader, name: str) -> Page:
    """The graph of the first data sets (whose name holds `name`, when given)."""
    rows, total = reader.datasets_page(name_contains=name or None, limit=LINEAGE_DATASETS)
    graph = build(rows, reader.tasks())
    note = (
        f"<p class='muted small'>The first {len(rows)} of {total} data sets; narrow them by "
        "name, or open a data set's page for its own neighbourhood.</p>"
        if total > len(rows)
        else ""
    )
    form = (
        '<form class="filter" method="get" action="/lineage">'
        f'<input type="search" name="q" value="{esc(name)}" placeholder="name contains" '
        'aria-label="name contains"><button>filter</button></form>'
    )
    return Page(
        "amed: lineage",
        (
            ("lineage-filter", "<h2>Lineage</h2>" + form),
            ("lineage-part", note + lineage_svg(graph)),
        ),
    )


def _events(reader: StateReader, query: dict[str, list[str]], now: datetime) -> Page:
    chosen, before = chosen_type(query), before_id(query)
    types = (chosen,) if chosen else ()
    events = reader.events_page(types=types, before_id=before, limit=HISTORY_PAGE)
    return Page(
        "amed: events",
        (
            (
                "history-filter",
                "<h2>Events</h2>" + type_filter("/events", chosen) + unknown_type_note(query),
            ),
            (
                "history-part",
                history_list(events, now, with_dataset=True)
                + pager("/events", events, chosen, before),
            ),
        ),
    )


def _list(source: Source, include_removed: bool) -> Response:
    reader = source.reader()
    try:
        rows = reader.datasets(include_removed=include_removed)
    finally:
        reader.close()
    return _json([dataset_json(r) for r in rows])


def _one(source: Source, project: str, name: str) -> Response:
    reader = source.reader()
    try:
        row = reader.dataset(name, project)
        if row is None:
            return text(404, f"no data set {project}/{name}")
        versions = reader.versions(project, name)
        history = list(reader.events(project=project, dataset=name))
        state_id = reader.state_id()
        others = reader.datasets()
    finally:
        reader.close()
    document = dataset_document(row, versions, history, others)
    document["manifest"] = manifest_summary(source.storage_url, row, state_id)
    return _json(document)


def _metrics(source: Source) -> Response:
    reader = source.reader()
    try:
        body = scrape(
            reader,
            capacity_bytes=source.capacity_bytes,
            disk_free_bytes=source.disk_free_bytes(),
        )
    finally:
        reader.close()
    return Response(200, METRICS_CONTENT_TYPE, body.encode())
