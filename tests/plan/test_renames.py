"""The mass-deletion guard over many passes: renaming data sets or the project deletes
nothing until a person confirms, however many passes run and whatever gets stored in
between; a small deletion still takes its grace."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from amed.plan.actions import (
    Action,
    Block,
    Declare,
    DeclareTask,
    DeleteVersion,
    Evict,
    MarkDeleting,
    Produce,
    Remove,
)
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import decide
from amed.plan.facts import Facts, Policy
from spec import Project, load_text
from state.events import (
    AlertDelivered,
    DatasetEvicted,
    DatasetRemoved,
    DatasetUndeclared,
    DeletionApproved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)
from state.observed import Observed
from state.tables import replay

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GiB = 2**30
# No grace at all: the worst case, where a deletion that starts is carried out next pass.
POLICY = Policy(deletion_grace_seconds=0)
DELETING = (MarkDeleting, Remove, DeleteVersion, Evict)


def spec(names: Iterable[str], project: str = "p", size: str | None = None) -> Project:
    lines = [f"projectname: {project}", "tasks:", "  - name: make"]
    lines += ["    executor: !custom {command: make}", "dataSets:"]
    for name in names:
        lines += [f"  - name: {name}", f"    path: {name}", "    task: {taskRef: make}"]
        if size:
            lines.append(f"    size: {size}")
    return load_text("\n".join(lines) + "\n")


class Daemon:
    """Carries out the planner's actions as the reconciler records them: each pass a minute
    after the last, each run stored a few seconds after the pass that started it (or failed,
    for the data sets in `failing`), alerts only logged."""

    def __init__(self, failing: Iterable[str] = (), capacity_bytes: int | None = None) -> None:
        self.events: list[Event] = []
        self.actions: list[Action] = []
        self.now = NOW
        self.failing = set(failing)
        self.capacity_bytes = capacity_bytes

    def observed(self) -> Observed:
        return replay(self.events).observed()

    def step(self, desired: Project) -> list[Action]:
        self.now += timedelta(minutes=1)
        facts = Facts(now=self.now, free_slots=8, capacity_bytes=self.capacity_bytes, policy=POLICY)
        actions = decide(desired, self.observed(), facts)
        for action in actions:
            self.events += self.outcome(action)
        self.actions += actions
        return actions

    def passes(self, desired: Project, count: int) -> list[Action]:
        return [a for _ in range(count) for a in self.step(desired)]

    def confirm(self, desired: Project) -> None:
        """What `ame ds delete --all-pending --confirm` appends."""
        self.now += timedelta(seconds=1)
        declared = {(desired.name, d.name) for d in desired.data_sets}
        for row in self.observed().datasets.values():
            if row.key in declared or row.status == "removed":
                continue
            self.events.append(
                DeletionApproved(at=self.now, project=row.project, dataset=row.name)
                if row.status == "deleting"
                else DatasetUndeclared(
                    at=self.now, project=row.project, dataset=row.name, delete_after=self.now
                )
            )

    def outcome(self, action: Action) -> list[Event]:
        now = self.now
        match action:
            case Produce(project=project, data_set=ds, version=version):
                run = f"{ds.name}-{version}"
                common = {"project": project, "dataset": ds.name, "run_id": run}
                started = RunStarted(
                    at=now,
                    version=version,
                    spec_hash=ds.spec_hash,
                    task=ds.producer.name,
                    attempt=action.attempt,
                    **common,
                )
                later = now + timedelta(seconds=5)
                if ds.name in self.failing:
                    failed = RunFailed(
                        at=later,
                        stage="task",
                        reason="exit 1",
                        retry_at=now + timedelta(days=1),
                        **common,
                    )
                    return [started, failed]
                return [
                    started,
                    RunSucceeded(at=later, seconds=5, **common),
                    VersionStored(
                        at=later,
                        version=version,
                        spec_hash=ds.spec_hash,
                        size_bytes=ds.size_bytes or 10,
                        files=1,
                        seconds=5,
                        **common,
                    ),
                ]
            case Remove(project=project, dataset=name, versions=versions):
                removed = DatasetRemoved(at=now, project=project, dataset=name, reason="x")
                return [removed, *(self.deleted(project, name, v) for v in versions)]
            case DeleteVersion(project=project, dataset=name, version=version):
                return [self.deleted(project, name, version)]
            case Evict(event=evicted):
                return [evicted, self.deleted(evicted.project, evicted.dataset, evicted.version)]
            case Deliver(key=key, notice=notice):
                kind = "resolved" if notice == "resolved" else "alert"
                return [AlertDelivered(at=now, project="p", key=key, notice=kind, channels=())]
            case (
                Declare(event=event)
                | DeclareTask(event=event)
                | MarkDeleting(event=event)
                | Block(event=event)
                | RaiseAlert(event=event)
                | ClearAlert(event=event)
            ):
                return [event]
        raise AssertionError(f"not expected here: {action}")

    def deleted(self, project: str, name: str, version: int) -> VersionDeleted:
        return VersionDeleted(
            at=self.now, project=project, dataset=name, version=version, reason="x", objects=2
        )

    def status(self, project: str = "p") -> dict[str, tuple[str, int | None]]:
        return {
            row.name: (row.status, row.version)
            for row in self.observed().datasets.values()
            if row.project == project
        }


def deletions(actions: Iterable[Action]) -> list[Action]:
    return [a for a in actions if isinstance(a, DELETING)]


def deleted_names(actions: Iterable[Action]) -> set[str]:
    names: set[str] = set()
    for action in actions:
        match action:
            case MarkDeleting(event=event) | Evict(event=event):
                names.add(event.dataset)
            case Remove(dataset=name) | DeleteVersion(dataset=name):
                names.add(name)
    return names


def raised(actions: Iterable[Action]) -> list[RaiseAlert]:
    return [a for a in actions if isinstance(a, RaiseAlert)]


OLD, NEW = ["a", "b", "c", "d"], ["a2", "b2", "c2", "d2"]


def produced(names: list[str]) -> Daemon:
    daemon = Daemon()
    daemon.passes(spec(names), 3)
    assert daemon.step(spec(names)) == [], "converged"
    return daemon


def test_renaming_every_data_set_deletes_nothing_however_many_passes_run() -> None:
    daemon = produced(OLD)
    actions = daemon.passes(spec(NEW), 8)
    assert deletions(actions) == []
    assert daemon.status() == {n: ("ready", 1) for n in OLD + NEW}, "the new names are stored"
    (alert,) = raised(actions)
    assert alert.event.key == "mass_deletion:p"
    assert alert.event.title == "amed: 4 data sets left ame.yaml at once; nothing is deleted"
    assert "a, b, c, d are no longer declared" in alert.event.body
    assert "(4 of the 4 data sets that hold stored data)" in alert.event.body
    assert "ame ds delete --all-pending --confirm" in alert.event.body
    assert daemon.observed().alerts["mass_deletion:p"].firing
    assert daemon.step(spec(NEW)) == [], "a held deletion appends nothing pass after pass"


def test_a_confirmed_rename_removes_the_old_data_sets_and_clears_the_alert() -> None:
    daemon = produced(OLD)
    daemon.passes(spec(NEW), 4)
    daemon.confirm(spec(NEW))
    actions = daemon.step(spec(NEW))
    assert [a for a in actions if isinstance(a, Remove)] == [
        Remove("p", name, (1,), "no longer declared") for name in OLD
    ]
    assert [a.event.key for a in actions if isinstance(a, ClearAlert)] == ["mass_deletion:p"]
    daemon.passes(spec(NEW), 2)
    assert daemon.status() == {
        **{n: ("removed", None) for n in OLD},
        **{n: ("ready", 1) for n in NEW},
    }
    assert daemon.step(spec(NEW)) == []


def test_renaming_the_project_holds_the_old_projects_data_until_confirmed() -> None:
    daemon = produced(OLD)
    renamed = spec(OLD, project="q")
    actions = daemon.passes(renamed, 8)
    assert deletions(actions) == []
    assert daemon.status("p") == {n: ("ready", 1) for n in OLD}
    assert daemon.status("q") == {n: ("ready", 1) for n in OLD}, "produced anew under q"
    (alert,) = raised(actions)
    assert alert.event.key == "mass_deletion:q"
    assert alert.event.title == (
        "amed: project p renamed to q in ame.yaml; the data of p is kept, nothing is deleted"
    )
    body = alert.event.body
    assert "ame.yaml now names the project q, no longer p" in body
    assert "amed does not move data between projects" in body
    assert "(a, b, c, d; 4 with stored data)" in body
    assert "name the project p again in ame.yaml" in body
    assert "ame ds delete --all-pending --confirm" in body

    daemon.confirm(renamed)
    actions = daemon.step(renamed)
    assert [(a.project, a.dataset) for a in actions if isinstance(a, Remove)] == [
        ("p", n) for n in OLD
    ]
    assert daemon.status("p") == {n: ("removed", None) for n in OLD}
    assert daemon.status("q") == {n: ("ready", 1) for n in OLD}


def test_naming_the_data_sets_back_ends_the_hold_and_keeps_them() -> None:
    daemon = produced(OLD)
    daemon.passes(spec(NEW), 4)
    actions = daemon.passes(spec(OLD), 4)
    assert not [a for a in actions if isinstance(a, Produce)], "they come back as they were"
    assert [a.event.key for a in actions if isinstance(a, ClearAlert)] == ["mass_deletion:p"]
    # The renamed copies, stored after the hold began, are not what it kept: 4 of 8 stored
    # data sets leaving is not more than half, so they take the grace.
    assert sorted(a.dataset for a in actions if isinstance(a, Remove)) == NEW
    assert daemon.status() == {
        **{n: ("ready", 1) for n in OLD},
        **{n: ("removed", None) for n in NEW},
    }


def test_a_data_set_leaving_during_a_hold_is_held_with_the_others() -> None:
    daemon = produced(OLD)
    daemon.passes(spec(NEW), 3)
    actions = daemon.passes(spec(NEW[:3]), 3)  # 1 of 8 alone would take its grace
    assert deletions(actions) == []
    assert daemon.status()["d2"] == ("ready", 1)


def test_held_data_sets_are_not_evicted_to_make_room_for_their_new_names() -> None:
    daemon = Daemon(capacity_bytes=5 * GiB)
    daemon.passes(spec(OLD, size="1Gi"), 3)
    assert daemon.status() == {n: ("ready", 1) for n in OLD}
    first = daemon.step(spec(NEW, size="1Gi"))
    assert sorted(a.event.dataset for a in first if isinstance(a, Block)) == NEW[1:]
    actions = daemon.passes(spec(NEW, size="1Gi"), 4)
    assert deleted_names([*first, *actions]).isdisjoint(OLD)
    assert {n: daemon.status()[n] for n in OLD} == {n: ("ready", 1) for n in OLD}


@pytest.mark.parametrize(
    ("stored", "never", "evicted", "leaving", "held"),
    [
        # Data sets by one-letter name: stored, never produced (their task fails), evicted.
        # Only those holding stored data count, on both sides of the share.
        pytest.param("abcd", "", "", "a", False, id="1 of 4 takes its grace"),
        pytest.param("abcd", "", "", "ab", False, id="2 of 4 is not more than half"),
        pytest.param("abcd", "", "", "abc", True, id="3 of 4 is held"),
        pytest.param("abcd", "efg", "", "aefg", False, id="1 of 4, and 3 never produced"),
        pytest.param("abcd", "", "efg", "aefg", False, id="1 of 4, and 3 evicted"),
        pytest.param("ab", "cdefgh", "", "ab", True, id="2 of 2 stored, among 8"),
        pytest.param("abcd", "ef", "", "ef", False, id="only never produced ones"),
    ],
)
def test_the_share_that_holds_a_deletion_counts_only_stored_data(
    stored: str, never: str, evicted: str, leaving: str, held: bool
) -> None:
    names = sorted(stored + never + evicted)
    daemon = Daemon(failing=never)
    daemon.passes(spec(names), 3)
    for name in evicted:
        daemon.events += [
            DatasetEvicted(
                at=daemon.now, project="p", dataset=name, version=1, reason="x", bytes_freed=10
            ),
            daemon.deleted("p", name, 1),
        ]
    actions = daemon.step(spec(n for n in names if n not in leaving))
    marked = sorted(a.event.dataset for a in actions if isinstance(a, MarkDeleting))
    assert marked == ([] if held else sorted(leaving))
    assert [a.event.key for a in raised(actions)] == (["mass_deletion:p"] if held else [])
