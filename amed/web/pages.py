"""The overview and a data set's page, as `Page`s (see `amed.web.html`).

The overview shows one page of `INDEX_PAGE` data sets, filtered by status and name, so it
stays fast at 10,000; the counts come from one GROUP BY. A data set's page shows its
details, inputs and dependants, its size per version and its runs as plots, its stored
versions and one page of its history, filtered by event type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from amed.plan.capacity import Usage
from amed.web.history import HISTORY_PAGE, history_list, pager, type_filter
from amed.web.html import (
    Page,
    badge,
    cell,
    clock,
    dataset_href,
    esc,
    link,
    run_href,
    size_text,
    table,
    task_href,
    time_tag,
    with_query,
)
from amed.web.listing import dependants
from amed.web.plots import LEGEND, run_seconds, runs_plot, version_sizes_plot
from spec import format_bytes
from state.history import LoggedEvent, RunRecord, StoredSize
from state.rows import STATUSES, AlertRow, DatasetRow, VersionRow
from state.timefmt import parse_time

INDEX_PAGE = 200
"""Data sets on one page of the overview."""
ERROR_PREVIEW_CHARS = 160
RUNS_SHOWN = 50


def details_id(prefix: str, *key: str) -> str:
    """A stable id for a `<details>`, whatever characters the names hold, so that live
    updates find it again."""
    return f"{prefix}-{hashlib.sha256('/'.join(key).encode()).hexdigest()[:12]}"


def capacity_panel(usage: Usage) -> str:
    """Used and free of capacity, as a bar when the capacity is known."""
    used, free, capacity = usage.used_bytes, usage.free_bytes, usage.capacity_bytes
    parts = [f"<b>{esc(format_bytes(used))}</b> used"]
    if free is not None:
        parts.append(f"<b>{esc(format_bytes(free))}</b> free")
    if capacity is None:
        parts.append("capacity unknown")
        return f'<section class="panel" id="capacity">{" · ".join(parts)}</section>'
    percent = usage.used_percent or 0.0
    parts.append(f"of {esc(format_bytes(capacity))} ({percent:.0f}%)")
    level = "full" if percent >= 90 else "warn" if percent >= 80 else ""
    width = min(max(percent, 0.0), 100.0)
    return (
        f'<section class="panel" id="capacity"><div>{" · ".join(parts)}</div>'
        f'<div class="bar {level}" role="img" aria-label="{percent:.0f}% used">'
        f'<span style="width:{width:.1f}%"></span></div></section>'
    )


def alerts_panel(alerts: Iterable[AlertRow]) -> str:
    firing = [a for a in alerts if a.firing]
    if not firing:
        return ""
    items = "".join(
        f'<li><span class="sev-{esc(a.severity)}">{esc(a.severity)}</span> '
        f"{esc(a.title)} <span class='muted small'>({_alert_key(a.key)})</span></li>"
        for a in firing
    )
    return f'<section class="panel alerts"><b>Alerts firing</b><ul>{items}</ul></section>'


def _alert_key(key: str) -> str:
    """The key, linked to the page of the data set or task it names (`kind:project/name`,
    as `amed.plan.conditions` makes them)."""
    kind, _, rest = key.partition(":")
    project, slash, name = rest.partition("/")
    name = name.split(":")[0]
    if not (slash and project and name):
        return esc(key)
    href = task_href(project, name) if kind.startswith("task") else dataset_href(project, name)
    return link(href, key)


@dataclass(frozen=True)
class Filter:
    """The overview's query: a status, a part of the name, removed ones too, a page."""

    status: str | None = None
    name: str = ""
    include_removed: bool = False
    page: int = 1
    unknown_status: str | None = None
    """A status asked for that does not exist: said on the page, not silently dropped."""

    @classmethod
    def of(cls, query: dict[str, list[str]]) -> Filter:
        def last(key: str) -> str:
            return query.get(key, [""])[-1].strip()

        status = last("status")
        page = last("page")
        return cls(
            status=status if status in STATUSES else None,
            name=last("q")[:200],
            include_removed=last("all").lower() in ("1", "true", "yes"),
            page=max(int(page), 1) if page.isdigit() else 1,
            unknown_status=status[:40] if status and status not in STATUSES else None,
        )

    def href(self, **changes: object) -> str:
        values = {
            "q": self.name,
            "status": self.status,
            "all": "1" if self.include_removed else None,
            "page": self.page,
        } | changes
        if values["page"] == 1:
            values["page"] = None  # the first page is the plain one
        return with_query("/", **values)


