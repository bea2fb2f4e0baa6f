"""Tasks that consume data sets: when they run, and what they wait for. Pure.

A run is requested by a person (`ame task run`, a `task_requested` event) or by the task's
cron schedule, evaluated against the time the planner is given (UTC). A requested run waits
until every data set it needs is ready and settled (not about to get a new version because it,
or a data set upstream of it, is being produced); a data set that is pending, evicted or
failed before the request is produced for it (once, however many tasks wait for it). If a
data set fails after the request, the task does not run and fails with the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cronsim import CronSim, CronSimError

from spec import Project, Task
from state.events import TaskDeclared, TaskFinished, TaskRequested
from state.rows import DatasetRow, TaskRow

Key = tuple[str, str]
MAX_CRON_STEPS = 100_000
LOST_TASK_REASON = "the daemon stopped while this task was running"


@dataclass(frozen=True)
class StartTask:
    """Place these data set versions into a working copy and run the task there."""

    project: str
    task: Task
    request_id: str
    inputs: Mapping[str, int]
    paths: Mapping[str, str]


@dataclass
class TaskPlan:
    declares: list[TaskDeclared] = field(default_factory=list)
    requests: list[TaskRequested] = field(default_factory=list)
    finishes: list[TaskFinished] = field(default_factory=list)
    ready: list[StartTask] = field(default_factory=list)
    wanted: dict[Key, str] = field(default_factory=dict)


def plan_tasks(
    desired: Project,
    tasks: Mapping[Key, TaskRow],
    datasets: Mapping[Key, DatasetRow],
    now: datetime,
    running_runs: frozenset[str],
    settling: Collection[Key] = frozenset(),
) -> TaskPlan:
    plan = TaskPlan()
    project = desired.name
    for task in desired.tasks:
        key = (project, task.name)
        row = tasks.get(key)
        schedule = task.triggers.schedule if task.triggers else None
        inputs = tuple(ref.name for ref in task.data_sets)
        if row is None or (row.schedule, row.data_sets) != (schedule, inputs):
            plan.declares.append(
                TaskDeclared(
                    at=now, project=project, task=task.name, schedule=schedule, data_sets=inputs
                )
            )
            if row is None:
                continue  # its schedule counts from now, its requests from the next pass
        if row.status == "running":
            if row.run_id not in running_runs:
                plan.finishes.append(_finished(row, now, LOST_TASK_REASON))
            continue
        if row.status != "waiting" and schedule:
            fire = _last_fire(schedule, row.last_scheduled_for or row.declared_at, now)
            if fire is not None:
                plan.requests.append(
                    TaskRequested(
                        at=now,
                        project=project,
                        task=task.name,
                        request_id=f"{task.name}@{fire:%Y%m%dT%H%M}",
                        reason="schedule",
                        scheduled_for=fire,
                    )
                )
            continue
        if row.status == "waiting":
            _wait_or_start(plan, project, task, row, datasets, now, settling)
    return plan


def _wait_or_start(
    plan: TaskPlan,
    project: str,
    task: Task,
    row: TaskRow,
    datasets: Mapping[Key, DatasetRow],
    now: datetime,
    settling: Collection[Key],
) -> None:
    versions: dict[str, int] = {}
    paths: dict[str, str] = {}
    requested_at = row.requested_at or row.updated_at
    for ref in task.data_sets:
        if ref.project not in (None, project):
            plan.finishes.append(
                _finished(
                    row,
                    now,
                    f"data set {ref.project}/{ref.name} belongs to "
                    "another project; amed only serves this project's data sets",
                )
            )
            return
        data = datasets.get((project, ref.name))
        if data is None:
            return  # declared this pass; its row exists from the next one
        if data.key in settling:
            continue  # it, or a data set upstream, is being produced: wait for the outcome
        if data.status == "ready" and data.version is not None:
            versions[ref.name] = data.version
            paths[ref.name] = data.path
        elif data.status == "failed" and data.updated_at >= requested_at:
            first = (data.error or "failed").splitlines()[0]
            plan.finishes.append(_finished(row, now, f"data set {ref.name} failed: {first}"))
            return
        elif data.status in ("failed", "evicted"):
            plan.wanted.setdefault(data.key, f"needed by task {task.name}")
    if len(versions) == len(task.data_sets):
        plan.ready.append(StartTask(project, task, row.request_id or "", versions, paths))


def _finished(row: TaskRow, now: datetime, reason: str) -> TaskFinished:
    return TaskFinished(
        at=now,
        project=row.project,
        task=row.name,
        request_id=row.request_id or "",
        ok=False,
        run_id=row.run_id,
        reason=reason,
        inputs={name: 0 for name in row.inputs},
    )


def _last_fire(schedule: str, after: datetime, now: datetime) -> datetime | None:
    """The latest time the schedule fires in (after, now]: missed runs are made up once,
    not one by one."""
    try:
        times = CronSim(schedule, after)
    except CronSimError:
        return None
    last = None
    for _ in range(MAX_CRON_STEPS):
        fire = next(times)
        if fire > now:
            break
        last = fire
    return last
