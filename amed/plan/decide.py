"""The planner: what to do next, given what should exist and what does.

`decide` is a pure function. It reads no clock, disk or network: the time, the runs alive in
this process, free worker slots and free space come in as `Facts`. It returns commands in
the imperative (`amed.plan.actions`) that the daemon carries out and records as events. Deciding
over a converged world returns nothing, which is what makes a pass over it append no event.

The parts: declarations and deletions here; what is due, in the order of the graph of data
sets, in `amed.plan.graph`; space in `amed.plan.placement`; tasks that consume data sets in
`amed.plan.tasks`; alerts in `amed.plan.alerts` and `amed.plan.conditions`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from amed.plan.actions import (
    Action,
    Declare,
    DeclareTask,
    DeleteVersion,
    FailDependant,
    FinishTask,
    MarkDeleting,
    MarkLost,
    Remove,
    RequestTask,
)
from amed.plan.alerts import AlertAction, alert_actions
from amed.plan.capacity import usage_from
from amed.plan.conditions import HeldDeletions, conditions, mass_deletion_key, quiet
from amed.plan.facts import Facts, Key
from amed.plan.graph import ACTIVE, Flow, Waiting, input_names, plan_flow, settled
from amed.plan.placement import Candidate, Placement, keep_under_watermark, place
from amed.plan.tasks import StartTask, plan_tasks
from spec import DataSet, Project
from state.events import DatasetDeclared, DatasetUndeclared, RunFailed
from state.fold import apply_dataset
from state.observed import Observed
from state.rows import DatasetRow, VersionRow

LOST_REASON = "the daemon stopped while this run was in progress"


@dataclass
class _Plan:
    declares: list[Declare] = field(default_factory=list)
    lost: list[MarkLost | MarkDeleting] = field(default_factory=list)
    failures: list[FailDependant] = field(default_factory=list)
    deletes: list[DeleteVersion | Remove] = field(default_factory=list)
    space: Placement = field(default_factory=Placement)
    tasks: list[DeclareTask | RequestTask | FinishTask] = field(default_factory=list)
    starts: list[StartTask] = field(default_factory=list)
    alerts: list[AlertAction] = field(default_factory=list)

    def actions(self) -> list[Action]:
        return [
            *self.declares,
            *self.lost,
            *self.failures,
            *self.tasks,
            *self.deletes,
            *self.space.evictions,
            *self.space.blocks,
            *self.space.produces,
            *self.starts,
            *self.alerts,
        ]


@dataclass(frozen=True)
class Decision:
    """A pass's actions, and the data sets that wait for their inputs (for a dry run)."""

    actions: list[Action]
    waiting: list[Waiting]


def decide(desired: Project, observed: Observed, facts: Facts) -> list[Action]:
    return decide_in_full(desired, observed, facts).actions


