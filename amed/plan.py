"""The planner: what to do next, given what should exist and what does.

`decide` is a pure function. It reads no clock, disk or network: the time, the runs alive in
this process and the free worker slots come in as `Facts`. It returns commands in the
imperative (`Produce`, `DeleteVersion`, ...) that the daemon carries out and records as
events. Deciding over a converged world returns nothing, which is what makes a pass over it
append no event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from spec import DataSet, Project
from state.events import DatasetDeclared, RunFailed
from state.fold import apply_dataset
from state.observed import Observed
from state.rows import DatasetRow


@dataclass(frozen=True)
class Facts:
    """What the planner may not find out for itself.

    `running_runs`: run ids with a live process in this daemon. `free_slots`: how many more
    producers may start now. `hold`: data sets not to start again now (a `--once` invocation
    tries each data set once)."""

    now: datetime
    running_runs: frozenset[str] = frozenset()
    free_slots: int = 1
    hold: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Declare:
    """Record that the spec declares this data set (new, or declared differently)."""

    event: DatasetDeclared


@dataclass(frozen=True)
class MarkLost:
    """A run the log calls live has no process in this daemon: it died with an earlier one."""

    event: RunFailed


@dataclass(frozen=True)
class Produce:
    project: str
    data_set: DataSet
    version: int
    attempt: int


@dataclass(frozen=True)
class DeleteVersion:
    project: str
    dataset: str
    version: int
    reason: str


@dataclass(frozen=True)
class Remove:
    """Delete every stored version of a data set that is no longer declared, then forget it."""

    project: str
    dataset: str
    versions: tuple[int, ...]
    reason: str


Action = Declare | MarkLost | Produce | DeleteVersion | Remove

LOST_REASON = "the daemon stopped while this run was in progress"


@dataclass
class _Plan:
    declares: list[Declare] = field(default_factory=list)
    lost: list[MarkLost] = field(default_factory=list)
    deletes: list[DeleteVersion | Remove] = field(default_factory=list)
    produces: list[Produce] = field(default_factory=list)

    def actions(self, free_slots: int) -> list[Action]:
        return [*self.declares, *self.lost, *self.deletes, *self.produces[: max(free_slots, 0)]]


def decide(desired: Project, observed: Observed, facts: Facts) -> list[Action]:
    plan = _Plan()
    project = desired.name
    declared_keys: set[tuple[str, str]] = set()
    for data_set in desired.data_sets:
        key = (project, data_set.name)
        declared_keys.add(key)
        row = observed.datasets.get(key)
        declaration = _declaration(project, data_set, facts.now)
        if _differs(row, declaration):
            plan.declares.append(Declare(declaration))
            row = apply_dataset(row, declaration)
        assert row is not None
        _decide_data_set(plan, project, data_set, row, facts)
        for version in observed.versions.get(key, ()):
            if not version.current:
                plan.deletes.append(
                    DeleteVersion(project, data_set.name, version.version, "superseded")
                )
    for key, row in sorted(observed.datasets.items()):
        if key in declared_keys or row.status == "removed":
            continue
        if row.status in ("running", "uploading"):
            if row.run_id not in facts.running_runs:
                plan.lost.append(MarkLost(_lost(row, facts.now)))
            continue
        versions = tuple(v.version for v in observed.versions.get(key, ()))
        plan.deletes.append(Remove(row.project, row.name, versions, "no longer declared"))
    return plan.actions(facts.free_slots)


def _decide_data_set(
    plan: _Plan, project: str, data_set: DataSet, row: DatasetRow, facts: Facts
) -> None:
    status = row.status
    if status in ("running", "uploading"):
        if row.run_id not in facts.running_runs:
            plan.lost.append(MarkLost(_lost(row, facts.now)))
        return
    due = status == "pending" or (
        status == "failed" and (row.retry_at is None or row.retry_at <= facts.now)
    )
    if due and (project, data_set.name) not in facts.hold:
        plan.produces.append(
            Produce(project, data_set, version=row.last_version + 1, attempt=row.attempts + 1)
        )


def _declaration(project: str, data_set: DataSet, now: datetime) -> DatasetDeclared:
    return DatasetDeclared(
        at=now,
        project=project,
        dataset=data_set.name,
        spec_hash=data_set.spec_hash,
        path=data_set.path,
        task=data_set.producer.name,
        declared_size_bytes=data_set.size_bytes,
    )


def _differs(row: DatasetRow | None, declaration: DatasetDeclared) -> bool:
    if row is None or row.status == "removed":
        return True
    return (row.spec_hash, row.path, row.task, row.declared_size_bytes) != (
        declaration.spec_hash,
        declaration.path,
        declaration.task,
        declaration.declared_size_bytes,
    )


def _lost(row: DatasetRow, now: datetime) -> RunFailed:
    return RunFailed(
        at=now,
        project=row.project,
        dataset=row.name,
        run_id=row.run_id or "",
        stage="lost",
        reason=LOST_REASON,
    )


def summarize(actions: Sequence[Action]) -> dict[str, int]:
    """Counts per kind of action, for a log line."""
    counts: dict[str, int] = {}
    for action in actions:
        name = type(action).__name__.lower()
        counts[name] = counts.get(name, 0) + 1
    return counts