def _filter_form(chosen: Filter) -> str:
    options = "".join(
        f'<option value="{s}"{" selected" if s == chosen.status else ""}>{s}</option>'
        for s in STATUSES
    )
    removed = " checked" if chosen.include_removed else ""
    return (
        '<form class="filter" method="get" action="/" id="filter">'
        f'<input type="search" name="q" value="{esc(chosen.name)}" placeholder="name contains" '
        'aria-label="name contains">'
        f'<select name="status" aria-label="status"><option value="">any status</option>'
        f"{options}</select>"
        f'<label><input type="checkbox" name="all" value="1"{removed}> removed too</label>'
        "<button>filter</button></form>"
        + (
            f'<p class="err">No status is called "{esc(chosen.unknown_status)}"; showing '
            f"every status (statuses: {', '.join(STATUSES)}).</p>"
            if chosen.unknown_status
            else ""
        )
    )


def _index_row(row: DatasetRow, now: datetime) -> str:
    error = ""
    if row.error:
        first = row.error.splitlines()[0] if row.error.strip() else row.error
        if len(first) > ERROR_PREVIEW_CHARS:
            first = first[:ERROR_PREVIEW_CHARS] + "…"
        error = (
            f'<details id="{details_id("err", row.project, row.name)}"><summary class="err">'
            f'{esc(first)}</summary><pre class="err">{esc(row.error)}</pre></details>'
        )
    cells = (
        cell(
            "Data set",
            link(dataset_href(row.project, row.name), row.name)
            + f'<span class="proj">{esc(row.project)}</span>',
            "name",
        ),
        cell("Status", badge(row.status)),
        cell("Size", esc(size_text(row.size_bytes)), "num"),
        cell("Declared", esc(size_text(row.declared_size_bytes)), "num"),
        cell("Version", esc(row.version if row.version is not None else "–"), "num"),
        cell("Last produced", time_tag(row.produced_at, now), "num"),
        cell("Task", link(task_href(row.project, row.task), row.task)),
        cell(
            "In use by",
            ", ".join(link(task_href(row.project, t), t) for t in row.in_use_by) or "–",
        ),
        cell("Error", error),
    )
    return f'<tr id="ds-{esc(row.project)}-{esc(row.name)}">{"".join(cells)}</tr>'


_INDEX_COLUMNS = (
    "Data set",
    "Status",
    "Size",
    "Declared",
    "Version",
    "Last produced",
    "Task",
    "In use by",
    "Error",
)


def index_parts(
    rows: Sequence[DatasetRow], total: int, counts: dict[str, int], chosen: Filter, now: datetime
) -> tuple[tuple[str, str], ...]:
    """The filter form and one page of the data sets that match, with links to the others."""
    summary = ", ".join(
        link(chosen.href(status=s, page=None), f"{n} {s}") for s, n in sorted(counts.items()) if n
    )
    if rows:
        listing = table(_INDEX_COLUMNS, [_index_row(r, now) for r in rows], "datasets")
    else:
        nothing = "No data sets match." if total or chosen.name or chosen.status else ""
        listing = (
            f'<p class="panel muted" id="datasets">{nothing or "No data sets recorded yet."}</p>'
        )
    first = (chosen.page - 1) * INDEX_PAGE
    shown = f"{first + 1}–{first + len(rows)} of {total}" if rows else f"0 of {total}"
    pages = []
    if chosen.page > 1:
        pages.append(link(chosen.href(page=chosen.page - 1), "previous"))
    if first + len(rows) < total:
        pages.append(link(chosen.href(page=chosen.page + 1), "next"))
    return (
        ("filters", _filter_form(chosen)),
        (
            "listing",
            f'<h2>Data sets <span class="muted small">({summary or "none"}) · '
            f"showing {esc(shown)}</span></h2>"
            + listing
            + (f'<div class="pager">{" ".join(pages)}</div>' if pages else ""),
        ),
    )


def _details(row: DatasetRow, now: datetime) -> str:
    items: list[tuple[str, str]] = [
        ("project", esc(row.project)),
        ("version", esc(row.version if row.version is not None else "–")),
        ("size", esc(size_text(row.size_bytes))),
        ("declared size", esc(size_text(row.declared_size_bytes))),
        ("files", esc(row.files if row.files is not None else "–")),
        ("path", esc(row.path)),
        ("task", link(task_href(row.project, row.task), row.task)),
        (
            "run",
            link(run_href(row.run_id, row.project, row.name), row.run_id) if row.run_id else "–",
        ),
        (
            "in use by",
            ", ".join(link(task_href(row.project, t), t) for t in row.in_use_by) or "–",
        ),
        ("last produced", time_tag(row.produced_at, now, relative=False)),
        ("last used", time_tag(row.last_used_at, now, relative=False)),
        ("updated", time_tag(row.updated_at, now, relative=False)),
        ("attempts", esc(row.attempts)),
        ("next retry", time_tag(row.retry_at, now, relative=False)),
    ]
    pairs = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items)
    error = f'<h2>Error</h2><pre class="err">{esc(row.error)}</pre>' if row.error else ""
    return f'<section class="panel"><dl>{pairs}</dl></section>{error}'


