"""The planner: what to do next, given what should exist and what does.

`decide` is a pure function. It reads no clock, disk or network: the time, the runs alive in
this process, free worker slots and free space come in as `Facts`. It returns commands in
the imperative (`Produce`, `Evict`, `Block`, ...) that the daemon carries out and records as
events. Deciding over a converged world returns nothing, which is what makes a pass over it
append no event.

Space is planned before it is taken: a data set with a declared size is produced only when
it fits, after evicting least-recently-used unused data if that is enough; when even that
is not enough, nothing is evicted and the data set is blocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from amed.alerting import AlertAction, ClearAlert, Deliver, RaiseAlert, alert_actions
from amed.capacity import Usage, choose_victims, evictable, usage_of
from amed.conditions import conditions
from amed.consumers import StartTask, plan_tasks
from spec import DataSet, Project, format_bytes
from state.events import (
    DatasetBlocked,
    DatasetDeclared,
    DatasetEvicted,
    DatasetUndeclared,
    RunFailed,
    TaskDeclared,
    TaskFinished,
    TaskRequested,
)
from state.fold import apply_dataset
from state.observed import Observed
from state.rows import DatasetRow

Key = tuple[str, str]


@dataclass(frozen=True)
class Policy:
    eviction_high_percent: float = 90.0
    eviction_low_percent: float = 80.0
    low_space_percent: float = 85.0
    alert_repeat_seconds: float = 4 * 3600.0
    alert_after_failures: int = 3
    deletion_grace_seconds: float = 3600.0
    deletion_max_percent: float = 50.0


@dataclass(frozen=True)
class Facts:
    """What the planner may not find out for itself.

    `running_runs`: run ids with a live process in this daemon. `free_slots`: how many more
    producers may start now. `hold`: data sets not to start again now (a `--once` invocation
    tries each data set once). `capacity_bytes`: amed's budget in the store, if one is set.
    `disk_free_bytes`: the real free space under a local store. `in_use`: data sets that
    running tasks use. `wanted`: evicted data sets something asked for. `store_error` and
    `spec_error`: what is wrong with the store or ame.yaml right now, if anything.
    """

    now: datetime
    running_runs: frozenset[str] = frozenset()
    free_slots: int = 1
    hold: frozenset[Key] = frozenset()
    capacity_bytes: int | None = None
    disk_free_bytes: int | None = None
    in_use: frozenset[Key] = frozenset()
    wanted: frozenset[Key] = frozenset()
    store_error: str | None = None
    spec_error: str | None = None
    policy: Policy = field(default_factory=Policy)


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
    """Run the producing task and store its output as `version`. `budget_bytes`: the most
    the output may take (None: no limit known)."""

    project: str
    data_set: DataSet
    version: int
    attempt: int
    reason: str = "new"
    budget_bytes: int | None = None


@dataclass(frozen=True)
class DeleteVersion:
    """Delete the objects of a version that is no longer served."""

    project: str
    dataset: str
    version: int
    reason: str


@dataclass(frozen=True)
class Remove:
    """Stop serving a data set that is no longer declared; its versions are deleted next."""

    project: str
    dataset: str
    versions: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class MarkDeleting:
    """Record that a data set left ame.yaml; it is deleted once its grace has passed."""

    event: DatasetUndeclared


@dataclass(frozen=True)
class Evict:
    """Give up a data set's ready version to free space; it is produced again on demand."""

    event: DatasetEvicted


@dataclass(frozen=True)
class Block:
    event: DatasetBlocked


@dataclass(frozen=True)
class DeclareTask:
    event: TaskDeclared


@dataclass(frozen=True)
class RequestTask:
    """The task's schedule fired: record a request for a run."""

    event: TaskRequested


@dataclass(frozen=True)
class FinishTask:
    """Record a task run that ends without running (a data set it needs failed) or whose
    process is gone."""

    event: TaskFinished


Action = (
    Declare
    | MarkLost
    | MarkDeleting
    | DeleteVersion
    | Remove
    | Evict
    | Block
    | Produce
    | DeclareTask
    | RequestTask
    | FinishTask
    | StartTask
    | RaiseAlert
    | ClearAlert
    | Deliver
)

LOST_REASON = "the daemon stopped while this run was in progress"


