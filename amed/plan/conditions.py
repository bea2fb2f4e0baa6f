"""The conditions worth an alert, worded for the person who has to act on them.

Pure: built from the rows, this pass's decisions and the usage numbers. Each message says
which data set, what happened, the numbers, and what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from amed.plan.alerts import Condition
from amed.plan.capacity import Usage, growth_of
from amed.plan.facts import Facts
from spec import DataSet, Project, format_bytes
from state.events import DatasetBlocked, DatasetEvicted
from state.rows import DatasetRow, TaskRow
from state.timefmt import format_time


def mass_deletion_key(project: str) -> str:
    """The alert a held deletion raises. The planner reads it back: while it fires, the
    deletion is still held (see `amed.plan.decide`)."""
    return f"mass_deletion:{project}"


@dataclass(frozen=True)
class HeldDeletions:
    """Data sets that left ame.yaml and that amed keeps until a person decides.

    `stored[project]`: how many of the project's data sets hold stored data; `leaving[project]`:
    how many of those are among `rows`. The numbers the alert gives, per project, because a
    share is counted per project."""

    rows: tuple[DatasetRow, ...]
    stored: Mapping[str, int]
    leaving: Mapping[str, int]


def conditions(
    desired: Project,
    rows: Mapping[tuple[str, str], DatasetRow],
    blocks: Sequence[DatasetBlocked],
    evictions: Sequence[DatasetEvicted],
    usage: Usage,
    facts: Facts,
    held: HeldDeletions | None = None,
    tasks: Mapping[tuple[str, str], TaskRow] | None = None,
    unsettled: Sequence[DataSet] | None = None,
) -> list[Condition]:
    """`unsettled`: the declared data sets, in spec order, to look at (None: every one); one
    left out must be `quiet`, and every data set in `blocks` must be in it."""
    project = desired.name
    found: list[Condition] = []
    found.extend(_failing_tasks(desired, tasks or {}, facts))
    blocked_now = {b.dataset: b for b in blocks}
    for data_set in desired.data_sets if unsettled is None else unsettled:
        row = rows.get((project, data_set.name))
        if row is None:
            continue
        name = data_set.name
        block = blocked_now.get(name)
        if block is not None or row.status == "blocked":
            reason = block.reason if block is not None else (row.error or "does not fit")
            found.append(
                Condition(
                    key=f"blocked:{project}/{name}",
                    severity="critical",
                    title=f"amed: data set {name} is blocked: it does not fit in the store",
                    body=(
                        f"Data set {name} (project {project}) {reason}. Free space in the "
                        "object store, raise amed's capacity (storage.capacity), or lower "
                        f"the declared size; amed tries again when space frees up."
                    ),
                )
            )
        # Held from the Nth failure until a version is stored, through the retries in
        # between: a retry is not a recovery.
        if row.status not in ("ready", "evicted", "deleting") and (
            row.attempts >= facts.policy.alert_after_failures or row.failed_stage == "space"
        ):
            retry = f" Next try at {format_time(row.retry_at)}." if row.retry_at else ""
            found.append(
                Condition(
                    key=f"failed:{project}/{name}",
                    severity="critical",
                    # No count in the title: it is kept as raised, and shown (on the
                    # dashboard) while the count goes on; messages count at send time.
                    title=f"amed: data set {name} is failing",
                    body=(
                        f"Producing {name} (project {project}, task {row.task}) failed: "
                        f"{(row.error or 'unknown error').strip()}\n{retry} See "
                        f"`ame ds show {name}` for its history and `ame events --dataset "
                        f"{name}` for details."
                    ),
                )
            )
        declared, stored = row.declared_size_bytes, row.size_bytes
        if (
            row.status == "ready"
            and declared is not None
            and stored is not None
            and stored > declared
        ):
            found.append(
                Condition(
                    key=f"oversize:{project}/{name}:v{row.version}",
                    severity="warning",
                    title=f"amed: data set {name} is larger than its declared size",
                    body=(
                        f"Version {row.version} of {name} (project {project}) holds "
                        f"{format_bytes(stored)}, {format_bytes(stored - declared)} more "
                        f"than its declared size of {format_bytes(declared)}. The data is "
                        f"kept. Declare `size: {_suggest(stored)}` in ame.yaml so that "
                        "amed can plan space for it."
                    ),
                    resolvable=False,
                )
            )
        if len(row.stored_sizes) >= 2:  # a trend needs two versions; most have fewer
            found.extend(_wont_fit(row, usage))
    percent = usage.used_percent
    if percent is not None and percent > facts.policy.low_space_percent:
        free = usage.free_bytes
        found.append(
            Condition(
                key="low_space",
                severity="warning",
                repeat=False,
                title=f"amed: object storage {percent:.0f}% full",
                body=(
                    f"amed holds {format_bytes(usage.used_bytes)} of "
                    f"{format_bytes(usage.capacity_bytes or 0)}"
                    f"{f' ({format_bytes(free)} free)' if free is not None else ''}, above the "
                    f"{facts.policy.low_space_percent:g}% warning level. Unused data sets are "
                    f"evicted above {facts.policy.eviction_high_percent:g}%. Raise the capacity "
                    "or remove data sets from ame.yaml to keep more cached."
                ),
            )
        )
    if evictions:
        total = sum(e.bytes_freed for e in evictions)
        lines = "\n".join(
            f"- {e.dataset} (version {e.version}, {format_bytes(e.bytes_freed)}): {e.reason}"
            for e in evictions
        )
        found.append(
            Condition(
                key=f"evictions:{project}:{format_time(facts.now)}",
                severity="info",
                title=(
                    f"amed: evicted {_count(len(evictions), 'data set')}, "
                    f"{format_bytes(total)} freed"
                ),
                body=(
                    f"To free space in the object store amed evicted:\n{lines}\nThey are "
                    "produced again when something needs them."
                ),
                resolvable=False,
            )
        )
    if facts.store_error:
        found.append(
            Condition(
                key="store_unreachable",
                severity="critical",
                title="amed: the object store cannot be reached",
                body=(
                    f"{facts.store_error}. Nothing is stored or deleted until it answers "
                    "again; amed keeps trying."
                ),
            )
        )
    if held is not None:
        found.append(_held_deletion(project, held, facts))
    if facts.policy.watchdog:
        found.append(_watchdog(facts))
    if facts.spec_error:
        found.append(
            Condition(
                key=f"spec_invalid:{project}",
                severity="critical",
                title="amed: ame.yaml is invalid",
                body=(
                    f"{facts.spec_error}\named keeps acting on the last valid ame.yaml and "
                    "deletes nothing until the file is fixed. Check it with `ame validate`."
                ),
            )
        )
    return found


def quiet(row: DatasetRow) -> bool:
    """Whether no condition about the data set itself can hold: ready (neither blocked nor
    failing), no larger than declared, and too few stored sizes for a trend."""
    if row.status != "ready" or len(row.stored_sizes) >= 2:
        return False
    declared, stored = row.declared_size_bytes, row.size_bytes
    return declared is None or stored is None or stored <= declared


def _failing_tasks(
    desired: Project, tasks: Mapping[tuple[str, str], TaskRow], facts: Facts
) -> list[Condition]:
    """A consumer task that failed `alerts.after_failures` times in a row. Held through the
    runs that follow until one succeeds: a new request is not a recovery."""
    project = desired.name
    found = []
    for task in desired.tasks:
        row = tasks.get((project, task.name))
        if row is None or row.failures_in_row < facts.policy.alert_after_failures:
            continue
        name = task.name
        found.append(
            Condition(
                key=f"task_failed:{project}/{name}",
                severity="critical",
                title=f"amed: task {name} is failing",
                body=(
                    f"Task {name} (project {project}) failed {_times(row.failures_in_row)} "
                    f"in a row: {(row.error or 'unknown error').strip()}\nSee `ame task logs "
                    f"{name}` for its output and `ame task list` for its state."
                ),
            )
        )
    return found


_NOT_GROWING = ("blocked", "evicted", "deleting", "removed")


def _wont_fit(row: DatasetRow, usage: Usage) -> list[Condition]:
    """The warning before a growing data set's next version fails for space: when its last
    versions' trend says the next one will hold more than is free. The version it replaces
    stays until the new one is stored, so the whole of the next one must fit. A declared
    size that holds the forecast is left to placement (it makes room, or blocks and says
    so); a smaller one, or none, gets this warning while there is still time to act. An
    evicted data set is left out: produced again as it was, it does not grow."""
    free = usage.free_bytes
    growth = growth_of(row.stored_sizes)
    if free is None or growth is None or row.status in _NOT_GROWING:
        return []
    declared = row.declared_size_bytes
    if declared is not None and declared >= growth.next_bytes:
        return []
    if row.status in ("running", "uploading"):
        free += declared or 0  # already counted as used: the run holds it
    if growth.next_bytes <= free:
        return []
    name, project = row.name, row.project
    sizes = [format_bytes(n) for n in growth.sizes]
    held = ", ".join(sizes[:-1]) + f" and {sizes[-1]}"
    too_small = (
        f"Its declared size of {format_bytes(declared)} is too small for it. "
        if declared is not None
        else ""
    )
    return [
        Condition(
            key=f"wont_fit:{project}/{name}",
            severity="warning",
            repeat=False,
            title=(
                f"amed: data set {name} is growing: its next version will not fit "
                f"({format_bytes(growth.next_bytes)} expected, {format_bytes(free)} free)"
            ),
            body=(
                f"Data set {name} (project {project}) grew by about "
                f"{format_bytes(growth.step_bytes)} a version: its last {len(sizes)} versions "
                f"held {held}. The next one would hold about "
                f"{format_bytes(growth.next_bytes)}, but {format_bytes(free)} is free in the "
                "object store, and the version it replaces stays until it is stored. "
                f"{too_small}Declare `size: {_suggest(growth.next_bytes)}` in ame.yaml so that "
                "amed makes room for it (evicting unused data sets) before it starts, or "
                "raise amed's capacity (storage.capacity)."
            ),
        )
    ]


def _watchdog(facts: Facts) -> Condition:
    """Always firing while switched on, as Alertmanager's Watchdog: a receiver elsewhere that
    expects it every repeat interval notices when it stops, that is when amed, its host or
    the way its alerts travel is down. Silence is otherwise indistinguishable from health."""
    every = facts.policy.alert_repeat_seconds
    return Condition(
        key="watchdog",
        severity="info",
        title="amed: watchdog: amed and its alert path are working",
        body=(
            "This alert always fires while alerts.watchdog is on, and is sent again every "
            f"{every:g} s (alerts.repeat_interval_seconds). Route it to a dead man's switch "
            "(a healthchecks-style service, or a receiver that pages when it stops "
            "arriving): when it stops, amed, its host or its alert channel is down. Nothing "
            "needs doing while it arrives."
        ),
    )


def _held_deletion(project: str, held: HeldDeletions, facts: Facts) -> Condition:
    """One alert for everything held: the data sets that left this project's ame.yaml, and
    the projects ame.yaml no longer names at all (a rename of the project)."""
    confirm = "`ame ds delete --all-pending --confirm`"
    ours = [r for r in held.rows if r.project == project]
    others = sorted({r.project for r in held.rows if r.project != project})
    paragraphs: list[str] = []
    for old in others:
        names = _names([r for r in held.rows if r.project == old])
        paragraphs.append(
            f"ame.yaml now names the project {project}, no longer {old}. amed does not move "
            f"data between projects: the data sets of {project} are produced anew, and those "
            f"of {old} ({names}; {held.leaving.get(old, 0)} with stored data) are kept, none "
            f"deleted. To keep them, name the project {old} again in ame.yaml; to delete "
            f"them, run {confirm}."
        )
    if ours:
        paragraphs.append(
            f"{_names(ours)} are no longer declared in ame.yaml "
            f"({held.leaving.get(project, 0)} of the {held.stored.get(project, 0)} data sets "
            "that hold stored data). When more than "
            f"{facts.policy.deletion_max_percent:g}% of the data sets at once leave ame.yaml, "
            "amed deletes none of them, nor any other data set that leaves, until you decide. "
            "A renamed data set is a new one to amed: name it back to keep its data. If "
            f"ame.yaml is wrong, fix it; if the deletion is intended, run {confirm}."
        )
    if others:
        title = (
            f"amed: project {', '.join(others)} renamed to {project} in ame.yaml; "
            f"the data of {', '.join(others)} is kept, nothing is deleted"
        )
    else:
        title = f"amed: {_count(len(ours), 'data set')} left ame.yaml at once; nothing is deleted"
    return Condition(
        key=mass_deletion_key(project),
        severity="critical",
        title=title,
        body="\n\n".join(paragraphs),
    )


def _names(rows: Sequence[DatasetRow]) -> str:
    return ", ".join(r.name for r in rows[:10]) + (", …" if len(rows) > 10 else "")


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _suggest(size_bytes: int) -> str:
    """A round declared size with some headroom: 1.25x, in Gi/Mi/Ki."""
    target = size_bytes * 1.25
    for suffix, unit in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if target >= unit:
            return f"{int(-(-target // unit))}{suffix}"
    return str(int(target))
