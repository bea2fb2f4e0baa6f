"""What a firing alert says: for a failing data set or task, the attempt count, the last
error and the next try as the rows tell them at send time; for the rest, the planner's text.

Text fixed at the first failure goes stale ("failed 2 times" arriving after 9, a "next try"
already past), hence these words are written when the alert is sent.
"""

from __future__ import annotations

from datetime import datetime

from amed.alerts.seen import Seen
from amed.alerts.words import ago, ahead, plain_title, times, when
from state.rows import DatasetRow, TaskRow


def firing(seen: Seen) -> tuple[str, str]:
    """The title (without its host) and the text of the alert."""
    alert, subject = seen.alert, seen.subject
    since = f"Alert raised {when(alert.raised_at, seen.now)} ({ago(alert.raised_at, seen.now)})."
    row = seen.dataset
    if subject.kind == "failed" and row is not None and row.status not in ("ready", "evicted"):
        return _failed_dataset(row, seen, since)
    task = seen.task
    if subject.kind == "task_failed" and task is not None:
        return _failed_task(task, seen, since)
    return plain_title(alert.title), f"{alert.body.rstrip()}\n\n{since}"


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


def _next(retry_at: datetime | None, now: datetime, status: str) -> str:
    if status in ("running", "uploading"):
        return "running now"
    if retry_at is None:
        return "none scheduled; amed tries again when ame.yaml or its inputs change"
    if retry_at <= now:
        return f"due now (it was due {when(retry_at, now)})"
    return f"{when(retry_at, now)} ({ahead(retry_at, now)})"