@dataclass
class _Plan:
    declares: list[Declare] = field(default_factory=list)
    lost: list[MarkLost | MarkDeleting] = field(default_factory=list)
    deletes: list[DeleteVersion | Remove] = field(default_factory=list)
    evictions: list[Evict] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    produces: list[Produce] = field(default_factory=list)
    tasks: list[DeclareTask | RequestTask | FinishTask] = field(default_factory=list)
    starts: list[StartTask] = field(default_factory=list)
    alerts: list[AlertAction] = field(default_factory=list)

    def actions(self) -> list[Action]:
        return [
            *self.declares,
            *self.lost,
            *self.tasks,
            *self.deletes,
            *self.evictions,
            *self.blocks,
            *self.produces,
            *self.starts,
            *self.alerts,
        ]


@dataclass
class _Candidate:
    data_set: DataSet
    row: DatasetRow
    reason: str


def decide(desired: Project, observed: Observed, facts: Facts) -> list[Action]:
    plan = _Plan()
    project = desired.name
    rows: dict[Key, DatasetRow] = dict(observed.datasets)
    declared: set[Key] = set()
    for data_set in desired.data_sets:
        key = (project, data_set.name)
        declared.add(key)
        row = rows.get(key)
        declaration = _declaration(project, data_set, facts.now)
        if _differs(row, declaration):
            plan.declares.append(Declare(declaration))
            row = apply_dataset(row, declaration)
            assert row is not None
            rows[key] = row

    tasks = plan_tasks(desired, observed.tasks, rows, facts.now, facts.running_runs)
    plan.tasks += [DeclareTask(e) for e in tasks.declares]
    plan.tasks += [RequestTask(e) for e in tasks.requests]
    plan.tasks += [FinishTask(e) for e in tasks.finishes]
    wanted = dict(tasks.wanted)
    wanted.update((k, "requested") for k, r in rows.items() if r.requested_at is not None)
    wanted.update((k, "wanted") for k in facts.wanted)
    needed = {
        (project, ref.name)
        for task in desired.tasks
        if (waiting := observed.tasks.get((project, task.name))) and waiting.status == "waiting"
        for ref in task.data_sets
    }

    candidates: list[_Candidate] = []
    for data_set in desired.data_sets:
        key = (project, data_set.name)
        row = rows[key]
        if row.status in ("running", "uploading"):
            if row.run_id not in facts.running_runs:
                plan.lost.append(MarkLost(_lost(row, facts.now)))
            continue
        reason = _due(row, facts, wanted.get(key))
        if reason and key not in facts.hold:
            candidates.append(_Candidate(data_set, row, reason))

    freed = 0
    removing: set[Key] = set()
    newly_undeclared: list[DatasetRow] = []
    for key, row in sorted(rows.items()):
        if key in declared or row.status == "removed":
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
    guarded = _undeclare(plan, newly_undeclared, rows, facts)
    for key, versions in sorted(observed.versions.items()):
        if key in removing or key not in rows:
            continue
        status = rows[key].status
        reason = status if status in ("removed", "evicted") else "superseded"
        for version in versions:
            if not version.current:
                plan.deletes.append(DeleteVersion(key[0], key[1], version.version, reason))
                freed += version.size_bytes

    usage = usage_of(
        observed, capacity_bytes=facts.capacity_bytes, disk_free_bytes=facts.disk_free_bytes
    ).freeing(freed)
    protected = facts.in_use | needed
    usage = _place(plan, project, candidates, rows, usage, facts, protected)
    slots = facts.free_slots - len(plan.produces)
    plan.starts = tasks.ready[: max(slots, 0)]
    usage = _keep_under_watermark(plan, project, rows, usage, facts, protected)
    plan.alerts = alert_actions(
        project,
        conditions(desired, rows, plan_blocks(plan), plan_evictions(plan), usage, facts, guarded),
        observed.alerts,
        facts.now,
        facts.policy.alert_repeat_seconds,
    )
    return plan.actions()


def _undeclare(
    plan: _Plan, newly: list[DatasetRow], rows: dict[Key, DatasetRow], facts: Facts
) -> list[DatasetRow]:
    """Start the deletion grace of data sets that left ame.yaml, unless that would be more
    than `deletion_max_percent` of all data sets at once: then nothing starts, and the
    rows are returned for an alert. A person confirms such a deletion with `ame ds delete`."""
    if not newly:
        return []
    known = sum(1 for r in rows.values() if r.status != "removed")
    if len(newly) * 100 > facts.policy.deletion_max_percent * known:
        return newly
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
    return []


def plan_blocks(plan: _Plan) -> list[DatasetBlocked]:
    return [b.event for b in plan.blocks]


def plan_evictions(plan: _Plan) -> list[DatasetEvicted]:
    return [e.event for e in plan.evictions]


