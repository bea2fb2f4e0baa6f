"""What an alert says, written when it is sent, from the rows as they are then.

The planner raises an alert once and repeats it hours later; delivery may wait for a slow
channel or be retried for an hour. Text fixed at the first failure goes stale ("failed 2
times" arriving after 9, a "next try" already past), so the words are written here, at send
time, from the current rows: the attempt count, the last error, the next try. A resolved
notice says what resolved it, when, and how long the alert fired.

Every message names the host, the project, the data set or task, the severity and the key,
as text (for every channel) and as labels (for channels with fields: apprise's json://).
The text is plain: task output goes out as it was printed, and channels that render HTML or
Markdown are handed plain text, which apprise escapes for them.

Pure: no apprise, no clock. Key grammar (`kind:project/name`) follows amed.plan.conditions,
which makes the keys; tests/alerts/test_message.py keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from state.rows import AlertRow, DatasetRow, TaskRow

TITLE_PREFIX = "amed: "
"""How the planner's titles start; a message replaces it with `amed@<host>: `."""
_DATASET_KINDS = ("failed", "blocked", "oversize", "wont_fit")
_TASK_KINDS = ("task_failed",)


@dataclass(frozen=True)
class Subject:
    """What an alert key is about. `kind`: the key's first part (`failed`, `low_space`)."""

    kind: str
    project: str | None = None
    dataset: str | None = None
    task: str | None = None


def subject_of(key: str, project: str | None = None) -> Subject:
    """`failed:demo/big`, `oversize:demo/big:v3`, `task_failed:demo/train`, `low_space`.
    `project`: the project the alert was raised for, when the key does not name one."""
    kind, _, rest = key.partition(":")
    if kind in _DATASET_KINDS or kind in _TASK_KINDS:
        owner, _, name = rest.partition("/")
        if kind == "oversize":
            name = name.rpartition(":v")[0] or name
        if kind in _TASK_KINDS:
            return Subject(kind, owner, task=name)
        return Subject(kind, owner, dataset=name)
    if kind in ("evictions", "spec_invalid", "mass_deletion"):
        return Subject(kind, rest.split(":")[0] or project)
    return Subject(kind, project or None)


@dataclass(frozen=True)
class Seen:
    """The rows a message is written from, read just before sending.

    `cleared_at`: when the condition stopped holding (resolved notices). `task_next_run`:
    the task's next scheduled run, if it has a schedule; `task_output`: the end of what its
    last run printed (masked when written). `dashboard_url`: the dashboard's base URL, if
    people can reach it. `runbooks`: (key prefix, URL) pairs; a message links the longest
    prefix of its key that has one."""

    now: datetime
    host: str
    alert: AlertRow
    subject: Subject
    dataset: DatasetRow | None = None
    task: TaskRow | None = None
    task_next_run: datetime | None = None
    task_output: str | None = None
    cleared_at: datetime | None = None
    dashboard_url: str | None = None
    runbooks: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Message:
    key: str
    notice: str
    severity: str
    title: str
    body: str
    labels: Mapping[str, str] = field(default_factory=dict)
    link: str | None = None
    runbook: str | None = None


def render(notice: str, seen: Seen) -> Message:
    """The alert (`notice` "alert") or its resolved notice ("resolved")."""
    alert = seen.alert
    link = _link(seen)
    labels = _labels(seen)
    if notice == "resolved":
        title, text = _resolved(seen)
        title = f"RESOLVED: {_headed(title, seen.host)}"
    else:
        title, text = _firing(seen)
        title = _headed(title, seen.host)
    footer = [f"{name}: {value}" for name, value in labels.items() if name != "notice"]
    if link:
        footer.append(f"dashboard: {link}")
    runbook = runbook_for(alert.key, seen.runbooks)
    if runbook:
        footer.append(f"runbook: {runbook}")
    body = f"{text.rstrip()}\n\n--\n" + "\n".join(footer)
    return Message(alert.key, notice, alert.severity, title, body, labels, link, runbook)


def runbook_for(key: str, runbooks: tuple[tuple[str, str], ...]) -> str | None:
    """The URL of the longest prefix of `key` that has one (`failed:demo/` before `failed`),
    so that a team can point one data set's alerts at its own page and the rest at a
    general one."""
    matching = [(len(prefix), url) for prefix, url in runbooks if key.startswith(prefix)]
    return max(matching)[1] if matching else None


# -- firing -----------------------------------------------------------------------------------


def _firing(seen: Seen) -> tuple[str, str]:
    alert, subject = seen.alert, seen.subject
    since = f"Alert raised {when(alert.raised_at, seen.now)} ({ago(alert.raised_at, seen.now)})."
    row = seen.dataset
    if subject.kind == "failed" and row is not None and row.status not in ("ready", "evicted"):
        return _failed_dataset(row, seen, since)
    task = seen.task
    if subject.kind == "task_failed" and task is not None:
        return _failed_task(task, seen, since)
    return _plain_title(alert.title), f"{alert.body.rstrip()}\n\n{since}"


