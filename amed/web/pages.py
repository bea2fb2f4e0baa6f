"""The dashboard's pages: self-contained HTML with inline CSS, no script, no external asset.

Every value that reaches a page goes through `html.escape` (`_e`): data set names, errors and
task output come from users. Pages refresh themselves every `REFRESH_SECONDS`; on a narrow
screen the data set table turns into one card per data set.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from amed.plan.capacity import Usage
from amed.web.listing import age, dependants
from spec import format_bytes
from state.read import LoggedEvent
from state.rows import AlertRow, DatasetRow, VersionRow
from state.timefmt import parse_time

REFRESH_SECONDS = 5
HISTORY_LIMIT = 200
"""Newest events shown on a data set's page; the API gives all of them."""
ERROR_PREVIEW_CHARS = 160

_CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;
gap:.3rem 1rem;align-items:baseline}
header h1{font-size:1.1rem;margin:0}header a{color:#fff}
header .meta{color:#aab3c0;font-size:.85rem}
main{padding:1rem;max-width:75rem;margin:0 auto}
h2{font-size:1rem;margin:1.4rem 0 .5rem}
a{color:#1f5fbf}
.muted{color:#6b7685}.small{font-size:.85rem}
.panel{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:.75rem 1rem;
margin-bottom:1rem}
.bar{height:.9rem;background:#e3e7ed;border-radius:5px;overflow:hidden;margin:.4rem 0}
.bar span{display:block;height:100%;background:#2f7d4f}
.bar.warn span{background:#c98a00}.bar.full span{background:#c0392b}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{white-space:nowrap;font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#5b6573;
background:#fafbfc}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.proj{display:block;font-size:.8rem;font-weight:400;color:#6b7685}
.err{color:#a12a1e;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;
font-weight:600;background:#e3e7ed;color:#3b4452;white-space:nowrap}
.s-ready{background:#d8f0e0;color:#1d6b3c}
.s-failed,.s-blocked{background:#fbdcd8;color:#a12a1e}
.s-running,.s-uploading{background:#dbe8fb;color:#1f4f99}
.s-evicted{background:#efe3f7;color:#6a3d8a}
.alerts li{margin:.2rem 0}
.sev-critical{color:#a12a1e;font-weight:600}.sev-warning{color:#8a6100;font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}
dt{color:#5b6573}dd{margin:0;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f4f6;padding:.5rem;
border-radius:6px;margin:.3rem 0;font-size:.85rem}
ul.links{list-style:none;padding:0;margin:0}ul.links li{margin:.1rem 0}
ol.history{list-style:none;padding:0;margin:0}
ol.history li{background:#fff;border:1px solid #dde1e7;border-radius:8px;
padding:.5rem .75rem;margin-bottom:.5rem}
ol.history time{font-size:.8rem;color:#6b7685;margin-right:.5rem}
@media (max-width:700px){
main{padding:.6rem}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:100%}
table.cards{background:none}
table.cards tr{background:#fff;border:1px solid #dde1e7;border-radius:8px;
margin-bottom:.6rem;padding:.4rem .75rem}
table.cards td{display:flex;justify-content:space-between;gap:1rem;border:0;padding:.15rem 0;
text-align:right}
table.cards td::before{content:attr(data-label);color:#5b6573;font-size:.85rem;
text-align:left;white-space:nowrap}
table.cards td.name{display:block;text-align:left;font-size:1.05rem;font-weight:600;
border-bottom:1px solid #eef0f3;padding-bottom:.3rem;margin-bottom:.2rem}
table.cards td.name::before{content:none}
table.cards td.empty{display:none}
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _bytes(size_bytes: int | None) -> str:
    return format_bytes(size_bytes) if size_bytes is not None else "–"


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _time(moment: datetime | None, now: datetime, *, relative: bool = True) -> str:
    if moment is None:
        return "–"
    iso = _clock(moment)
    shown = age(moment, now) if relative else iso
    return f'<time datetime="{_e(moment.isoformat())}" title="{_e(iso)}">{_e(shown)}</time>'


def dataset_href(row: DatasetRow) -> str:
    return _href(row.project, row.name)


def _href(project: str, name: str) -> str:
    return f"/datasets/{quote(project, safe='')}/{quote(name, safe='')}"


def _badge(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def _page(title: str, body: str, *, now: datetime, heading: str = "amed") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1><a href="/">{_e(heading)}</a></h1>'
        f'<span class="meta">{_e(_clock(now))} · '
        f"refreshes every {REFRESH_SECONDS} s</span></header>"
        f"<main>{body}</main></body></html>\n"
    )


def capacity_panel(usage: Usage) -> str:
    """Used and free of capacity, as a bar when the capacity is known."""
    used, free, capacity = usage.used_bytes, usage.free_bytes, usage.capacity_bytes
    parts = [f"<b>{_e(format_bytes(used))}</b> used"]
    if free is not None:
        parts.append(f"<b>{_e(format_bytes(free))}</b> free")
    if capacity is None:
        parts.append("capacity unknown")
        return f'<section class="panel" id="capacity">{" · ".join(parts)}</section>'
    percent = usage.used_percent or 0.0
    parts.append(f"of {_e(format_bytes(capacity))} ({percent:.0f}%)")
    level = "full" if percent >= 90 else "warn" if percent >= 80 else ""
    width = min(max(percent, 0.0), 100.0)
    return (
        f'<section class="panel" id="capacity"><div>{" · ".join(parts)}</div>'
        f'<div class="bar {level}" role="img" aria-label="{percent:.0f}% used">'
        f'<span style="width:{width:.1f}%"></span></div></section>'
    )


def _alerts_panel(alerts: Iterable[AlertRow]) -> str:
    firing = [a for a in alerts if a.firing]
    if not firing:
        return ""
    items = "".join(
        f'<li><span class="sev-{_e(a.severity)}">{_e(a.severity)}</span> '
        f"{_e(a.title)} <span class='muted small'>({_e(a.key)})</span></li>"
        for a in firing
    )
    return f'<section class="panel alerts"><b>Alerts firing</b><ul>{items}</ul></section>'


_INDEX_COLUMNS = (
    "Data set",
    "Status",
    "Size",
    "Declared",
    "Version",
    "Last produced",
    "In use by",
    "Error",
)


def _cell(label: str, content: str, css: str = "") -> str:
    classes = css + (" empty" if content in ("", "–") else "")
    return f'<td data-label="{_e(label)}" class="{classes.strip()}">{content}</td>'


def _index_row(row: DatasetRow, now: datetime) -> str:
    error = ""
    if row.error:
        first = row.error.splitlines()[0] if row.error.strip() else row.error
        if len(first) > ERROR_PREVIEW_CHARS:
            first = first[:ERROR_PREVIEW_CHARS] + "…"
        error = f'<span class="err">{_e(first)}</span>'
    cells = (
        _cell(
            "Data set",
            f'<a href="{_e(dataset_href(row))}">{_e(row.name)}</a>'
            f'<span class="proj">{_e(row.project)}</span>',
            "name",
        ),
        _cell("Status", _badge(row.status)),
        _cell("Size", _e(_bytes(row.size_bytes)), "num"),
        _cell("Declared", _e(_bytes(row.declared_size_bytes)), "num"),
        _cell("Version", _e(row.version if row.version is not None else "–"), "num"),
        _cell("Last produced", _time(row.produced_at, now), "num"),
        _cell("In use by", _e(", ".join(row.in_use_by)) if row.in_use_by else "–"),
        _cell("Error", error),
    )
    return f'<tr id="ds-{_e(row.project)}-{_e(row.name)}">{"".join(cells)}</tr>'


def index_page(
    rows: Sequence[DatasetRow],
    usage: Usage,
    alerts: Iterable[AlertRow],
    *,
    now: datetime,
    include_removed: bool,
) -> str:
    """Every data set with its status, sizes, version, last production and users."""
    toggle = (
        '<a href="/">hide removed</a>' if include_removed else '<a href="/?all=1">show removed</a>'
    )
    if rows:
        head = "".join(f"<th>{_e(c)}</th>" for c in _INDEX_COLUMNS)
        body = "".join(_index_row(r, now) for r in rows)
        table = (
            f'<div class="scroll"><table class="cards" id="datasets"><thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div>"
        )
    else:
        table = '<p class="panel muted" id="datasets">No data sets recorded yet.</p>'
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    body_html = (
        capacity_panel(usage)
        + _alerts_panel(alerts)
        + f'<h2>Data sets <span class="muted small">({_e(summary)}) · {toggle}</span></h2>'
        + table
    )
    return _page("amed: data sets", body_html, now=now)


def _details(row: DatasetRow, now: datetime) -> str:
    items: list[tuple[str, str]] = [
        ("project", _e(row.project)),
        ("version", _e(row.version if row.version is not None else "–")),
        ("size", _e(_bytes(row.size_bytes))),
        ("declared size", _e(_bytes(row.declared_size_bytes))),
        ("files", _e(row.files if row.files is not None else "–")),
        ("path", _e(row.path)),
        ("task", _e(row.task)),
        ("in use by", _e(", ".join(row.in_use_by) or "–")),
        ("last produced", _time(row.produced_at, now, relative=False)),
        ("last used", _time(row.last_used_at, now, relative=False)),
        ("updated", _time(row.updated_at, now, relative=False)),
        ("attempts", _e(row.attempts)),
        ("next retry", _time(row.retry_at, now, relative=False)),
    ]
    pairs = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items)
    error = f'<h2>Error</h2><pre class="err">{_e(row.error)}</pre>' if row.error else ""
    return f'<section class="panel"><dl>{pairs}</dl></section>{error}'


def _pipeline(row: DatasetRow, others: Sequence[DatasetRow]) -> str:
    """Its inputs and dependants, each a link to its page, with its status when recorded.
    Dependants are found by `listing.dependants`, as `ame ds show` finds them, so the page,
    the API and the command never disagree."""
    statuses = {o.name: o.status for o in others if o.project == row.project}

    def links(names: Sequence[str], list_id: str) -> str:
        if not names:
            return f'<span class="muted" id="{list_id}">none</span>'
        items = "".join(
            f'<li><a href="{_e(_href(row.project, n))}">{_e(n)}</a>'
            + (f" {_badge(statuses[n])}" if n in statuses else "")
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
    rows = "".join(
        "<tr>"
        + _cell("Version", _e(v.version), "num")
        + _cell("Size", _e(format_bytes(v.size_bytes)), "num")
        + _cell("Files", _e(v.files), "num")
        + _cell("Stored", _time(v.stored_at, now, relative=False))
        + _cell("State", "current" if v.current else "superseded")
        + "</tr>"
        for v in versions
    )
    head = "".join(f"<th>{c}</th>" for c in ("Version", "Size", "Files", "Stored", "State"))
    return (
        f'<div class="scroll"><table class="cards" id="versions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


_TROUBLE = frozenset({"run_failed", "dataset_blocked", "alert_delivery_failed"})
_SKIP_FIELDS = frozenset({"type", "at", "project", "dataset", "reason", "output_tail"})


def _field(key: str, value: Any) -> str:
    if key.endswith("_bytes") and isinstance(value, int):
        return format_bytes(value)
    if key.endswith("_hash") and isinstance(value, str):
        return value[:12]
    if key.endswith("_at") and isinstance(value, str):
        return _clock(parse_time(value))
    if key == "seconds" and isinstance(value, int | float):
        return f"{value:.1f} s"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _label(key: str) -> str:
    if key == "seconds":
        return "took"
    return key.removesuffix("_bytes").replace("_", " ")


def _history_item(logged: LoggedEvent, now: datetime) -> str:
    event = logged.event
    data = event.model_dump(mode="json")
    reason = data.get("reason") or data.get("error") or ""
    details = " · ".join(
        f"{_label(k)} {_field(k, v)}"
        for k, v in data.items()
        if k not in _SKIP_FIELDS and v is not None
    )
    tone = "err" if event.type in _TROUBLE else "reason"
    tail = data.get("output_tail")
    output = (
        f"<details><summary class='small'>output</summary><pre>{_e(tail)}</pre></details>"
        if tail
        else ""
    )
    return (
        f'<li id="event-{logged.id}">{_time(event.at, now, relative=False)}'
        f"<b>{_e(event.type.replace('_', ' '))}</b>"
        + (f' <span class="{tone}">{_e(reason)}</span>' if reason else "")
        + (f'<div class="muted small">{_e(details)}</div>' if details else "")
        + output
        + "</li>"
    )


def dataset_page(
    row: DatasetRow,
    versions: Sequence[VersionRow],
    history: Sequence[LoggedEvent],
    others: Sequence[DatasetRow] = (),
    *,
    now: datetime,
) -> str:
    """One data set: its details, its inputs and dependants (`others`: the data sets it may
    be linked to, as `ame ds show` reads them), stored versions and its history, newest
    first."""
    newest = list(reversed(history))[:HISTORY_LIMIT]
    more = (
        f'<p class="muted small">The newest {HISTORY_LIMIT} of {len(history)} events; '
        f'all of them at <a href="/api{_e(dataset_href(row))}">the API</a>.</p>'
        if len(history) > HISTORY_LIMIT
        else ""
    )
    events = "".join(_history_item(e, now) for e in newest) or "<li class='muted'>none</li>"
    body = (
        f"<h2>{_e(row.project)} / {_e(row.name)} {_badge(row.status)}</h2>"
        + _details(row, now)
        + "<h2>Pipeline</h2>"
        + _pipeline(row, others)
        + "<h2>Stored versions</h2>"
        + _versions(versions, now)
        + "<h2>History <span class='muted small'>(newest first)</span></h2>"
        + f'<ol class="history" id="history">{events}</ol>'
        + more
    )
    return _page(f"amed: {row.project}/{row.name}", body, now=now)