def _due(row: DatasetRow, facts: Facts, wanted: str | None) -> str | None:
    """Why this data set should be produced now, or None. `wanted`: why something asked
    for it, if anything did; that overrides both eviction and a failure's backoff."""
    match row.status:
        case "pending":
            return "spec changed" if row.version is not None else "new"
        case "blocked":
            return "retry after blocked"
        case "failed" if wanted is not None:
            return wanted
        case "failed" if row.retry_at is None or row.retry_at <= facts.now:
            return "retry after lost run" if row.failed_stage == "lost" else "retry after failure"
        case "evicted" if wanted is not None:
            return wanted
    return None


def _place(
    plan: _Plan,
    project: str,
    candidates: list[_Candidate],
    rows: dict[Key, DatasetRow],
    usage: Usage,
    facts: Facts,
    protected: set[Key] | frozenset[Key],
) -> Usage:
    """Start what fits, evicting for it when that is enough; block what cannot fit."""
    slots = facts.free_slots
    taken: set[Key] = set()
    for candidate in candidates:
        if slots <= 0:
            break
        data_set, row = candidate.data_set, candidate.row
        size = data_set.size_bytes
        free = usage.free_bytes
        if size is not None and free is not None and size > free:
            pool = evictable(
                rows.values(),
                in_use=protected,
                exclude=taken | {row.key} | _producing(plan),
            )
            victims = choose_victims(pool, size - free)
            if victims is None:
                if row.status != "blocked":
                    reclaimable = sum(v.size_bytes or 0 for v in pool)
                    plan.blocks.append(
                        Block(_blocked(row, size, free, reclaimable, usage, facts.now))
                    )
                continue
            for victim in victims:
                plan.evictions.append(
                    Evict(_evicted(victim, f"to make room for {data_set.name}", facts.now))
                )
                taken.add(victim.key)
                usage = usage.freeing(victim.size_bytes or 0)
        budget = usage.free_bytes
        plan.produces.append(
            Produce(
                project,
                data_set,
                version=row.last_version + 1,
                attempt=row.attempts + 1,
                reason=candidate.reason,
                budget_bytes=budget,
            )
        )
        usage = usage.reserving(size or 0)
        slots -= 1
    return usage


def _keep_under_watermark(
    plan: _Plan,
    project: str,
    rows: dict[Key, DatasetRow],
    usage: Usage,
    facts: Facts,
    protected: set[Key] | frozenset[Key],
) -> Usage:
    percent = usage.used_percent
    policy = facts.policy
    if percent is None or usage.capacity_bytes is None or percent <= policy.eviction_high_percent:
        return usage
    target = usage.capacity_bytes * policy.eviction_low_percent / 100.0
    already = {e.event.dataset for e in plan.evictions}
    pool = [
        r
        for r in evictable(rows.values(), in_use=protected, exclude=_producing(plan))
        if r.name not in already
    ]
    reason = (
        f"storage {percent:.0f}% full, above the {policy.eviction_high_percent:g}% high "
        f"watermark; evicting down to {policy.eviction_low_percent:g}%"
    )
    for victim in pool:
        if usage.used_bytes <= target:
            break
        plan.evictions.append(Evict(_evicted(victim, reason, facts.now)))
        usage = usage.freeing(victim.size_bytes or 0)
    return usage


def _producing(plan: _Plan) -> set[Key]:
    return {(p.project, p.data_set.name) for p in plan.produces}


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
    if row is None or row.status in ("removed", "deleting"):
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


def _evicted(row: DatasetRow, reason: str, now: datetime) -> DatasetEvicted:
    return DatasetEvicted(
        at=now,
        project=row.project,
        dataset=row.name,
        version=row.version or 0,
        reason=reason,
        bytes_freed=row.size_bytes or 0,
    )


def _blocked(
    row: DatasetRow, size: int, free: int, reclaimable: int, usage: Usage, now: datetime
) -> DatasetBlocked:
    capacity = usage.capacity_bytes
    of_capacity = f" of {format_bytes(capacity)}" if capacity is not None else ""
    reason = (
        f"needs {format_bytes(size)} but only {format_bytes(free)}{of_capacity} is free, and "
        f"evicting every unused data set would free only {format_bytes(reclaimable)} more; "
        "nothing was evicted"
    )
    return DatasetBlocked(
        at=now,
        project=row.project,
        dataset=row.name,
        reason=reason,
        needed_bytes=size,
        free_bytes=free,
        reclaimable_bytes=reclaimable,
        capacity_bytes=capacity,
    )


def summarize(actions: Sequence[Action]) -> dict[str, int]:
    """Counts per kind of action, for a log line."""
    counts: dict[str, int] = {}
    for action in actions:
        name = type(action).__name__.lower()
        counts[name] = counts.get(name, 0) + 1
    return counts