def decide_in_full(desired: Project, observed: Observed, facts: Facts) -> Decision:
    plan = _Plan()
    project = desired.name
    code = facts.code_digest
    # One loop over the declared data sets, touching each row once: at 100,000 a pass is
    # bound by fetching rows from memory, not by what it computes. A data set settled and
    # quiet needs nothing (nearly all of them, in a converged project); every later part
    # looks only at the others, and at the rows the log holds beyond the declared ones.
    rows: Mapping[Key, DatasetRow] = observed.datasets
    declared_rows: dict[Key, DatasetRow] = {}
    unsettled: list[DataSet] = []
    asked: dict[Key, str] = {}
    reserved = 0
    for data_set in desired.data_sets:
        key = (project, data_set.name)
        row = rows.get(key)
        if not _differs(row, data_set):
            assert row is not None
            if settled(data_set, row, code) and quiet(row):
                continue
        else:
            declaration = _declaration(project, data_set, facts.now)
            plan.declares.append(Declare(declaration))
            declared = apply_dataset(row, declaration)
            assert declared is not None
            declared_rows[key] = declared
        if row is not None and row.status in ACTIVE:
            reserved += row.declared_size_bytes or 0
        unsettled.append(data_set)
        now_row = declared_rows.get(key, row)
        if now_row is not None and now_row.requested_at is not None:
            asked[key] = "requested"
    if declared_rows:  # a copy only when something is declared anew (not on a no-op pass)
        rows = {**rows, **declared_rows}
    # Every declared data set has a row now, and names are unique: more rows than
    # declarations is the only way some are undeclared (a pass over 100,000 need not
    # build the set of their keys to learn that none are).
    undeclared: list[Key] = []
    if len(rows) > len(desired.data_sets):
        declared_keys = {(project, d.name) for d in desired.data_sets}
        undeclared = sorted(rows.keys() - declared_keys)  # sorted: few, and the order is stable
        for key in undeclared:
            row = rows[key]
            if row.requested_at is not None:
                asked[key] = "requested"
            if row.status in ACTIVE:
                reserved += row.declared_size_bytes or 0

    asked.update((k, "wanted") for k in facts.wanted)
    flow = plan_flow(desired, rows, facts, asked, unsettled)
    tasks = plan_tasks(
        desired, observed.tasks, rows, facts.now, facts.running_runs, settling=flow.moving
    )
    plan.tasks += [DeclareTask(e) for e in tasks.declares]
    plan.tasks += [RequestTask(e) for e in tasks.requests]
    plan.tasks += [FinishTask(e) for e in tasks.finishes]
    if tasks.wanted.keys() - asked.keys():  # a task waits for a failed or evicted data set
        flow = plan_flow(desired, rows, facts, {**tasks.wanted, **asked}, unsettled)
    plan.failures = flow.failures
    needed = {
        (project, ref.name)
        for task in desired.tasks
        if (waiting := observed.tasks.get((project, task.name))) and waiting.status == "waiting"
        for ref in task.data_sets
    }

    candidates = _candidates(plan, flow, facts)

    freed = 0
    removing: set[Key] = set()
    newly_undeclared: list[DatasetRow] = []
    for key in undeclared:
        row = rows[key]
        if row.status == "removed":
            continue
        if row.status in ("running", "uploading"):
            if row.run_id not in facts.running_runs:
                plan.lost.append(MarkLost(_lost(row, facts.now)))
            continue
        if row.status != "deleting":
            newly_undeclared.append(row)
            continue
        if row.delete_after is not None and row.delete_after > facts.now:
            continue
        numbers = tuple(v.version for v in observed.versions.get(key, ()))
        plan.deletes.append(Remove(row.project, row.name, numbers, "no longer declared"))
        freed += sum(v.size_bytes for v in observed.versions.get(key, ()))
        removing.add(key)
    held = _undeclare(plan, newly_undeclared, observed, facts, project)
    held_bytes, superseded = _versions(observed)
    for key, version in superseded:
        row = rows.get(key)
        if key in removing or row is None or row.in_use_by:
            continue  # in use: a running task may still be reading an older version
        reason = row.status if row.status in ("removed", "evicted") else "superseded"
        plan.deletes.append(DeleteVersion(key[0], key[1], version.version, reason))
        freed += version.size_bytes

    usage = usage_from(  # as `usage_of` counts them, from the loops above
        held_bytes,
        reserved,
        capacity_bytes=facts.capacity_bytes,
        disk_free_bytes=facts.disk_free_bytes,
    ).freeing(freed)
    protected = facts.in_use | needed | flow.protected
    if held is not None:
        protected |= {r.key for r in held.rows}  # evicting one would delete what the hold keeps
    usage = place(plan.space, project, candidates, rows, usage, facts, protected)
    slots = facts.free_slots - len(plan.space.produces)
    plan.starts = tasks.ready[: max(slots, 0)]
    usage = keep_under_watermark(plan.space, project, rows, usage, facts, protected)
    plan.alerts = alert_actions(
        project,
        conditions(
            desired,
            rows,
            [b.event for b in plan.space.blocks],
            [e.event for e in plan.space.evictions],
            usage,
            facts,
            held,
            observed.tasks,
            unsettled,
        ),
        observed.alerts,
        facts.now,
        facts.policy.alert_repeat_seconds,
    )
    return Decision(plan.actions(), flow.waiting)


def _versions(observed: Observed) -> tuple[int, list[tuple[Key, VersionRow]]]:
    """What every committed version holds (as `Observed.held_bytes` counts it), and the
    versions no longer served, by data set and number: one loop over the versions. Almost
    no data set has one to delete: what is found is sorted, not the keys looked at."""
    held = 0
    superseded: list[tuple[Key, VersionRow]] = []
    for key, versions in observed.versions.items():
        if len(versions) == 1:
            only = versions[0]
            held += only.size_bytes
            if only.current:
                continue
        else:
            held += sum(v.size_bytes for v in versions)
        superseded += ((key, v) for v in versions if not v.current)
    superseded.sort(key=lambda found: (found[0], found[1].version))
    return held, superseded


