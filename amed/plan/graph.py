"""Data sets as a graph: which are due, which wait for their inputs, and what each
production is made of. Pure.

A producing task may need data sets of its own project (`dataSets:` on the task): its
inputs. A data set is produced only from ready inputs that nothing is about to replace, so
production follows the graph, inputs first, and independent branches start together (as
many as there are free slots). Its identity is its spec hash, the digest of the project
files its task can see (`Facts.code_digest`) and the content digest of each input version
it was made from: a ready data set whose identity moved is due again, so new bytes
upstream make new versions downstream, and the same bytes produced again do not.

An input that failed or is blocked fails its due dependants with the reason, without
running them; they are produced once it is ready. An evicted input is produced again when
a dependant needs it. While a producing task runs, its inputs are in use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from amed.plan.actions import FailDependant, Input
from amed.plan.facts import Facts, Key
from amed.plan.placement import Candidate
from spec import DataSet, Project
from state.events import InputFailed
from state.rows import DatasetRow

ACTIVE = ("running", "uploading")


@dataclass(frozen=True)
class Waiting:
    """A data set that waits for inputs being produced (`after`). `reason`: why it is due
    itself; None when it is produced only if those inputs come out different."""

    name: str
    after: tuple[str, ...]
    reason: str | None


@dataclass
class Flow:
    """`due`: the data sets to produce now, why and from which inputs, in spec order.
    `active`: the rows a run is producing, in spec order. `moving`: data sets whose version
    is about to change (being produced, due, or downstream of one that is): a consumer
    waits for them. `protected`: inputs that a run or a due data set needs, never evicted
    now. `wanted`: evicted inputs a due dependant needs. `waiting`: in the order of the
    graph, for `amed run --once --dry-run`."""

    due: dict[Key, Candidate] = field(default_factory=dict)
    active: list[DatasetRow] = field(default_factory=list)
    failures: list[FailDependant] = field(default_factory=list)
    moving: set[Key] = field(default_factory=set)
    protected: set[Key] = field(default_factory=set)
    wanted: dict[Key, str] = field(default_factory=dict)
    waiting: list[Waiting] = field(default_factory=list)


def plan_flow(
    desired: Project,
    rows: Mapping[Key, DatasetRow],
    facts: Facts,
    wanted: Mapping[Key, str],
    unsettled: Sequence[DataSet] | None = None,
) -> Flow:
    """`rows` holds a row for every declared data set. `wanted`: why something asked for a
    data set (a task, a request), which overrides eviction and a failure's backoff.
    `unsettled`: the declared data sets, in spec order, among which are all that are not
    `settled` (None: every one); without a graph only those can be due."""
    without = _without_graph(desired, rows, facts, wanted, unsettled)
    if without is not None:
        return without
    project = desired.name
    flow = Flow()
    inputs: dict[str, tuple[str, ...]] = {}  # only the data sets that need any
    foreign: dict[str, str] = {}  # the first data set of another project each one needs
    for data_set in desired.data_sets:
        refs = data_set.producer.data_sets
        if refs:
            inputs[data_set.name] = input_names(data_set, project)
            for ref in refs:
                if ref.project not in (None, project):
                    foreign.setdefault(data_set.name, f"{ref.project}/{ref.name}")
    by_name = {d.name: d for d in desired.data_sets}
    flow.active = [r for d in desired.data_sets if (r := rows[(project, d.name)]).status in ACTIVE]
    order = _order(desired, inputs)
    wants = dict(wanted)
    reasons: dict[str, str | None] = {}
    # Dependants first: a due data set wants its evicted inputs, and theirs in turn.
    for name in reversed(order):
        key = (project, name)
        row = rows[key]
        reason = _reason(row, inputs.get(name, ()), rows, facts, wants.get(key))
        reasons[name] = reason
        if reason is None or key in facts.hold:
            continue
        for needed in inputs.get(name, ()):
            found = rows.get((project, needed))
            if found is not None and found.status == "evicted":
                wants.setdefault(found.key, f"needed by data set {name}")
                flow.wanted.setdefault(found.key, f"needed by data set {name}")
    # Inputs first: a data set waits while an input may still change.
    moving: set[str] = set()
    failing: dict[str, str] = {}  # failed for an input in this pass, and why
    for name in order:
        key = (project, name)
        row = rows[key]
        needs = inputs.get(name, ())
        if row.status in ACTIVE:
            moving.add(name)
            flow.protected.update((project, i) for i in row.running_inputs)
            continue
        reason = reasons[name]
        after = tuple(i for i in needs if i in moving) if needs else ()
        if reason is None or key in facts.hold:
            if after and row.status == "ready" and key not in facts.hold:
                moving.add(name)
                flow.waiting.append(Waiting(name, after, None))
            continue
        flow.protected.update((project, i) for i in needs)
        if name in foreign:
            elsewhere = foreign[name]
            why = (
                f"input {elsewhere} belongs to another project; amed only serves this "
                "project's data sets"
            )
            failing[name] = _fail(flow, row, elsewhere, why, facts)
            continue
        failed = next(
            (i for i in needs if i not in moving and _failed(rows[(project, i)], failing)), None
        )
        if failed is not None:
            why = _failure(rows[(project, failed)], failing.get(failed))
            failing[name] = _fail(flow, row, failed, why, facts)
            continue
        if row.status != "blocked":  # tried again at every pass, but may stay blocked
            moving.add(name)
        if after or not all(_ready(rows[(project, i)]) for i in needs):
            flow.waiting.append(Waiting(name, after, reason))
            continue
        placed = tuple(_input(rows[(project, i)]) for i in needs)
        flow.due[key] = Candidate(by_name[name], row, reason, placed)
    flow.moving = {(project, name) for name in moving}
    if len(flow.due) > 1:  # spec order, as without a graph
        rank = {d.name: n for n, d in enumerate(desired.data_sets)}
        flow.due = dict(sorted(flow.due.items(), key=lambda item: rank[item[0][1]]))
    return flow


def settled(data_set: DataSet, row: DatasetRow, code_digest: str | None) -> bool:
    """Whether a data set, whose row records its declaration as it is, has nothing to be
    produced for: its task needs no other data set, it is ready, nothing is asked of it, and
    the served version's identity is still its own. A pass over a converged project finds
    every data set so, and the planner then looks further only at the others (`unsettled`).
    """
    if (
        data_set.producer.data_sets
        or row.status != "ready"
        or row.rebuild_requested_at is not None
        or row.requested_at is not None
        or row.stored_inputs
    ):
        return False
    stored = row.stored_code_digest
    return stored is None or code_digest is None or stored == code_digest


def _without_graph(
    desired: Project,
    rows: Mapping[Key, DatasetRow],
    facts: Facts,
    wanted: Mapping[Key, str],
    unsettled: Sequence[DataSet] | None,
) -> Flow | None:
    """`plan_flow` when no data set needs another, in one loop in spec order; None as soon
    as one does. Most projects, and the path a pass over thousands of ready data sets takes.
    A data set that needs another is never settled, so `unsettled` holds it if any does."""
    flow = Flow()
    project = desired.name
    hold = facts.hold
    code = facts.code_digest
    for data_set in desired.data_sets if unsettled is None else unsettled:
        if data_set.producer.data_sets:
            return None
        key = (project, data_set.name)
        row = rows[key]
        status = row.status
        if settled(data_set, row, code):
            continue
        if status in ACTIVE:
            flow.moving.add(key)
            flow.active.append(row)
            continue
        reason = _reason(row, (), rows, facts, wanted.get(key))
        if reason is None or key in hold:
            continue
        if status != "blocked":
            flow.moving.add(key)
        flow.due[key] = Candidate(data_set, row, reason)
    return flow


def _reason(
    row: DatasetRow,
    needs: tuple[str, ...],
    rows: Mapping[Key, DatasetRow],
    facts: Facts,
    wanted: str | None,
) -> str | None:
    """Why the data set is due, by its status or its identity; None when it is not (or a
    run is producing it)."""
    status = row.status
    if status == "ready" and row.rebuild_requested_at is None:
        return _stale(row, needs, rows, row.project, facts)
    if status in ACTIVE:
        return None
    return _due(row, facts, wanted)


def input_names(data_set: DataSet, project: str) -> tuple[str, ...]:
    """The data sets of this project that the data set's task needs."""
    refs = data_set.producer.data_sets
    if not refs:
        return ()
    return tuple(r.name for r in refs if r.project in (None, project))


