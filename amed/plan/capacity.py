"""Space in the object store: how much amed holds, how much is free, and what to evict.

Pure functions over the observed rows; the free disk space and the configured budget come in
as numbers. kubelet's image garbage collection is the model for watermarks: above the high
mark, evict least-recently-used unused data down to the low mark.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from state.observed import Observed
from state.rows import DatasetRow


@dataclass(frozen=True)
class Usage:
    """`capacity_bytes` None means no limit is known (a remote store without a budget)."""

    capacity_bytes: int | None
    held_bytes: int
    reserved_bytes: int
    disk_free_bytes: int | None = None

    @property
    def used_bytes(self) -> int:
        return self.held_bytes + self.reserved_bytes

    @property
    def free_bytes(self) -> int | None:
        free: int | None = None
        if self.capacity_bytes is not None:
            free = self.capacity_bytes - self.used_bytes
        if self.disk_free_bytes is not None:
            disk = self.disk_free_bytes - self.reserved_bytes
            free = disk if free is None else min(free, disk)
        return None if free is None else max(free, 0)

    @property
    def used_percent(self) -> float | None:
        if not self.capacity_bytes:
            return None
        return 100.0 * self.used_bytes / self.capacity_bytes

    def freeing(self, size_bytes: int) -> Usage:
        return Usage(
            self.capacity_bytes,
            self.held_bytes - size_bytes,
            self.reserved_bytes,
            None if self.disk_free_bytes is None else self.disk_free_bytes + size_bytes,
        )

    def reserving(self, size_bytes: int) -> Usage:
        return Usage(
            self.capacity_bytes,
            self.held_bytes,
            self.reserved_bytes + size_bytes,
            self.disk_free_bytes,
        )


def usage_of(
    observed: Observed, *, capacity_bytes: int | None, disk_free_bytes: int | None
) -> Usage:
    """Held: every committed version in the store. Reserved: the declared size of every
    data set being produced now (its bytes are not committed yet, but they are coming).
    Without a configured budget, a local store's capacity is what it holds plus what the
    disk has free."""
    held = observed.held_bytes()
    reserved = sum(
        row.declared_size_bytes or 0
        for row in observed.datasets.values()
        if row.status in ("running", "uploading")
    )
    return usage_from(
        held, reserved, capacity_bytes=capacity_bytes, disk_free_bytes=disk_free_bytes
    )


def usage_from(
    held_bytes: int, reserved_bytes: int, *, capacity_bytes: int | None, disk_free_bytes: int | None
) -> Usage:
    """`usage_of` from totals summed elsewhere (by SQLite, for `/metrics`)."""
    if capacity_bytes is None and disk_free_bytes is not None:
        capacity_bytes = held_bytes + disk_free_bytes
    return Usage(capacity_bytes, held_bytes, reserved_bytes, disk_free_bytes)


@dataclass(frozen=True)
class Growth:
    """How a data set's versions grew: `sizes` of its last versions (oldest first),
    `step_bytes` the average growth from one to the next, `next_bytes` what the next version
    will hold if the trend goes on."""

    sizes: tuple[int, ...]
    step_bytes: int
    next_bytes: int


def growth_of(sizes: Sequence[int]) -> Growth | None:
    """The trend of the last versions' sizes, when there is one: at least two versions, and
    larger on average from one to the next. A straight line through the first and the last
    (not the last step alone), so that one odd version moves the forecast less."""
    if len(sizes) < 2:
        return None
    step = -(-(sizes[-1] - sizes[0]) // (len(sizes) - 1))  # rounded up
    if step <= 0:
        return None
    return Growth(tuple(sizes), step, sizes[-1] + step)


def evictable(
    rows: Iterable[DatasetRow],
    *,
    in_use: Collection[tuple[str, str]],
    exclude: Collection[tuple[str, str]],
) -> list[DatasetRow]:
    """Ready data sets nothing uses now, least recently used first (ties by name)."""
    candidates = [
        row
        for row in rows
        if row.status == "ready"
        and row.version is not None
        and not row.in_use_by
        and row.key not in in_use
        and row.key not in exclude
    ]
    return sorted(candidates, key=lambda r: (_last_use(r), r.project, r.name))


def _last_use(row: DatasetRow) -> datetime:
    return row.last_used_at or row.produced_at or row.updated_at


def choose_victims(candidates: list[DatasetRow], needed_bytes: int) -> list[DatasetRow] | None:
    """The shortest least-recently-used prefix that frees `needed_bytes`, or None when even
    all of them would not: then nothing is evicted at all."""
    chosen: list[DatasetRow] = []
    freed = 0
    for row in candidates:
        if freed >= needed_bytes:
            break
        chosen.append(row)
        freed += row.size_bytes or 0
    return chosen if freed >= needed_bytes else None
