"""The planner, case by case: desired, observed, facts → actions. Pure and fast."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amed.plan.alerts import RaiseAlert
from amed.plan.decide import (
    Declare,
    DeclareTask,
    DeleteVersion,
    Facts,
    MarkDeleting,
    MarkLost,
    Policy,
    Produce,
    Remove,
    decide,
)
from spec import Project, load_text
from state.db import replay
from state.events import (
    DatasetRemoved,
    DeletionApproved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)
from state.observed import Observed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

SPEC = """
projectname: p
tasks:
  - name: fetch
    executor: !custom
      command: {command}
dataSets:
  - name: mnist
    path: ./data
    size: 50Gi
    task:
      taskRef: fetch
"""


def project(command: str = "make data", extra: str = "") -> Project:
    return load_text(SPEC.format(command=command) + extra)


def observe(events: list[Event]) -> Observed:
    return replay(events).observed()


def converge(desired: Project, version: int = 1, t: datetime = NOW) -> list[Event]:
    """The events of a data set declared and produced once, as the daemon records them."""
    actions = decide(desired, Observed(), Facts(now=t))
    declares = [a.event for a in actions if isinstance(a, Declare | DeclareTask)]
    data_set = desired.data_sets[0]
    return [
        *declares,
        RunStarted(
            at=t,
            project="p",
            dataset="mnist",
            run_id="r1",
            version=version,
            spec_hash=data_set.spec_hash,
            task="fetch",
            attempt=1,
        ),
        RunSucceeded(at=t, project="p", dataset="mnist", run_id="r1", seconds=1),
        VersionStored(
            at=t,
            project="p",
            dataset="mnist",
            run_id="r1",
            version=version,
            spec_hash=data_set.spec_hash,
            size_bytes=10,
            files=1,
            seconds=1,
        ),
    ]


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_a_new_data_set_is_declared_and_produced_as_version_1() -> None:
    actions = decide(project(), Observed(), Facts(now=NOW))
    assert kinds(actions) == ["Declare", "DeclareTask", "Produce"]
    declare, _, produce = actions
    assert isinstance(declare, Declare) and declare.event.declared_size_bytes == 50 * 2**30
    assert isinstance(produce, Produce) and (produce.version, produce.attempt) == (1, 1)
    assert produce.data_set.name == "mnist"


def test_a_converged_world_needs_nothing() -> None:
    desired = project()
    assert decide(desired, observe(converge(desired)), Facts(now=NOW)) == []


def test_a_changed_command_produces_the_next_version() -> None:
    observed = observe(converge(project("make data")))
    actions = decide(project("make better data"), observed, Facts(now=NOW))
    assert kinds(actions) == ["Declare", "Produce"]
    assert isinstance(actions[1], Produce) and actions[1].version == 2


def test_a_changed_size_is_recorded_without_producing_again() -> None:
    observed = observe(converge(project()))
    resized = load_text(SPEC.format(command="make data").replace("50Gi", "60Gi"))
    actions = decide(resized, observed, Facts(now=NOW))
    assert kinds(actions) == ["Declare"]


def test_a_superseded_version_is_deleted_once_the_new_one_is_stored() -> None:
    old, new = project("v1"), project("v2")
    events = converge(old)
    events += converge(new, version=2)  # the declaration of v2, then its run
    actions = decide(new, observe(events), Facts(now=NOW))
    assert actions == [DeleteVersion("p", "mnist", 1, "superseded")]


EMPTY = "projectname: p\ndataSets: []\n"
LENIENT = Facts(now=NOW, policy=Policy(deletion_max_percent=100))


def undeclared(events: list[Event], facts: Facts = LENIENT) -> list[Event]:
    actions = decide(load_text(EMPTY), observe(events), facts)
    return [*events, *(a.event for a in actions if isinstance(a, MarkDeleting))]


def test_a_data_set_no_longer_declared_is_deleting_for_its_grace_then_removed() -> None:
    events = undeclared(converge(project()))
    row = observe(events).datasets[("p", "mnist")]
    assert row.status == "deleting" and row.delete_after == NOW + timedelta(hours=1)
    assert row.version == 1, "nothing is deleted during the grace"
    assert decide(load_text(EMPTY), observe(events), LENIENT) == []
    later = Facts(now=NOW + timedelta(hours=1), policy=Policy(deletion_max_percent=100))
    assert decide(load_text(EMPTY), observe(events), later) == [
        Remove("p", "mnist", (1,), "no longer declared")
    ]


def test_declared_again_within_its_grace_it_comes_back_as_it_was() -> None:
    events = undeclared(converge(project()))
    actions = decide(project(), observe(events), Facts(now=NOW + timedelta(minutes=5)))
    assert kinds(actions) == ["Declare"]
    back = observe([*events, actions[0].event]).datasets[("p", "mnist")]  # type: ignore[union-attr]
    assert (back.status, back.version, back.delete_after) == ("ready", 1, None)


def test_more_than_half_of_the_data_sets_leaving_at_once_deletes_nothing_and_alerts() -> None:
    events = converge(project())
    actions = decide(load_text(EMPTY), observe(events), Facts(now=NOW))
    assert [a for a in actions if isinstance(a, MarkDeleting | Remove)] == []
    alerts = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert [a.key for a in alerts] == ["mass_deletion:p"]
    assert "ame ds delete --all-pending --confirm" in alerts[0].body


def test_an_approved_deletion_skips_the_rest_of_its_grace() -> None:
    events = undeclared(converge(project()))
    events.append(DeletionApproved(at=NOW + timedelta(minutes=1), project="p", dataset="mnist"))
    later = Facts(now=NOW + timedelta(minutes=1), policy=Policy(deletion_max_percent=100))
    assert decide(load_text(EMPTY), observe(events), later) == [
        Remove("p", "mnist", (1,), "no longer declared")
    ]


def removed(desired: Project) -> list[Event]:
    return [
        *converge(desired),
        VersionDeleted(at=NOW, project="p", dataset="mnist", version=1, reason="x", objects=2),
        DatasetRemoved(at=NOW, project="p", dataset="mnist", reason="x"),
    ]


def test_a_removed_data_set_is_not_removed_again() -> None:
    empty = load_text("projectname: p\ndataSets: []\n")
    assert decide(empty, observe(removed(project())), Facts(now=NOW)) == []


def test_a_removed_data_set_declared_again_continues_its_version_numbers() -> None:
    actions = decide(project(), observe(removed(project())), Facts(now=NOW))
    assert kinds(actions) == ["Declare", "Produce"]
    assert isinstance(actions[1], Produce) and actions[1].version == 2


def started(desired: Project) -> list[Event]:
    declares = [
        a.event
        for a in decide(desired, Observed(), Facts(now=NOW))
        if isinstance(a, Declare | DeclareTask)
    ]
    return [
        *declares,
        RunStarted(
            at=NOW,
            project="p",
            dataset="mnist",
            run_id="r1",
            version=1,
            spec_hash=desired.data_sets[0].spec_hash,
            task="fetch",
            attempt=1,
        ),
    ]


def test_a_running_producer_is_left_alone() -> None:
    desired = project()
    facts = Facts(now=NOW, running_runs=frozenset({"r1"}))
    assert decide(desired, observe(started(desired)), facts) == []


def test_a_run_without_a_live_process_is_marked_lost() -> None:
    desired = project()
    actions = decide(desired, observe(started(desired)), Facts(now=NOW))
    assert kinds(actions) == ["MarkLost"]
    lost = actions[0]
    assert isinstance(lost, MarkLost)
    assert (lost.event.run_id, lost.event.stage, lost.event.retry_at) == ("r1", "lost", None)


def test_a_lost_run_is_retried_on_the_next_pass() -> None:
    desired = project()
    events = started(desired)
    lost = decide(desired, observe(events), Facts(now=NOW))[0]
    assert isinstance(lost, MarkLost)
    actions = decide(desired, observe([*events, lost.event]), Facts(now=NOW))
    assert kinds(actions) == ["Produce"]
    assert isinstance(actions[0], Produce) and (actions[0].version, actions[0].attempt) == (2, 2)


@pytest.mark.parametrize(
    ("retry_in_seconds", "expected"),
    [(30, []), (0, ["Produce"]), (-5, ["Produce"])],
)
def test_a_failed_data_set_is_retried_only_once_its_backoff_has_passed(
    retry_in_seconds: int, expected: list[str]
) -> None:
    desired = project()
    failed = RunFailed(
        at=NOW,
        project="p",
        dataset="mnist",
        run_id="r1",
        stage="task",
        reason="exited with code 1",
        retry_at=NOW + timedelta(seconds=retry_in_seconds),
    )
    actions = decide(desired, observe([*started(desired), failed]), Facts(now=NOW))
    assert kinds(actions) == expected


def test_held_data_sets_are_not_started() -> None:
    facts = Facts(now=NOW, hold=frozenset({("p", "mnist")}))
    assert kinds(decide(project(), Observed(), facts)) == ["Declare", "DeclareTask"]


def test_no_more_producers_start_than_there_are_free_slots() -> None:
    extra = "".join(
        f"  - name: d{i}\n    path: out{i}\n    task:\n      taskRef: fetch\n" for i in range(4)
    )
    desired = project(extra=extra)
    actions = decide(desired, Observed(), Facts(now=NOW, free_slots=2))
    assert kinds(actions).count("Declare") == 5
    assert kinds(actions).count("Produce") == 2


def test_deciding_twice_gives_the_same_actions() -> None:
    desired = project()
    observed = observe(started(desired))
    assert decide(desired, observed, Facts(now=NOW)) == decide(desired, observed, Facts(now=NOW))


def test_a_spec_change_during_a_run_produces_again_after_it_is_stored() -> None:
    old, new = project("v1"), project("v2")
    events = converge(old)
    declare = decide(new, observe(events), Facts(now=NOW))[0]
    assert isinstance(declare, Declare)
    row = observe([*events, declare.event]).datasets[("p", "mnist")]
    assert row.status == "pending" and row.version == 1


def test_rows_of_another_project_name_start_their_deletion_grace() -> None:
    observed = observe(converge(project()))
    renamed = load_text(
        SPEC.format(command="make data").replace("projectname: p", "projectname: q")
    )
    actions = decide(renamed, observed, LENIENT)
    assert [a.event.dataset for a in actions if isinstance(a, MarkDeleting)] == ["mnist"]
    assert [a.event.project for a in actions if isinstance(a, Declare)] == ["q"]


def test_renaming_the_project_is_a_mass_deletion_held_back() -> None:
    observed = observe(converge(project()))
    renamed = load_text(
        SPEC.format(command="make data").replace("projectname: p", "projectname: q")
    )
    actions = decide(renamed, observed, Facts(now=NOW))
    assert [a for a in actions if isinstance(a, MarkDeleting | Remove)] == []
    assert "mass_deletion:q" in [a.event.key for a in actions if isinstance(a, RaiseAlert)]