def _failed_dataset(row: DatasetRow, seen: Seen, since: str) -> tuple[str, str]:
    name = row.name
    if row.failed_stage == "space" and row.attempts < 2:
        title = f"data set {name} failed: it does not fit in the store"
    else:
        title = f"data set {name} failed {times(row.attempts)}"
    lines = [
        f"Producing {name} (project {row.project}, task {row.task}) has failed "
        f"{times(row.attempts)} in a row.",
        "",
        "Last error:",
        (row.error or "unknown error").strip(),
        "",
        f"Next try: {_next(row.retry_at, seen.now, row.status)}",
        since,
        "",
        f"See `ame ds show {name}` for its history and `ame events --dataset {name}` for "
        "every attempt.",
    ]
    return title, "\n".join(lines)


def _failed_task(task: TaskRow, seen: Seen, since: str) -> tuple[str, str]:
    name = task.name
    streak = task.failures_in_row
    finished = f" {when(task.finished_at, seen.now)}" if task.finished_at else ""
    run = f" (run {task.last_run_id})" if task.last_run_id else ""
    if task.status == "running":
        upcoming = "running now"
    elif task.status == "waiting":
        upcoming = "requested, waiting for its data sets"
    elif seen.task_next_run is not None:
        upcoming = (
            f"{when(seen.task_next_run, seen.now)} ({ahead(seen.task_next_run, seen.now)}, "
            "on its schedule)"
        )
    else:
        upcoming = f"none scheduled; run it again with `ame task run {name}`"
    lines = [
        f"Task {name} (project {task.project}) has failed {times(streak)} in a row; "
        f"the last time{finished}{run}.",
        "",
        "Last error:",
        (task.error or "unknown error").strip(),
        *([seen.task_output.rstrip()] if seen.task_output and seen.task_output.strip() else []),
        "",
        f"Next run: {upcoming}",
        since,
        "",
        f"See `ame task logs {name}` for its output and `ame task list` for its state.",
    ]
    return f"task {name} failed {times(streak)}", "\n".join(lines)


# -- resolved ---------------------------------------------------------------------------------


def _resolved(seen: Seen) -> tuple[str, str]:
    alert = seen.alert
    cleared = seen.cleared_at
    title, cause = _cause(seen)
    start = alert.raised_at
    if cleared is not None:
        lasted = (
            f"Resolved {when(cleared, seen.now)}; the alert fired for "
            f"{duration((cleared - start).total_seconds())}, since {_clock(start, seen.now)}."
        )
    else:
        lasted = f"The alert fired since {_clock(start, seen.now)}."
    lines = [f"What resolved it: {cause}.", lasted, "", f"It was: {_plain_title(alert.title)}"]
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
    return _plain_title(alert.title), causes.get(subject.kind, "the condition no longer holds")


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


# -- labels and links -------------------------------------------------------------------------


def _labels(seen: Seen) -> dict[str, str]:
    subject = seen.subject
    labels = {"host": seen.host}
    if subject.project:
        labels["project"] = subject.project
    if subject.dataset:
        labels["data set"] = subject.dataset
    if subject.task:
        labels["task"] = subject.task
    labels["severity"] = seen.alert.severity
    labels["key"] = seen.alert.key
    return labels


def payload_labels(message: Message) -> dict[str, str]:
    """The labels under names that need no quoting in a query or a JSON path."""
    return {name.replace(" ", ""): value for name, value in message.labels.items()}


def _link(seen: Seen) -> str | None:
    base = seen.dashboard_url
    if not base:
        return None
    subject = seen.subject
    if subject.project and subject.dataset:
        return (
            f"{base}/datasets/{quote(subject.project, safe='')}/{quote(subject.dataset, safe='')}"
        )
    return f"{base}/"


def _headed(title: str, host: str) -> str:
    return f"amed@{host}: {title}"


def _plain_title(title: str) -> str:
    return title.removeprefix(TITLE_PREFIX)


# -- words ------------------------------------------------------------------------------------


def _next(retry_at: datetime | None, now: datetime, status: str) -> str:
    if status in ("running", "uploading"):
        return "running now"
    if retry_at is None:
        return "none scheduled; amed tries again when ame.yaml or its inputs change"
    if retry_at <= now:
        return f"due now (it was due {when(retry_at, now)})"
    return f"{when(retry_at, now)} ({ahead(retry_at, now)})"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def duration(seconds: float) -> str:
    """`45 s`, `5 min`, `2 h 10 min`, `3 days 4 h`: the two largest units, rounded down."""
    whole = int(max(seconds, 0.0))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        rest = minutes - hours * 60
        return f"{hours} h" + (f" {rest} min" if rest else "")
    rest = hours - days * 24
    return plural(days, "day") + (f" {rest} h" if rest else "")


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 1 else f"{duration(seconds)} ago"


def ahead(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    return "in a moment" if seconds < 1 else f"in {duration(seconds)}"


def when(moment: datetime, now: datetime) -> str:
    """`at 14:02 UTC` today, `on 2026-03-01 at 14:02 UTC` another day; seconds within ten
    minutes of now, where they tell one attempt from the next."""
    clock = _clock(moment, now)
    return f"on {clock}" if " at " in clock else f"at {clock}"


def _clock(moment: datetime, now: datetime) -> str:
    moment, now = moment.astimezone(UTC), now.astimezone(UTC)
    clock = moment.strftime("%H:%M:%S" if abs((now - moment).total_seconds()) < 600 else "%H:%M")
    if moment.date() == now.date():
        return f"{clock} UTC"
    return f"{moment.date().isoformat()} at {clock} UTC"
