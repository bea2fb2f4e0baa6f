"""Tasks that consume data sets: requested runs wait for their data, which is produced
once however many tasks wait; schedules fire from the time the planner is given. `train`
(scheduled at 03:00) and `evaluate` need `mnist`, which `fetch` makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amed.plan.facts import Facts
from spec import load_text
from state.events import TaskStarted
from tests.plan.world import (
    NOW,
    Case,
    case,
    check,
    declared,
    evicted,
    failed,
    finished,
    happened,
    passed,
    requested,
    running,
    stored,
)

SPEC = load_text(
    """
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
)
DAY_AGO = NOW - timedelta(days=1)
DECLARED = declared(at=DAY_AGO)
"""Everything declared a day ago: train's schedule was due at 03:00 today."""


def at(seconds: float = 0, running: frozenset[str] = frozenset()) -> Facts:
    return Facts(now=NOW + timedelta(seconds=seconds), free_slots=4, running_runs=running)


EVALUATING = [
    DECLARED,
    stored("mnist"),
    requested("evaluate", "r"),
    happened(
        TaskStarted(
            at=NOW, project="p", task="evaluate", request_id="r", run_id="e1", inputs={"mnist": 1}
        )
    ),
]
"""evaluate runs as e1, with mnist v1."""
SCHEDULE = "request task train (schedule for 03:00)"

TASKS = [
    case(
        "tasks are declared",
        spec=SPEC,
        given=[declared("mnist", at=DAY_AGO, tasks=False)],
        facts=at(),
        then=[
            "declare task fetch",
            "declare task train",
            "declare task evaluate",
            "produce mnist v1 (new)",
        ],
    ),
    case(
        "tasks are declared once",
        spec=SPEC,
        given=[DECLARED, stored("mnist")],
        facts=at(),
        then=[SCHEDULE],
    ),
    case(
        "a requested task starts with the ready version of what it needs",
        spec=SPEC,
        given=[DECLARED, stored("mnist"), requested("evaluate", "req-1")],
        facts=at(),
        then=[SCHEDULE, "start task evaluate for req-1 with mnist v1"],
    ),
    case(
        "many waiting tasks get their data set produced once",
        spec=SPEC,
        given=[DECLARED, requested("train", "a"), requested("evaluate", "b")],
        facts=at(),
        then=["produce mnist v1 (new)"],
    ),
    case(
        "waiting tasks do not start while their data set is produced",
        spec=SPEC,
        given=[DECLARED, requested("train", "a"), requested("evaluate", "b"), running("mnist")],
        facts=at(running=frozenset({"mnist-1"})),
        then=[],
    ),
    case(
        "waiting tasks all start once their data set is ready",
        spec=SPEC,
        given=[
            DECLARED,
            requested("train", "a"),
            requested("evaluate", "b"),
            running("mnist"),
            finished("mnist"),
        ],
        facts=at(),
        then=["start task train for a with mnist v1", "start task evaluate for b with mnist v1"],
    ),
    case(
        "an evicted data set is produced again for a task that needs it",
        spec=SPEC,
        given=[
            DECLARED,
            stored("mnist"),
            evicted("mnist"),
            requested("evaluate", "r", NOW + timedelta(seconds=1)),
        ],
        facts=at(),
        then=[SCHEDULE, "produce mnist v2 (needed by task evaluate)"],
    ),
    case(
        "a task whose data set fails after the request fails without running",
        spec=SPEC,
        given=[
            DECLARED,
            requested("evaluate", "r", NOW),
            failed("mnist", at=NOW + timedelta(seconds=5), reason="exited with code 2"),
        ],
        facts=at(6),
        then=[SCHEDULE, "finish task evaluate failed: data set mnist failed: exited with code 2"],
    ),
    case(
        "a data set that failed before the request is retried at once for it",
        spec=SPEC,
        given=[
            DECLARED,
            failed("mnist", reason="boom"),
            requested("evaluate", "r", NOW + timedelta(seconds=1)),
        ],
        facts=at(2),
        then=[SCHEDULE, "produce mnist v1 (needed by task evaluate, attempt 2)"],
    ),
    case(
        "a schedule fires once, for the latest time it was due",
        spec=SPEC,
        given=[declared(at=datetime(2026, 5, 28, 12, 0, tzinfo=UTC)), stored("mnist")],
        facts=at(),
        then=[SCHEDULE],
    ),
    case(
        "a fired schedule starts its task and does not fire again",
        spec=SPEC,
        given=[
            declared(at=datetime(2026, 5, 28, 12, 0, tzinfo=UTC)),
            stored("mnist"),
            passed(at()),
        ],
        facts=at(),
        then=["start task train for train@20260601T0300 with mnist v1"],
    ),
    case(
        "a running task keeps its data set in use",
        spec=SPEC,
        given=EVALUATING,
        facts=at(running=frozenset({"e1"})),
        then=[SCHEDULE],
        after={"mnist": "ready v1 in use by evaluate"},
    ),
    case(
        "a running task without a live process is finished as failed and frees its data",
        spec=SPEC,
        given=EVALUATING,
        facts=at(),
        then=[
            SCHEDULE,
            "finish task evaluate run e1 failed: the daemon stopped while this task was running",
        ],
        after={"mnist": "ready v1", "task evaluate": "failed"},
    ),
]


@pytest.mark.parametrize("row", TASKS)
def test_tasks(row: Case) -> None:
    check(row)
