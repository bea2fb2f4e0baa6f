"""The rows a message is written from, read just before sending.

Delivery may wait for a slow channel or be retried for an hour, so a message is written
from the rows as they are at send time, never from what was known when the alert was raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from amed.alerts.subject import Subject
from state.rows import AlertRow, DatasetRow, TaskRow


@dataclass(frozen=True)
class Seen:
    """`cleared_at`: when the condition stopped holding (resolved notices). `task_next_run`:
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
