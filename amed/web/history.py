"""Events as a person reads them: newest first, one page at a time, filtered by type.

A page holds `HISTORY_PAGE` events; the next one starts before the oldest shown (`before`,
an event id), so paging stays cheap however long the log and stable while it grows. Every
id in an event (data set, task, run) is a link to its page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

from amed.web.html import (
    clock,
    dataset_href,
    esc,
    link,
    run_href,
    task_href,
    time_tag,
    with_query,
)
from spec import format_bytes
from state.events import Event
from state.history import LoggedEvent
from state.timefmt import parse_time

HISTORY_PAGE = 100

EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        model.model_fields["type"].default
        for model in get_args(get_args(Event)[0])  # Annotated[Union[...], Field]
    )
)

_TROUBLE = frozenset({"run_failed", "dataset_blocked", "alert_delivery_failed", "input_failed"})
_SKIP_FIELDS = frozenset(
    {"type", "at", "project", "dataset", "reason", "output_tail", "run_id", "task"}
)


def _field(key: str, value: Any) -> str:
    if key.endswith("_bytes") and isinstance(value, int):
        return format_bytes(value)
    if key.endswith(("_hash", "_digest")) and isinstance(value, str):
        return value[:12]
    if key.endswith("_at") and isinstance(value, str):
        return clock(parse_time(value))
    if key == "seconds" and isinstance(value, int | float):
        return f"{value:.1f} s"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {str(v)[:12]}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _value(key: str, value: Any, project: str) -> str:
    """The field as HTML: the data sets an event names (its inputs, a task's data sets)
    are links to their pages."""
    if key in ("inputs", "data_sets") and isinstance(value, dict | list | tuple):
        names = value.items() if isinstance(value, dict) else ((n, None) for n in value)
        return ", ".join(
            link(dataset_href(project, str(name)), name)
            + (f" {esc(str(other)[:12])}" if other is not None else "")
            for name, other in names
        )
    return esc(_field(key, value))


def _label(key: str) -> str:
    if key == "seconds":
        return "took"
    return key.removesuffix("_bytes").replace("_", " ")


def _ids(data: dict[str, Any], project: str, *, with_dataset: bool) -> str:
    links = []
    if with_dataset and data.get("dataset"):
        links.append(link(dataset_href(project, data["dataset"]), data["dataset"]))
    if data.get("task"):
        links.append("task " + link(task_href(project, data["task"]), data["task"]))
    if data.get("run_id"):
        href = run_href(data["run_id"], project, data.get("dataset"))
        links.append("run " + link(href, data["run_id"]))
    return " ".join(links)


def history_item(logged: LoggedEvent, now: datetime, *, with_dataset: bool = False) -> str:
    """One event; its output tail (if any) folded in a `<details>` that keeps its state
    across live updates (its id is the event's)."""
    event = logged.event
    data = event.model_dump(mode="json")
    reason = data.get("reason") or data.get("error") or ""
    details = " · ".join(
        f"{esc(_label(k))} {_value(k, v, event.project)}"
        for k, v in data.items()
        if k not in _SKIP_FIELDS and v is not None and v != {} and v != []
    )
    tone = "err" if event.type in _TROUBLE else "reason"
    tail = data.get("output_tail")
    output = (
        f"<details id='out-{logged.id}'><summary class='small'>output</summary>"
        f"<pre>{esc(tail)}</pre></details>"
        if tail
        else ""
    )
    ids = _ids(data, event.project, with_dataset=with_dataset)
    return (
        f'<li id="event-{logged.id}">{time_tag(event.at, now, relative=False)}'
        f"<b>{esc(event.type.replace('_', ' '))}</b> "
        + ids
        + (f' <span class="{tone}">{esc(reason)}</span>' if reason else "")
        + (f'<div class="muted small">{details}</div>' if details else "")
        + output
        + "</li>"
    )


def history_list(
    events: Sequence[LoggedEvent], now: datetime, *, with_dataset: bool = False
) -> str:
    items = "".join(history_item(e, now, with_dataset=with_dataset) for e in events)
    return f'<ol class="history" id="history">{items or "<li class=muted>none</li>"}</ol>'


def type_filter(path: str, chosen: str | None) -> str:
    """A form that filters the history by one event type (a GET: it works without script)."""
    options = "".join(
        f'<option value="{esc(t)}"{" selected" if t == chosen else ""}>{esc(t)}</option>'
        for t in EVENT_TYPES
    )
    return (
        f'<form class="filter" method="get" action="{esc(path)}">'
        '<label>type <select name="type"><option value="">every type</option>'
        f"{options}</select></label><button>filter</button></form>"
    )


def pager(path: str, events: Sequence[LoggedEvent], chosen: str | None, before: int | None) -> str:
    """Links to the newest page and to the one after the oldest event shown."""
    links = []
    if before is not None:
        links.append(link(with_query(path, type=chosen), "newest"))
    if len(events) >= HISTORY_PAGE:
        links.append(link(with_query(path, type=chosen, before=events[-1].id), "older"))
    return f'<div class="pager">{" ".join(links)}</div>' if links else ""


def chosen_type(query: dict[str, list[str]]) -> str | None:
    wanted = query.get("type", [""])[-1]
    return wanted if wanted in EVENT_TYPES else None


def unknown_type_note(query: dict[str, list[str]]) -> str:
    """Said on the page when the type asked for does not exist, rather than dropped."""
    wanted = query.get("type", [""])[-1].strip()
    if not wanted or wanted in EVENT_TYPES:
        return ""
    return f'<p class="err">No event type is called "{esc(wanted[:60])}"; showing every type.</p>'


def before_id(query: dict[str, list[str]]) -> int | None:
    raw = query.get("before", [""])[-1]
    return int(raw) if raw.isdigit() else None