def _candidates(plan: _Plan, flow: Flow, facts: Facts) -> list[Candidate]:
    """What is due now, in spec order; a run the log calls live that no process holds is
    settled as lost."""
    for row in flow.active:
        if row.run_id not in facts.running_runs:
            plan.lost.append(MarkLost(_lost(row, facts.now)))
    return list(flow.due.values())


def _undeclare(
    plan: _Plan, newly: list[DatasetRow], observed: Observed, facts: Facts, project: str
) -> HeldDeletions | None:
    """Start the deletion grace of the data sets that left ame.yaml, or hold them all.

    They are all held, none entering its grace, when those of them that hold stored data
    are more than `deletion_max_percent` of their project's data sets that hold stored data.
    Only stored data counts, on both sides of the share: a data set never produced, or
    evicted, loses nothing by leaving, so it can neither make a small deletion look massive
    nor dilute a large one; nor can the data sets this pass declares (a rename), which hold
    nothing yet. The share is per project, so renaming the project is a mass deletion of the
    old one (unless `deletion_max_percent` is 100, which turns the guard off): every data set
    of the old name leaves at once, as amed does not move data between projects.

    A hold is sticky: while the alert it raised fires and a data set that held stored data
    before it was raised is still leaving, every data set that leaves is held, whatever the
    share is now. Otherwise the renamed data sets, once stored, would make the old ones look
    few a few passes later and release them. The hold ends when a person confirms (`ame ds
    delete --all-pending --confirm` starts every grace at once) or puts those data sets back
    in ame.yaml; what was stored since is then judged by the share alone. A clock that
    stepped back only makes data sets look older than the hold: it errs towards holding.
    Data sets already in their grace are not held: they left in a pass that was no mass
    deletion, or were confirmed."""
    if not newly:
        return None
    stored_at = {
        r.key: at for r in observed.datasets.values() if (at := _stored_at(r, observed)) is not None
    }
    stored = Counter(p for p, _ in stored_at)
    leaving = Counter(r.project for r in newly if r.key in stored_at)
    limit = facts.policy.deletion_max_percent
    alert = observed.alerts.get(mass_deletion_key(project))
    still_held = (
        alert is not None
        and alert.firing
        and any(r.key in stored_at and stored_at[r.key] <= alert.raised_at for r in newly)
    )
    if still_held or any(n * 100 > limit * stored[p] for p, n in leaving.items()):
        return HeldDeletions(tuple(newly), stored, leaving)
    delete_after = facts.now + timedelta(seconds=facts.policy.deletion_grace_seconds)
    for row in newly:
        plan.lost.append(
            MarkDeleting(
                DatasetUndeclared(
                    at=facts.now,
                    project=row.project,
                    dataset=row.name,
                    delete_after=delete_after,
                )
            )
        )
    return None


def _stored_at(row: DatasetRow, observed: Observed) -> datetime | None:
    """When the version the data set serves was committed; None when it holds no stored data
    (never produced, evicted, removed)."""
    if row.status == "removed" or row.version is None:
        return None
    for version in observed.versions.get(row.key, ()):
        if version.version == row.version:
            return version.stored_at
    return None


def _declaration(project: str, data_set: DataSet, now: datetime) -> DatasetDeclared:
    return DatasetDeclared(
        at=now,
        project=project,
        dataset=data_set.name,
        spec_hash=data_set.spec_hash,
        path=data_set.path,
        task=data_set.producer.name,
        declared_size_bytes=data_set.size_bytes,
        inputs=input_names(data_set, project),
    )


def _differs(row: DatasetRow | None, data_set: DataSet) -> bool:
    """Whether the row must record a new declaration. Compared field by field, so that a
    pass over a converged world builds no event at all."""
    if row is None or row.status in ("removed", "deleting"):
        return True
    producer = data_set.producer
    if (  # field by field, not as tuples: two tuples a data set a pass, at 100,000
        row.spec_hash != data_set.spec_hash
        or row.path != data_set.path
        or row.task != producer.name
        or row.declared_size_bytes != data_set.size_bytes
    ):
        return True
    if not producer.data_sets:
        return bool(row.inputs)
    return row.inputs != input_names(data_set, row.project)


def _lost(row: DatasetRow, now: datetime) -> RunFailed:
    return RunFailed(
        at=now,
        project=row.project,
        dataset=row.name,
        run_id=row.run_id or "",
        stage="lost",
        reason=LOST_REASON,
    )
