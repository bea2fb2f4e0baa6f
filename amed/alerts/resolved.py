"""What a resolved notice says: what resolved the alert, when, and how long it fired.

The rows at send time tell the cause: a data set stored again (its version and when), a
task that succeeded (its run), a subject no longer declared, or, when nothing changed but
the alert ended, that the condition is no longer checked for it.
"""

from __future__ import annotations

from amed.alerts.seen import Seen
from amed.alerts.words import clock, duration, plain_title, when


def resolved(seen: Seen) -> tuple[str, str]:
    """The title (without its host and RESOLVED) and the text of the notice."""
    alert = seen.alert
    cleared = seen.cleared_at
    title, cause = _cause(seen)
    start = alert.raised_at
    if cleared is not None:
        lasted = (
            f"Resolved {when(cleared, seen.now)}; the alert fired for "
            f"{duration((cleared - start).total_seconds())}, since {clock(start, seen.now)}."
        )
    else:
        lasted = f"The alert fired since {clock(start, seen.now)}."
    lines = [f"What resolved it: {cause}.", lasted, "", f"It was: {plain_title(alert.title)}"]
    return title, "\n".join(lines)


def _cause(seen: Seen) -> tuple[str, str]:
    """A short title, and what made the condition stop holding, as far as the rows tell."""
    alert, subject, now = seen.alert, seen.subject, seen.now
    row, task = seen.dataset, seen.task
    after = alert.raised_at
    if subject.kind in ("failed", "blocked") and subject.dataset:
        name = subject.dataset
        if row is None or row.status == "removed":
            return f"data set {name} was removed", f"{name} is no longer declared in ame.yaml"
        if row.status == "ready" and row.version is not None and row.produced_at is not None:
            stored = row.produced_at
            since = duration(max((stored - after).total_seconds(), 0.0))
            verb = "is ready again" if subject.kind == "failed" else "fits now"
            return (
                f"data set {name} {verb}",
                f"version {row.version} stored {when(stored, now)}, {since} after the alert "
                "was raised",
            )
        if row.status == "deleting":
            return (
                f"data set {name} is being deleted",
                f"{name} is no longer declared in ame.yaml (deleting)",
            )
        if row.status == subject.kind:
            return f"data set {name} is no longer watched", _unwatched(name, row.status)
        if subject.kind == "blocked":
            return f"data set {name} fits now", f"{name} fits in the store now ({row.status})"
        return f"data set {name} is {row.status}", f"{name} is {row.status} now"
    if subject.kind == "wont_fit" and subject.dataset:
        return _room_again(subject.dataset, seen)
    if subject.kind == "task_failed" and subject.task:
        name = subject.task
        if task is not None and task.status == "succeeded" and task.finished_at is not None:
            run = f"run {task.last_run_id}" if task.last_run_id else "a run"
            since = duration(max((task.finished_at - after).total_seconds(), 0.0))
            return (
                f"task {name} succeeded",
                f"{run} succeeded {when(task.finished_at, now)}, {since} after the alert was "
                "raised",
            )
        if task is not None and task.status == "failed":
            return f"task {name} is no longer watched", _unwatched(f"task {name}", "failing")
        return f"task {name} is no longer failing", f"task {name} is no longer failing"
    causes = {
        "low_space": "storage use fell back below the warning level",
        "store_unreachable": "the object store answers again",
        "spec_invalid": "ame.yaml loads again",
        "mass_deletion": ("the held deletion was confirmed, or ame.yaml names the data sets again"),
        "watchdog": "the watchdog was switched off (alerts.watchdog)",
    }
    return plain_title(alert.title), causes.get(subject.kind, "the condition no longer holds")


def _unwatched(what: str, status: str) -> str:
    """Why an alert ended while its subject is as it was: the condition is only checked for
    what the project ame.yaml names now declares, and the threshold may have moved."""
    return (
        f"{what} is still {status}, but no longer alerted on: the project ame.yaml names no "
        "longer declares it (renamed or removed; its data stays until the deletion is "
        "confirmed), or alerts.after_failures was raised above its failures"
    )


def _room_again(name: str, seen: Seen) -> tuple[str, str]:
    """Why a growing data set's next version fits after all: it was stored, it left, or
    the forecast fits now (space freed, capacity raised, or a size declared to make room)."""
    row = seen.dataset
    if row is None or row.status in ("removed", "deleting"):
        return f"data set {name} was removed", f"{name} is no longer declared in ame.yaml"
    if row.status == "evicted":
        return (
            f"data set {name} was evicted",
            f"{name} was evicted to free space; produced again when something needs it, it "
            "comes back as it was",
        )
    stored = row.produced_at
    if row.version is not None and stored is not None and stored >= seen.alert.raised_at:
        return (
            f"data set {name} has room again",
            f"version {row.version} was stored {when(stored, seen.now)}, and what its "
            "versions' growth forecasts for the next one fits in what is free",
        )
    return (
        f"data set {name} has room again",
        "what its versions' growth forecasts for the next one fits now (space was freed, "
        "the capacity raised, or a size declared that amed makes room for)",
    )