def pipeline_panel(row: DatasetRow, others: Sequence[DatasetRow]) -> str:
    """Its inputs and dependants, each a link to its page, with its status when recorded.
    Dependants are found by `listing.dependants`, as `ame ds show` finds them, so the page,
    the API and the command never disagree."""
    statuses = {o.name: o.status for o in others if o.project == row.project}

    def links(names: Sequence[str], list_id: str) -> str:
        if not names:
            return f'<span class="muted" id="{list_id}">none</span>'
        items = "".join(
            f"<li>{link(dataset_href(row.project, n), n)}"
            + (f" {badge(statuses[n])}" if n in statuses else "")
            + "</li>"
            for n in names
        )
        return f'<ul class="links" id="{list_id}">{items}</ul>'

    return (
        '<section class="panel" id="pipeline"><dl>'
        f"<dt>inputs</dt><dd>{links(list(row.inputs), 'inputs')}</dd>"
        f"<dt>dependants</dt><dd>{links(dependants(row, others), 'dependants')}</dd>"
        "</dl></section>"
    )


def _versions(versions: Sequence[VersionRow], now: datetime) -> str:
    if not versions:
        return '<p class="muted">No stored version.</p>'
    rows = [
        "<tr>"
        + cell("Version", esc(v.version), "num")
        + cell("Size", esc(format_bytes(v.size_bytes)), "num")
        + cell("Files", esc(v.files), "num")
        + cell("Stored", time_tag(v.stored_at, now, relative=False))
        + cell("State", "current" if v.current else "superseded")
        + "</tr>"
        for v in versions
    ]
    return table(("Version", "Size", "Files", "Stored", "State"), rows, "versions")


def runs_table(
    runs: Sequence[RunRecord], now: datetime, *, project: str, with_dataset: bool = False
) -> str:
    """The newest runs first, each linked to its page (and its whole output); with
    `with_dataset`, a column links each run's data set. `project`: theirs, unless a run
    names its own."""
    if not runs:
        return '<p class="muted">No run yet.</p>'
    rows = []
    for run in sorted(runs, key=lambda r: r.seq, reverse=True)[:RUNS_SHOWN]:
        outcome = {True: "succeeded", False: "failed", None: "running"}[run.ok]
        seconds = run_seconds(run, now)
        reason = (run.reason or "").splitlines()[0][:ERROR_PREVIEW_CHARS] if run.reason else ""
        rows.append(
            "<tr>"
            + cell(
                "Run",
                link(run_href(run.run_id, run.project or project, run.dataset), run.run_id)
                if run.run_id
                else "never ran",
            )
            + (
                cell("Data set", _dataset_link(run.project or project, run.dataset))
                if with_dataset
                else ""
            )
            + cell("Outcome", badge(outcome))
            + cell(
                "Began", esc(clock(parse_time(run.started_at)) if run.started_at else "–"), "num"
            )
            + cell("Took", esc(f"{seconds:.1f} s" if seconds is not None else "–"), "num")
            + cell("Reason", f'<span class="err">{esc(reason)}</span>' if reason else "")
            + "</tr>"
        )
    columns = ("Run", *(("Data set",) if with_dataset else ()), "Outcome", "Began", "Took")
    return table((*columns, "Reason"), rows, "runs")


def _dataset_link(project: str, name: str | None) -> str:
    return link(dataset_href(project, name), name) if name else "–"


@dataclass(frozen=True)
class DatasetView:
    """What a data set's page is made of, as the server reads it."""

    row: DatasetRow
    versions: Sequence[VersionRow]
    history: Sequence[LoggedEvent]
    others: Sequence[DatasetRow]
    sizes: Sequence[StoredSize]
    runs: Sequence[RunRecord]


def dataset_page(
    view: DatasetView, *, now: datetime, chosen_type: str | None, before: int | None
) -> Page:
    """One data set: details, inputs and dependants, plots, versions, one page of history."""
    row = view.row
    path = dataset_href(row.project, row.name)
    parts = (
        (
            "summary",
            f"<h2>{esc(row.project)} / {esc(row.name)} {badge(row.status)}</h2>"
            + _details(row, now),
        ),
        ("pipeline-part", "<h2>Pipeline</h2>" + pipeline_panel(row, view.others)),
        (
            "plots",
            "<h2>Size per version</h2>"
            + version_sizes_plot(view.sizes)
            + "<h2>Runs</h2>"
            + runs_plot(view.runs, now, project=row.project)
            + LEGEND
            + runs_table(view.runs, now, project=row.project),
        ),
        ("versions-part", "<h2>Stored versions</h2>" + _versions(view.versions, now)),
        ("history-filter", "<h2>History</h2>" + type_filter(path, chosen_type)),
        (
            "history-part",
            history_list(view.history, now)
            + pager(path, view.history, chosen_type, before)
            + f'<p class="muted small">{HISTORY_PAGE} events a page, newest first; all of them '
            f"at {link('/api' + path, 'the API')}.</p>",
        ),
    )
    return Page(f"amed: {row.project}/{row.name}", parts)