def _order(desired: Project, inputs: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Every data set after its inputs. The spec refuses cycles."""
    names = [d.name for d in desired.data_sets]
    declared = set(names)
    graph = {n: [i for i in inputs.get(n, ()) if i in declared] for n in names}
    return list(TopologicalSorter(graph).static_order())


def _due(row: DatasetRow, facts: Facts, wanted: str | None) -> str | None:
    """Why this data set should be produced now by its status, or None. `wanted`: why
    something asked for it, if anything did; that overrides both eviction and a failure's
    backoff. A rebuild that was asked for overrides them too."""
    match row.status:
        case "pending":
            return "spec changed" if row.version is not None else "new"
        case "blocked":
            return "retry after blocked"
        case "deleting" | "removed":
            return None
    if row.rebuild_requested_at is not None:
        return "rebuild requested"
    match row.status:
        case "failed" if wanted is not None:
            return wanted
        case "failed" if row.failed_stage == "input":
            return "retry after an input failed"
        case "failed" if row.retry_at is None or row.retry_at <= facts.now:
            return "retry after lost run" if row.failed_stage == "lost" else "retry after failure"
        case "evicted" if wanted is not None:
            return wanted
    return None


def _stale(
    row: DatasetRow,
    needs: tuple[str, ...],
    rows: Mapping[Key, DatasetRow],
    project: str,
    facts: Facts,
) -> str | None:
    """Why the served version's identity is no longer the data set's, or None. A version
    stored before amed recorded identities (no content digest) is taken as it is while its
    task needs the same inputs; so is a part of the identity not known on either side (an
    input evicted, a digest missing)."""
    if not needs and not row.stored_inputs:
        stored: dict[str, str] = {}
    else:
        stored = dict(row.stored_inputs)
        if set(stored) != set(needs):
            return "inputs changed"
    if row.content_digest is None:
        return None
    code = facts.code_digest
    if code is not None and row.stored_code_digest is not None and code != row.stored_code_digest:
        return "code changed"
    changed = []
    for name in needs:
        found = rows.get((project, name))
        if found is None or found.version is None:
            continue
        if (found.content_digest or "") != stored[name]:
            changed.append(name)
    if changed:
        return f"input {', '.join(changed)} changed"
    return None


def _ready(row: DatasetRow) -> bool:
    return row.status == "ready" and row.version is not None


def _failed(row: DatasetRow, failing: Mapping[str, str]) -> bool:
    return row.name in failing or row.status in ("failed", "blocked")


def _failure(row: DatasetRow, failing: str | None) -> str:
    """Why a dependant of `row` fails; `failing`: why `row` itself fails in this pass."""
    first = (failing or row.error or row.status).splitlines()[0]
    if row.status == "blocked" and failing is None:
        return f"input {row.name} is blocked: {first}"
    return f"input {row.name} failed: {first}"


def _input(row: DatasetRow) -> Input:
    assert row.version is not None
    return Input(row.name, row.version, row.path, row.content_digest or "")


def _fail(flow: Flow, row: DatasetRow, input_name: str, reason: str, facts: Facts) -> str:
    """Fail a due data set for its input, once: not again while it already says so."""
    if row.status == "failed" and row.failed_stage == "input" and row.error == reason:
        return reason
    flow.failures.append(
        FailDependant(
            InputFailed(
                at=facts.now,
                project=row.project,
                dataset=row.name,
                input=input_name,
                reason=reason,
            )
        )
    )
    return reason
