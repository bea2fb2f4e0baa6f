"""The one walk a pass makes over every declared data set and every stored version, and
what it remembers for the next pass. Pure.

At 100,000 data sets a pass is bound by fetching rows and declarations from memory, not by
what it computes with them: each walk over them cost ~50-100 ms. So the planner walks them
once, here. It finds the declarations to record and the data sets that need nothing,
settled (`amed.plan.graph.settled`) and quiet (`amed.plan.conditions.quiet`); the later
parts of `decide` look only at the others (`unsettled`).

`Memo` carries what one pass found to the next. Rows are frozen values the state replaces
on every change and never edits, and the `Project` a daemon holds is the same object until
ame.yaml changes: the same declaration, the same row object and the same code digest give
the same answer, so a data set found settled with a row is not read again while its row is
that object. When no row changed at all (the same objects under the same keys, as between
an idle daemon's passes), only the data sets that were not settled are looked at, and the
versions' totals are those of the last pass. The memo is an argument and part of the result,
never kept here: `decide` gives the same actions with it or without it.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat

from amed.plan.conditions import quiet
from amed.plan.facts import Facts, Key
from amed.plan.graph import ACTIVE, input_names, settled
from spec import DataSet, Project
from state.events import DatasetDeclared
from state.fold import apply_dataset
from state.observed import Observed
from state.rows import DatasetRow, VersionRow

_name_of = operator.attrgetter("name")

Superseded = list[tuple[Key, VersionRow]]


@dataclass(frozen=True)
class Memo:
    """What a pass over `project` found, for the next pass over the same object. Per
    declared data set, in spec order: its key, and the row it was found settled and quiet
    with (None: it was not); `unsettled_at` the positions of the others. The rows and the
    versions as they were, by identity, and what the versions added up to."""

    project: Project
    code_digest: str | None
    keys: list[Key]
    found: list[DatasetRow | None]
    unsettled_at: list[int]
    row_keys: list[Key]
    row_values: list[DatasetRow]
    version_keys: list[Key]
    version_values: list[tuple[VersionRow, ...]]
    held_bytes: int
    superseded: Superseded


@dataclass
class Survey:
    """`rows`: the observed rows with this pass's declarations applied. `unsettled`: the
    declared data sets that are not both settled and quiet, in spec order. `asked`: the
    rows a request asks for (`requested_at`). `reserved_bytes`: the declared sizes of the
    data sets being produced. `undeclared`: keys of rows no declaration names, sorted.
    `held_bytes`: what every committed version holds; `superseded`: versions no longer
    served, by key and number."""

    rows: Mapping[Key, DatasetRow]
    declares: list[DatasetDeclared] = field(default_factory=list)
    unsettled: list[DataSet] = field(default_factory=list)
    asked: dict[Key, str] = field(default_factory=dict)
    reserved_bytes: int = 0
    undeclared: list[Key] = field(default_factory=list)
    held_bytes: int = 0
    superseded: Superseded = field(default_factory=list)
    memo: Memo | None = None


def survey(desired: Project, observed: Observed, facts: Facts, memo: Memo | None) -> Survey:
    code = facts.code_digest
    rows = observed.datasets
    data_sets = desired.data_sets
    found_out = Survey(rows)
    declared: dict[Key, DatasetRow] = {}
    row_keys, row_values = list(rows), list(rows.values())
    if memo is not None and memo.project is desired and memo.code_digest == code:
        keys, before = memo.keys, memo.found
        if _same(row_keys, memo.row_keys) and _same(row_values, memo.row_values):
            found, unsettled_at = before, memo.unsettled_at
            for index in unsettled_at:
                data_set, key = data_sets[index], keys[index]
                row = rows.get(key)
                _take(found_out, declared, data_set, key, row, _differs(row, data_set), facts.now)
        else:
            found, unsettled_at = _walk(found_out, declared, desired, keys, before, facts)
    else:
        keys = []
        found, unsettled_at = _walk(found_out, declared, desired, keys, None, facts)
    if declared:  # a copy only when something is declared anew (not on a no-op pass)
        found_out.rows = {**rows, **declared}
    _undeclared(found_out, desired)

    version_keys = list(observed.versions)
    version_values = list(observed.versions.values())
    if (
        memo is not None
        and _same(version_keys, memo.version_keys)
        and _same(version_values, memo.version_values)
    ):
        found_out.held_bytes, found_out.superseded = memo.held_bytes, memo.superseded
    else:
        found_out.held_bytes, found_out.superseded = _versions(observed)
    found_out.memo = Memo(
        desired,
        code,
        keys,
        found,
        unsettled_at,
        row_keys,
        row_values,
        version_keys,
        version_values,
        found_out.held_bytes,
        found_out.superseded,
    )
    return found_out


def _same(now: Sequence[object], before: Sequence[object]) -> bool:
    """The same objects in the same order (compared by identity only: an equal row loaded
    again is not the same object, and comparing 100,000 of them by value costs more than the
    walk it would spare)."""
    return len(now) == len(before) and all(map(operator.is_, now, before))


def _walk(
    out: Survey,
    declared: dict[Key, DatasetRow],
    desired: Project,
    keys: list[Key],
    before: list[DatasetRow | None] | None,
    facts: Facts,
) -> tuple[list[DatasetRow | None], list[int]]:
    """Every declared data set, the way a pass goes over a converged project: in one loop,
    with nothing built for a data set that needs nothing. Without `before`, `keys` is empty
    and filled here."""
    rows = out.rows
    code = facts.code_digest
    found: list[DatasetRow | None] = []
    unsettled_at: list[int] = []
    if before is None:  # nothing known: every row is looked at
        names = map(_name_of, desired.data_sets)  # the keys made in C, not in a loop
        keys.extend(zip(repeat(desired.name, len(desired.data_sets)), names, strict=True))
        before = [None] * len(keys)
    for data_set, key, known in zip(desired.data_sets, keys, before, strict=True):
        row = rows.get(key)
        if row is known and row is not None:
            found.append(row)
            continue
        differs = _differs(row, data_set)
        if not differs and row is not None and settled(data_set, row, code) and quiet(row):
            found.append(row)
            continue
        unsettled_at.append(len(found))
        found.append(None)
        _take(out, declared, data_set, key, row, differs, facts.now)
    return found, unsettled_at


def _take(
    out: Survey,
    declared: dict[Key, DatasetRow],
    data_set: DataSet,
    key: Key,
    row: DatasetRow | None,
    differs: bool,
    now: datetime,
) -> None:
    """A data set that is not settled and quiet: its declaration if it changed, and what the
    rest of the pass needs to know of it."""
    if row is not None and row.status in ACTIVE:
        out.reserved_bytes += row.declared_size_bytes or 0
    if differs:
        declaration = _declaration(key[0], data_set, now)
        out.declares.append(declaration)
        row = apply_dataset(row, declaration)
        assert row is not None
        declared[key] = row
    out.unsettled.append(data_set)
    assert row is not None
    if row.requested_at is not None:
        out.asked[key] = "requested"


def _undeclared(out: Survey, desired: Project) -> None:
    """Every declared data set has a row now, and names are unique: more rows than
    declarations is the only way some are undeclared (a pass over 100,000 need not build
    the set of their keys to learn that none are)."""
    rows = out.rows
    if len(rows) <= len(desired.data_sets):
        return
    declared = {(desired.name, d.name) for d in desired.data_sets}
    out.undeclared = sorted(rows.keys() - declared)  # sorted: few, and the order is stable
    for key in out.undeclared:
        row = rows[key]
        if row.requested_at is not None:
            out.asked[key] = "requested"
        if row.status in ACTIVE:
            out.reserved_bytes += row.declared_size_bytes or 0


def _versions(observed: Observed) -> tuple[int, Superseded]:
    """What every committed version holds (as `Observed.held_bytes` counts it), and the
    versions no longer served, by data set and number. Almost no data set has one to delete:
    what is found is sorted, not the keys looked at."""
    held = 0
    superseded: Superseded = []
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
