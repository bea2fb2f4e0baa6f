"""The planner, case by case: given what happened and the facts of the moment, `decide`
returns these actions. One data set, `mnist`, made by the task `fetch`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from amed.plan.alerts import RaiseAlert
from amed.plan.decide import decide
from amed.plan.facts import Facts, Policy
from spec import Project, load_text
from state.events import DeletionApproved
from tests.plan.world import (
    HOUR,
    NOW,
    Case,
    build,
    case,
    check,
    declared,
    failed,
    finished,
    happened,
    passed,
    removed,
    running,
    stored,
)

SPEC = """
projectname: {project}
tasks:
  - name: fetch
    executor: !custom
      command: {command}
dataSets:
  - name: mnist
    path: ./data
    size: {size}
    task:
      taskRef: fetch
"""


def mnist(command: str = "make data", size: str = "50Gi", project: str = "p") -> Project:
    return load_text(SPEC.format(command=command, size=size, project=project))


def with_more(count: int) -> Project:
    """mnist and `count` more data sets made by the same task."""
    extra = "".join(
        f"  - name: d{i}\n    path: out{i}\n    task:\n      taskRef: fetch\n" for i in range(count)
    )
    return load_text(SPEC.format(command="make data", size="50Gi", project="p") + extra)


MNIST = mnist()
EMPTY = load_text("projectname: p\ndataSets: []\n")
LENIENT = Policy(deletion_max_percent=100)
"""The mass-deletion guard off: with one data set, any deletion is all of them."""


def at(delta: timedelta, policy: Policy | None = None) -> Facts:
    return Facts(now=NOW + delta, policy=policy or Policy())


LEFT = [stored("mnist", spec=MNIST), passed(Facts(now=NOW, policy=LENIENT), spec=EMPTY)]
"""Stored, then gone from ame.yaml: in its grace since NOW."""

PRODUCING = [
    case(
        "a new data set is declared and produced as version 1",
        spec=MNIST,
        then=["declare mnist (50Gi)", "declare task fetch", "produce mnist v1 (new)"],
    ),
    case(
        "a converged world needs nothing",
        spec=MNIST,
        given=[stored("mnist")],
        then=[],
    ),
    case(
        "a changed command produces the next version",
        spec=mnist("make better data"),
        given=[stored("mnist", spec=mnist("make data"))],
        then=["declare mnist (50Gi)", "produce mnist v2 (spec changed)"],
    ),
    case(
        "a changed size is recorded without producing again",
        spec=mnist(size="60Gi"),
        given=[stored("mnist", spec=mnist(size="50Gi"))],
        then=["declare mnist (60Gi)"],
    ),
    case(
        "a superseded version is deleted once the new one is stored",
        spec=mnist("v2"),
        given=[stored("mnist", spec=mnist("v1")), stored("mnist", version=2)],
        then=["delete mnist v1 (superseded)"],
    ),
    case(
        "a changed spec keeps serving the stored version while the next is produced",
        spec=mnist("v2"),
        given=[stored("mnist", spec=mnist("v1"))],
        then=["declare mnist (50Gi)", "produce mnist v2 (spec changed)"],
        after={"mnist": "running v1"},
    ),
    case(
        "a changed spec that may not start now is pending and serves the stored version",
        spec=mnist("v2"),
        given=[stored("mnist", spec=mnist("v1"))],
        facts=Facts(now=NOW, hold=frozenset({("p", "mnist")})),
        then=["declare mnist (50Gi)"],
        after={"mnist": "pending v1"},
    ),
    case(
        "a spec change during a run is declared and waits for the run",
        spec=mnist("v2"),
        given=[stored("mnist", spec=mnist("v1")), running("mnist", version=2, spec=mnist("v1"))],
        facts=Facts(now=NOW, running_runs=frozenset({"mnist-2"})),
        then=["declare mnist (50Gi)"],
    ),
    case(
        "a spec change during a run produces again once that run is stored",
        spec=mnist("v2"),
        given=[
            stored("mnist", spec=mnist("v1")),
            running("mnist", version=2, spec=mnist("v1")),
            declared("mnist"),
            finished("mnist", version=2, spec=mnist("v1")),
        ],
        then=["delete mnist v1 (superseded)", "produce mnist v3 (spec changed)"],
    ),
    case(
        "held data sets are declared but not started",
        spec=MNIST,
        facts=Facts(now=NOW, hold=frozenset({("p", "mnist")})),
        then=["declare mnist (50Gi)", "declare task fetch"],
    ),
    case(
        "no more producers start than there are free slots",
        spec=with_more(4),
        facts=Facts(now=NOW, free_slots=2),
        then=[
            "declare mnist (50Gi)",
            *(f"declare d{i}" for i in range(4)),
            "declare task fetch",
            "produce mnist v1 (new)",
            "produce d0 v1 (new)",
        ],
    ),
]


@pytest.mark.parametrize("row", PRODUCING)
def test_producing(row: Case) -> None:
    check(row)


DELETING = [
    case(
        "a data set no longer declared starts its grace and keeps its version",
        spec=EMPTY,
        given=[stored("mnist", spec=MNIST)],
        facts=Facts(now=NOW, policy=LENIENT),
        then=["mark mnist deleting until 13:00"],
        after={"mnist": "deleting v1 until 13:00"},
    ),
    case(
        "nothing is deleted during the grace",
        spec=EMPTY,
        given=LEFT,
        facts=at(HOUR - timedelta(seconds=1), LENIENT),
        then=[],
    ),
    case(
        "once its grace has passed it is removed",
        spec=EMPTY,
        given=LEFT,
        facts=at(HOUR, LENIENT),
        then=["remove mnist v1 (no longer declared)"],
    ),
    case(
        "declared again within its grace it comes back as it was",
        spec=MNIST,
        given=LEFT,
        facts=at(timedelta(minutes=5)),
        then=["declare mnist (50Gi)"],
        after={"mnist": "ready v1"},
    ),
    case(
        "an approved deletion skips the rest of its grace",
        spec=EMPTY,
        given=[
            *LEFT,
            happened(DeletionApproved(at=NOW + timedelta(minutes=1), project="p", dataset="mnist")),
        ],
        facts=at(timedelta(minutes=1), LENIENT),
        then=["remove mnist v1 (no longer declared)"],
    ),
    case(
        "more than half of the data sets leaving at once deletes nothing and alerts",
        spec=EMPTY,
        given=[stored("mnist", spec=MNIST)],
        then=["alert mass_deletion:p (critical)", "deliver alert mass_deletion:p"],
    ),
    case(
        "a removed data set is not removed again",
        spec=EMPTY,
        given=[stored("mnist", spec=MNIST), removed("mnist")],
        then=[],
    ),
    case(
        "a removed data set declared again continues its version numbers",
        spec=MNIST,
        given=[stored("mnist"), removed("mnist")],
        then=["declare mnist (50Gi)", "produce mnist v2 (new)"],
    ),
    case(
        "the rows of another project name start their deletion grace",
        spec=mnist(project="q"),
        given=[stored("mnist", spec=MNIST)],
        facts=Facts(now=NOW, policy=LENIENT),
        then=[
            "declare q/mnist (50Gi)",
            "mark mnist deleting until 13:00",
            "declare task fetch",
            "produce q/mnist v1 (new)",
        ],
    ),
    case(
        "renaming the project is a mass deletion held back",
        spec=mnist(project="q"),
        given=[stored("mnist", spec=MNIST)],
        then=[
            "declare q/mnist (50Gi)",
            "declare task fetch",
            "produce q/mnist v1 (new)",
            "alert mass_deletion:q (critical)",
            "deliver alert mass_deletion:q",
        ],
    ),
]


@pytest.mark.parametrize("row", DELETING)
def test_deleting(row: Case) -> None:
    check(row)


RUNS = [
    case(
        "a running producer is left alone",
        spec=MNIST,
        given=[running("mnist")],
        facts=Facts(now=NOW, running_runs=frozenset({"mnist-1"})),
        then=[],
    ),
    case(
        "a run without a live process is marked lost, to be retried at once",
        spec=MNIST,
        given=[running("mnist")],
        then=["mark run mnist-1 of mnist lost"],
    ),
    case(
        "a lost run is retried on the next pass",
        spec=MNIST,
        given=[running("mnist"), passed()],
        then=["produce mnist v1 (retry after lost run, attempt 2)"],
    ),
    case(
        "a failed data set waits for its backoff",
        spec=MNIST,
        given=[failed("mnist", retry_at=NOW + timedelta(seconds=30))],
        then=[],
    ),
    case(
        "a failed data set is retried when its backoff ends now",
        spec=MNIST,
        given=[failed("mnist", retry_at=NOW)],
        then=["produce mnist v1 (retry after failure, attempt 2)"],
    ),
    case(
        "a failed data set is retried once its backoff has passed",
        spec=MNIST,
        given=[failed("mnist", retry_at=NOW - timedelta(seconds=5))],
        then=["produce mnist v1 (retry after failure, attempt 2)"],
    ),
]


@pytest.mark.parametrize("row", RUNS)
def test_runs(row: Case) -> None:
    check(row)


def test_deciding_twice_gives_the_same_actions() -> None:
    observed = build(MNIST, [running("mnist")]).observed()
    assert decide(MNIST, observed, Facts(now=NOW)) == decide(MNIST, observed, Facts(now=NOW))


def test_the_mass_deletion_alert_says_how_to_confirm() -> None:
    world = build(EMPTY, [stored("mnist", spec=MNIST)])
    actions = decide(EMPTY, world.observed(), Facts(now=NOW))
    (alert,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert "ame ds delete --all-pending --confirm" in alert.body
