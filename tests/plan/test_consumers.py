"""Tasks that consume data sets: requested runs wait for their data, which is produced
once however many tasks wait; schedules fire from the time the planner is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amed.plan.decide import DeclareTask, Facts, FinishTask, Produce, RequestTask, decide
from amed.plan.tasks import StartTask
from spec import Project, load_text
from state.db import replay
from state.events import (
    DatasetDeclared,
    DatasetEvicted,
    Event,
    RunFailed,
    RunStarted,
    TaskDeclared,
    TaskRequested,
    TaskStarted,
    VersionDeleted,
    VersionStored,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

SPEC = """
projectname: p
tasks:
  - name: fetch
    executor: !custom {command: make}
  - name: train
    executor: !custom {command: train}
    dataSets: [mnist]
    triggers: {schedule: "0 3 * * *"}
  - name: evaluate
    executor: !custom {command: eval}
    dataSets: [{ref: {name: mnist}}]
dataSets:
  - name: mnist
    path: data
    task: {taskRef: fetch}
"""


def project() -> Project:
    return load_text(SPEC)


def base(desired: Project, t: datetime = NOW - timedelta(days=1)) -> list[Event]:
    ds = desired.data_sets[0]
    events: list[Event] = [
        DatasetDeclared(
            at=t, project="p", dataset="mnist", spec_hash=ds.spec_hash, path="data", task="fetch"
        ),
    ]
    for task in desired.tasks:
        schedule = task.triggers.schedule if task.triggers else None
        events.append(
            TaskDeclared(
                at=t,
                project="p",
                task=task.name,
                schedule=schedule,
                data_sets=tuple(r.name for r in task.data_sets),
            )
        )
    return events


def stored(desired: Project, version: int = 1, t: datetime = NOW) -> list[Event]:
    ds = desired.data_sets[0]
    return [
        RunStarted(
            at=t,
            project="p",
            dataset="mnist",
            run_id=f"m{version}",
            version=version,
            spec_hash=ds.spec_hash,
            task="fetch",
            attempt=1,
        ),
        VersionStored(
            at=t,
            project="p",
            dataset="mnist",
            run_id=f"m{version}",
            version=version,
            spec_hash=ds.spec_hash,
            size_bytes=5,
            files=1,
            seconds=1,
        ),
    ]


def requested(task: str, request_id: str, t: datetime = NOW) -> TaskRequested:
    return TaskRequested(at=t, project="p", task=task, request_id=request_id, reason="manual")


def decide_on(events: list[Event], facts: Facts | None = None) -> list[object]:
    return list(decide(project(), replay(events).observed(), facts or Facts(now=NOW, free_slots=4)))


def test_tasks_are_declared_once() -> None:
    actions = decide_on(base(project())[:1])
    assert [a.event.task for a in actions if isinstance(a, DeclareTask)] == [
        "fetch",
        "train",
        "evaluate",
    ]
    assert [
        a for a in decide_on(base(project()) + stored(project())) if isinstance(a, DeclareTask)
    ] == []


def test_a_requested_task_starts_with_the_ready_version_of_what_it_needs() -> None:
    events = base(project()) + stored(project()) + [requested("evaluate", "req-1")]
    (start,) = [a for a in decide_on(events) if isinstance(a, StartTask)]
    assert (start.task.name, start.request_id, dict(start.inputs)) == (
        "evaluate",
        "req-1",
        {"mnist": 1},
    )


def test_many_waiting_tasks_produce_their_data_set_once_and_start_once_it_is_ready() -> None:
    events = [*base(project()), requested("train", "a"), requested("evaluate", "b")]
    actions = decide_on(events)
    assert [a.data_set.name for a in actions if isinstance(a, Produce)] == ["mnist"]
    assert [a for a in actions if isinstance(a, StartTask)] == []
    ds = project().data_sets[0]
    events.append(
        RunStarted(
            at=NOW,
            project="p",
            dataset="mnist",
            run_id="m1",
            version=1,
            spec_hash=ds.spec_hash,
            task="fetch",
            attempt=1,
        )
    )
    busy = decide_on(events, Facts(now=NOW, running_runs=frozenset({"m1"}), free_slots=4))
    assert [a for a in busy if isinstance(a, Produce | StartTask)] == []
    events += stored(project())[1:]
    ready = decide_on(events)
    assert sorted(a.task.name for a in ready if isinstance(a, StartTask)) == ["evaluate", "train"]


def test_an_evicted_data_set_is_produced_again_for_a_task_that_needs_it() -> None:
    events = (
        base(project())
        + stored(project())
        + [
            DatasetEvicted(
                at=NOW, project="p", dataset="mnist", version=1, reason="x", bytes_freed=5
            ),
            VersionDeleted(
                at=NOW, project="p", dataset="mnist", version=1, reason="evicted", objects=2
            ),
            requested("evaluate", "r", NOW + timedelta(seconds=1)),
        ]
    )
    (produce,) = [a for a in decide_on(events) if isinstance(a, Produce)]
    assert (produce.version, produce.reason) == (2, "needed by task evaluate")


def test_a_task_whose_data_set_fails_after_the_request_fails_without_running() -> None:
    events = [*base(project()), requested("evaluate", "r", NOW)]
    ds = project().data_sets[0]
    events += [
        RunStarted(
            at=NOW,
            project="p",
            dataset="mnist",
            run_id="m1",
            version=1,
            spec_hash=ds.spec_hash,
            task="fetch",
            attempt=1,
        ),
        RunFailed(
            at=NOW + timedelta(seconds=5),
            project="p",
            dataset="mnist",
            run_id="m1",
            stage="task",
            reason="exited with code 2",
            retry_at=NOW + timedelta(hours=1),
        ),
    ]
    actions = decide_on(events, Facts(now=NOW + timedelta(seconds=6), free_slots=4))
    (finish,) = [a for a in actions if isinstance(a, FinishTask)]
    assert (
        not finish.event.ok and finish.event.reason == "data set mnist failed: exited with code 2"
    )
    assert [a for a in actions if isinstance(a, StartTask | Produce)] == []


def test_a_data_set_that_failed_before_the_request_is_retried_at_once_for_it() -> None:
    ds = project().data_sets[0]
    events = [
        *base(project()),
        RunStarted(
            at=NOW,
            project="p",
            dataset="mnist",
            run_id="m1",
            version=1,
            spec_hash=ds.spec_hash,
            task="fetch",
            attempt=1,
        ),
        RunFailed(
            at=NOW,
            project="p",
            dataset="mnist",
            run_id="m1",
            stage="task",
            reason="boom",
            retry_at=NOW + timedelta(hours=1),
        ),
        requested("evaluate", "r", NOW + timedelta(seconds=1)),
    ]
    actions = decide_on(events, Facts(now=NOW + timedelta(seconds=2), free_slots=4))
    assert [(a.version, a.reason) for a in actions if isinstance(a, Produce)] == [
        (2, "needed by task evaluate")
    ]


def test_a_schedule_fires_once_for_the_latest_time_it_was_due() -> None:
    events = base(project(), t=datetime(2026, 5, 28, 12, 0, tzinfo=UTC)) + stored(project())
    actions = decide_on(events)
    (request,) = [a.event for a in actions if isinstance(a, RequestTask)]
    assert request.task == "train" and request.reason == "schedule"
    assert request.scheduled_for == datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    events.append(request)
    again = decide_on(events)
    assert [a for a in again if isinstance(a, RequestTask)] == []
    assert [a.task.name for a in again if isinstance(a, StartTask)] == ["train"]


def test_a_running_task_without_a_live_process_is_finished_as_failed() -> None:
    events = (
        base(project())
        + stored(project())
        + [
            requested("evaluate", "r"),
            TaskStarted(
                at=NOW,
                project="p",
                task="evaluate",
                request_id="r",
                run_id="e1",
                inputs={"mnist": 1},
            ),
        ]
    )
    observed = replay(events).observed()
    assert observed.datasets[("p", "mnist")].in_use_by == ("evaluate",)
    (finish,) = [a for a in decide_on(events) if isinstance(a, FinishTask)]
    assert finish.event.run_id == "e1" and not finish.event.ok
    after = replay([*events, finish.event]).observed()
    assert after.datasets[("p", "mnist")].in_use_by == ()
    assert after.tasks[("p", "evaluate")].status == "failed"
