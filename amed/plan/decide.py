"""The planner: what to do next, given what should exist and what does.

`decide` is a pure function. It reads no clock, disk or network: the time, the runs alive in
this process, free worker slots and free space come in as `Facts`. It returns commands in
the imperative (`amed.plan.actions`) that the daemon carries out and records as events. Deciding
over a converged world returns nothing, which is what makes a pass over it append no event.

The parts: the one walk over every data set (which declarations changed, which data sets
need nothing) in `amed.plan.survey`, with what a pass hands to the next; deletions here; what
is due, in the order of the graph of data sets, in `amed.plan.graph`; space in
`amed.plan.placement`; tasks that consume data sets in `amed.plan.tasks`; alerts in
`amed.plan.alerts` and `amed.plan.conditions`.
"""

from __future__ import annotations

from collections import Counter
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
from amed.plan.conditions import HeldDeletions, conditions, mass_deletion_key
from amed.plan.facts import Facts, Key
from amed.plan.graph import Flow, Waiting, plan_flow
from amed.plan.placement import Candidate, Placement, keep_under_watermark, place
from amed.plan.survey import Memo, survey
from amed.plan.tasks import StartTask, plan_tasks
from spec import Project
from state.events import DatasetUndeclared, RunFailed
from state.observed import Observed
from state.rows import DatasetRow

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
    """A pass's actions, the data sets that wait for their inputs (for a dry run), and what
    the next pass may take from this one (`decide_in_full`'s `memo`)."""

    actions: list[Action]
    waiting: list[Waiting]
    memo: Memo | None = None


def decide(desired: Project, observed: Observed, facts: Facts) -> list[Action]:
    return decide_in_full(desired, observed, facts).actions


def decide_in_full(
    desired: Project, observed: Observed, facts: Facts, memo: Memo | None = None
) -> Decision:
    """`memo`: what the last pass found (`Decision.memo`), which spares reading again what
    did not change since (see `amed.plan.survey`); the actions are the same without it."""
    plan = _Plan()
    project = desired.name
    found = survey(desired, observed, facts, memo)
    plan.declares = [Declare(e) for e in found.declares]
    rows, unsettled, asked, undeclared = found.rows, found.unsettled, found.asked, found.undeclared

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
    for key, version in found.superseded:
        owner = rows.get(key)
        if key in removing or owner is None or owner.in_use_by:
            continue  # in use: a running task may still be reading an older version
        reason = owner.status if owner.status in ("removed", "evicted") else "superseded"
        plan.deletes.append(DeleteVersion(key[0], key[1], version.version, reason))
        freed += version.size_bytes

    usage = usage_from(  # as `usage_of` counts them, from the survey's loops
        found.held_bytes,
        found.reserved_bytes,
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
    return Decision(plan.actions(), flow.waiting, found.memo)


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


def _lost(row: DatasetRow, now: datetime) -> RunFailed:
    return RunFailed(
        at=now,
        project=row.project,
        dataset=row.name,
        run_id=row.run_id or "",
        stage="lost",
        reason=LOST_REASON,
    )
