"""`amed run --once --dry-run`: what a pass would do and why, changing nothing.

It plans from the facts a pass would gather (amed.act.observe), read without changing
anything: the state database read-only, the store not created, the code digest's cache not
written, and the runs the log calls live taken as a running daemon's, so they are never
reported as lost. After the pass's actions come the data sets that wait for inputs being
produced, in the order of the graph: what later passes would produce, inputs first. Last,
the data sets that are blocked and stay so, and those that failed and wait for their next
try: a pass leaves them as they are (nothing to record), but a dry run that left them out
would read as a project with nothing amiss, and say it is converged.
"""

from __future__ import annotations

from datetime import datetime

from amed.act.observe import observe_read_only, utc_now
from amed.config import Settings
from amed.plan.actions import (
    Action,
    Block,
    Declare,
    DeleteVersion,
    Evict,
    FailDependant,
    MarkDeleting,
    MarkLost,
    Produce,
    Remove,
)
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import decide_in_full
from amed.plan.graph import Waiting
from spec import Project, format_bytes
from state.rows import DatasetRow
from state.timefmt import format_time


def dry_run(settings: Settings, desired: Project) -> list[str]:
    now = utc_now()
    observed, facts = observe_read_only(settings, desired, now)
    decision = decide_in_full(desired, observed, facts)
    lines = [line for a in decision.actions if (line := describe(a))]
    lines += [waiting(w) for w in decision.waiting]
    touched = {name for a in decision.actions if (name := _subject(a))}
    touched |= {w.name for w in decision.waiting}
    for data_set in desired.data_sets:
        row = observed.datasets.get((desired.name, data_set.name))
        if row is None or data_set.name in touched:
            continue
        if row.status == "blocked":
            reason = (row.error or "it does not fit").splitlines()[0]
            lines.append(_line("blocked", data_set.name, f"stays blocked: {reason}"))
        elif row.status == "failed":
            lines.append(_line("failed", data_set.name, _failed(row, now)))
    return lines


def _failed(row: DatasetRow, now: datetime) -> str:
    """Why a failed data set is left alone this pass: its next try, and its error."""
    reason = (row.error or "failed").splitlines()[0]
    tries = f"failed {row.attempts} time{'s' if row.attempts != 1 else ''}"
    if row.retry_at is not None and row.retry_at > now:
        return f"{tries}, next try at {format_time(row.retry_at)}: {reason}"
    return f"{tries}, no try planned: {reason}"


def _subject(action: Action) -> str | None:
    """The data set an action is about, if it is about one."""
    event = getattr(action, "event", None)
    if event is not None and getattr(event, "dataset", None):
        return str(event.dataset)
    data_set = getattr(action, "data_set", None)
    if data_set is not None:
        return str(data_set.name)
    name = getattr(action, "dataset", None)
    return str(name) if name else None


def waiting(item: Waiting) -> str:
    inputs = ", ".join(item.after)
    if item.reason is None:
        return _line("wait", item.name, f"for {inputs}; produced again if what they hold changes")
    if not item.after:
        return _line("wait", item.name, f"for its inputs, then produce: {item.reason}")
    return _line("wait", item.name, f"for {inputs}, then produce: {item.reason}")


def describe(action: Action) -> str | None:
    match action:
        case Declare(event=e):
            return _line("declare", e.dataset, f"path {e.path}, task {e.task}")
        case MarkDeleting(event=e):
            return _line("undeclare", e.dataset, f"deleting after {format_time(e.delete_after)}")
        case MarkLost(event=e):
            return _line("settle", e.dataset, f"run {e.run_id}: {e.reason}")
        case Produce():
            budget = (
                f" (budget {format_bytes(action.budget_bytes)})"
                if action.budget_bytes is not None
                else ""
            )
            made_from = (
                " from " + ", ".join(f"{i.name} v{i.version}" for i in action.inputs)
                if action.inputs
                else ""
            )
            return _line(
                "produce",
                action.data_set.name,
                f"version {action.version}: {action.reason}{made_from}{budget}",
            )
        case FailDependant(event=e):
            return _line("fail", e.dataset, e.reason)
        case Evict(event=e):
            return _line(
                "evict",
                e.dataset,
                f"version {e.version}, frees {format_bytes(e.bytes_freed)}: {e.reason}",
            )
        case Block(event=e):
            return _line("block", e.dataset, e.reason)
        case DeleteVersion():
            return _line("delete", action.dataset, f"version {action.version}: {action.reason}")
        case Remove():
            return _line("remove", action.dataset, action.reason)
        case RaiseAlert(event=e):
            return _line("alert", e.key, f"{e.severity}: {e.title}")
        case ClearAlert(event=e):
            return _line("resolve", e.key, "the condition no longer holds")
        case Deliver():
            return None
    return None


def _line(verb: str, subject: str | None, detail: str) -> str:
    return f"{verb:<8} {subject or '-':<20} {detail}"
