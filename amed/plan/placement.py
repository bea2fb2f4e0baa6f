"""Placing producers in the store's free space: a pure part of the planner.

A data set with a declared size starts only when it fits, after evicting least-recently-used
unused data if that is enough; when even that is not enough, nothing is evicted and it is
blocked. Above the high watermark, unused data is evicted down to the low one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from amed.plan.actions import Block, Evict, Input, Produce
from amed.plan.capacity import Usage, choose_victims, evictable
from amed.plan.facts import Facts, Key
from spec import DataSet, format_bytes
from state.events import DatasetBlocked, DatasetEvicted
from state.rows import DatasetRow


@dataclass
class Candidate:
    """A data set due to be produced, why, and the input versions it is made from."""

    data_set: DataSet
    row: DatasetRow
    reason: str
    inputs: tuple[Input, ...] = ()


@dataclass
class Placement:
    evictions: list[Evict] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    produces: list[Produce] = field(default_factory=list)

    def producing(self) -> set[Key]:
        return {(p.project, p.data_set.name) for p in self.produces}


def place(
    plan: Placement,
    project: str,
    candidates: list[Candidate],
    rows: Mapping[Key, DatasetRow],
    usage: Usage,
    facts: Facts,
    protected: Collection[Key],
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
                exclude=taken | {row.key} | plan.producing(),
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
                inputs=candidate.inputs,
                code_digest=facts.code_digest,
            )
        )
        usage = usage.reserving(size or 0)
        slots -= 1
    return usage


def keep_under_watermark(
    plan: Placement,
    project: str,
    rows: Mapping[Key, DatasetRow],
    usage: Usage,
    facts: Facts,
    protected: Collection[Key],
) -> Usage:
    percent = usage.used_percent
    policy = facts.policy
    if percent is None or usage.capacity_bytes is None or percent <= policy.eviction_high_percent:
        return usage
    target = usage.capacity_bytes * policy.eviction_low_percent / 100.0
    already = {e.event.dataset for e in plan.evictions}
    pool = [
        r
        for r in evictable(rows.values(), in_use=protected, exclude=plan.producing())
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
