"""A page per task (its runs, outcomes and durations) and per run (what it printed).

A task produces data sets, consumes them, or both: its page gathers the producing runs of
the data sets it makes and its own runs as a consumer. A run's page reads the output log
the daemon wrote under `<state dir>/runs/<run id>/output.log` (secrets already masked when
written; escaped here all the same), one `LOG_PAGE_BYTES` page at a time, the last page
first: that is where a failure is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from amed.engine.run_logs import open_output_log
from amed.web.history import history_list
from amed.web.html import Page, badge, dataset_href, esc, link, run_href, task_href, with_query
from amed.web.pages import runs_table
from amed.web.plots import LEGEND, runs_plot
from state.history import LoggedEvent, RunRecord
from state.rows import DatasetRow, TaskRow

LOG_PAGE_BYTES = 256 * 1024
OUTPUT_LOG = "output.log"
_RUN_ID = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,200}")
"""What a run id looks like (`amed.run_ids`): anything else is no run, never a path."""


def is_run_id(text: str) -> bool:
    return _RUN_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class TaskView:
    project: str
    name: str
    consumer: TaskRow | None
    produces: Sequence[DatasetRow]
    produces_total: int
    runs: Sequence[RunRecord]


def task_page(view: TaskView, *, now: datetime) -> Page:
    """The task's data sets, its runs as a timeline and a table, each run linked."""
    made = ", ".join(
        link(dataset_href(d.project, d.name), d.name) + " " + badge(d.status) for d in view.produces
    )
    if view.produces_total > len(view.produces):
        made += f" and {view.produces_total - len(view.produces)} more"
    items = [("produces", made or "nothing")]
    consumer = view.consumer
    if consumer is not None:
        needs = ", ".join(link(dataset_href(view.project, n), n) for n in consumer.data_sets)
        last = (
            link(run_href(consumer.last_run_id, view.project), consumer.last_run_id)
            if consumer.last_run_id
            else "–"
        )
        items += [
            ("consumes", needs or "nothing"),
            ("status", badge(consumer.status)),
            ("schedule", esc(consumer.schedule or "on request")),
            ("runs", esc(f"{consumer.runs}, {consumer.failures} failed")),
            ("last run", last),
        ]
        if consumer.error:
            items.append(("error", f'<span class="err">{esc(consumer.error)}</span>'))
    pairs = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    parts = (
        (
            "summary",
            f"<h2>task {esc(view.project)} / {esc(view.name)}</h2>"
            f'<section class="panel"><dl>{pairs}</dl></section>',
        ),
        (
            "runs-part",
            "<h2>Runs</h2>"
            + runs_plot(view.runs, now, project=view.project)
            + LEGEND
            + runs_table(view.runs, now, project=view.project, with_dataset=True),
        ),
    )
    return Page(f"amed: task {view.project}/{view.name}", parts)


@dataclass(frozen=True)
class LogPage:
    """One page of a run's output: its text, which page (1-based) of how many."""

    text: str
    page: int
    pages: int
    size_bytes: int


def read_log_page(state_dir: Path, run_id: str, page: int | None) -> LogPage | None:
    """Page `page` of the run's output (None: the last), or None when none was kept.

    A task can write next to its log: a symbolic link put in the log's place (or the run
    directory's) is no log, so that it cannot show the state's secret files on a page."""
    opened = open_output_log(state_dir / "runs", run_id)
    if opened is None:
        return None
    with opened as log:
        size = log.seek(0, 2)
        pages = max(1, -(-size // LOG_PAGE_BYTES))
        chosen = pages if page is None else min(max(page, 1), pages)
        log.seek((chosen - 1) * LOG_PAGE_BYTES)
        raw = log.read(LOG_PAGE_BYTES)
    return LogPage(raw.decode("utf-8", errors="replace"), chosen, pages, size)


def _log_part(href: str, log: LogPage | None) -> str:
    """`href`: the run page's own, its index hint included, which the pages keep."""
    if log is None:
        return '<p class="muted" id="log">No output was kept for this run.</p>'
    links = []
    if log.page > 1:
        links += [
            link(with_query(href, page=1), "first"),
            link(with_query(href, page=log.page - 1), "earlier"),
        ]
    if log.page < log.pages:
        links += [link(with_query(href, page=log.page + 1), "later"), link(href, "last")]
    where = f"page {log.page} of {log.pages} ({log.size_bytes} bytes in all)"
    nav = (
        f'<div class="pager"><span class="muted small">{esc(where)}</span> {" ".join(links)}</div>'
    )
    return f'{nav}<pre id="log">{esc(log.text)}</pre>{nav if log.pages > 1 else ""}'


def run_page(
    run_id: str, events: Sequence[LoggedEvent], log: LogPage | None, *, now: datetime, href: str
) -> Page:
    """What the run was (its data set or task, outcome), its events, and its output.
    `href`: the page's own address, which its log's page links keep."""
    first = events[0].event if events else None
    data = first.model_dump(mode="json") if first is not None else {}
    items = []
    if first is not None and first.dataset:
        items.append(("data set", link(dataset_href(first.project, first.dataset), first.dataset)))
    if first is not None and data.get("task"):
        items.append(("task", link(task_href(first.project, data["task"]), data["task"])))
    ends = {
        "run_succeeded": "uploading",
        "version_stored": "succeeded",
        "run_failed": "failed",
        "task_finished": None,
    }
    outcome = "running"
    for logged in events:
        if logged.event.type in ends:
            found = ends[logged.event.type]
            if found is None:
                found = "succeeded" if getattr(logged.event, "ok", False) else "failed"
            outcome = found
    items.append(("outcome", badge(outcome)))
    pairs = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    parts = (
        (
            "summary",
            f"<h2>run {esc(run_id)}</h2><section class='panel'><dl>{pairs}</dl></section>"
            "<h2>Events</h2>" + history_list(list(reversed(events)), now, with_dataset=True),
        ),
        ("output", "<h2>Output</h2>" + _log_part(href, log)),
    )
    return Page(f"amed: run {run_id}", parts)
