"""The projection rows: what the log says about each data set and each stored version now.

Rows are plain frozen values so the fold that builds them stays pure and comparable;
`state.db` turns them into table rows and back without loss.

They have slots: a daemon holds a row per data set and per version as long as it runs, and
an instance `__dict__` of more than 30 keys (a data set's row has 32 fields) shares no keys
with its class in CPython, ~830 bytes a row against ~270 with slots (~6 MB at 10,000 data
sets). Rows are built and copied without the frozen `__setattr__` and `__init__`'s calls
(`_builder`), as the dicts were filled before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache, lru_cache
from operator import attrgetter
from typing import Any, Literal, TypeVar, get_args

from state.timefmt import format_time, parse_time

Status = Literal[
    "pending",
    "running",
    "uploading",
    "ready",
    "failed",
    "blocked",
    "evicted",
    "deleting",
    "removed",
]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One data set. `version` is the ready version people and consumers get (None if none);
    `running_version` the one a live run is producing; `last_version` the highest number ever
    stored, so a number is never reused, not even after removal, and versions count 1, 2, 3
    however many attempts failed in between (`attempts` counts those).

    The graph and identity: `inputs` are the data sets its task needs (as declared);
    `running_inputs` those placed for the live run, in use until it ends. The served
    version's identity besides `stored_spec_hash`: `stored_code_digest` (the project files
    its task could see) and `stored_inputs` ((input, content digest) pairs it was made
    from); `content_digest` is its own, for its dependants' identity. All None or empty for
    a version stored before amed recorded identities. `rebuild_requested_at`: a new version
    was asked for (`ame ds rebuild`) and no run has started since. `stored_sizes`: the
    sizes of the last versions served, oldest first (see `STORED_SIZES_KEPT`)."""

    project: str
    name: str
    status: Status
    path: str
    task: str
    spec_hash: str
    declared_size_bytes: int | None
    updated_at: datetime
    version: int | None = None
    size_bytes: int | None = None
    files: int | None = None
    stored_spec_hash: str | None = None
    produced_at: datetime | None = None
    last_used_at: datetime | None = None
    run_id: str | None = None
    running_version: int | None = None
    last_version: int = 0
    attempts: int = 0
    retry_at: datetime | None = None
    error: str | None = None
    in_use_by: tuple[str, ...] = ()
    failed_stage: str | None = None
    requested_at: datetime | None = None
    delete_after: datetime | None = None
    status_before: Status | None = None
    inputs: tuple[str, ...] = ()
    running_inputs: tuple[str, ...] = ()
    content_digest: str | None = None
    stored_code_digest: str | None = None
    stored_inputs: tuple[tuple[str, str], ...] = ()
    rebuild_requested_at: datetime | None = None
    stored_sizes: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.project, self.name)


STORED_SIZES_KEPT = 4
"""How many of a data set's last served versions `DatasetRow.stored_sizes` remembers (oldest
first, kept through evictions): enough for the planner to see a trend in their growth
(the `wont_fit` warning), few enough to keep the row small."""

ERROR_TAIL_CHARS = 2000
"""How much of a failed run's output `DatasetRow.error` keeps after the reason (its end): a
limit of what the state stores, so that a task that printed megabytes before failing does
not make its row, and every read of the tables, that much larger. The event keeps the tail
the runner sent."""


@dataclass(frozen=True, slots=True)
class VersionRow:
    """A committed version: its manifest is in the store and its `version_stored` event is in
    the log. Only `current` versions are served; the others wait to be deleted."""

    project: str
    dataset: str
    version: int
    spec_hash: str
    size_bytes: int
    files: int
    stored_at: datetime
    current: bool

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.project, self.dataset, self.version)


TaskStatus = Literal["idle", "waiting", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task of the project as a consumer of data sets. `waiting`: a run was requested and
    waits for its data sets; `request_id` names that request until the run finishes.
    `failures_in_row`: runs that failed since the last one that succeeded (its alert waits
    for `alerts.after_failures` of them)."""

    project: str
    name: str
    status: TaskStatus
    declared_at: datetime
    updated_at: datetime
    schedule: str | None = None
    data_sets: tuple[str, ...] = ()
    request_id: str | None = None
    request_reason: str | None = None
    requested_at: datetime | None = None
    last_scheduled_for: datetime | None = None
    run_id: str | None = None
    last_run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inputs: tuple[str, ...] = ()
    error: str | None = None
    runs: int = 0
    failures: int = 0
    failures_in_row: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.project, self.name)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert key's state: whether its condition holds, and what still needs delivering
    (`pending`: the alert, its resolved notice, or nothing; `undelivered`: the channels that
    refused it last time, the only ones tried again). Kept across restarts so that a restart
    neither re-sends nor forgets."""

    key: str
    severity: str
    title: str
    body: str
    resolvable: bool
    firing: bool
    raised_at: datetime
    last_raised_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    pending: str | None = None
    failures: int = 0
    last_error: str | None = None
    undelivered: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """An alert channel's health, by its redacted URL. `last_error` is why it last refused
    (at `last_failed_at`), kept after it delivers again so that `ame status` can tell."""

    channel: str
    healthy: bool
    failures: int
    updated_at: datetime
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_failed_at: datetime | None = None


_DATETIME_FIELDS = {
    "updated_at",
    "produced_at",
    "last_used_at",
    "retry_at",
    "stored_at",
    "raised_at",
    "last_raised_at",
    "delivered_at",
    "last_ok_at",
    "last_failed_at",
    "requested_at",
    "delete_after",
    "declared_at",
    "last_scheduled_for",
    "started_at",
    "finished_at",
    "rebuild_requested_at",
}


AnyRow = DatasetRow | VersionRow | AlertRow | ChannelRow | TaskRow


def to_record(row: AnyRow) -> dict[str, Any]:
    """A row as SQLite column values: times as ISO text, lists as JSON, booleans as 0/1."""
    # On every append: no dataclasses.asdict (it deep-copies every field).
    names, values = _names(type(row)), _values(row)
    return {name: to_column(value) for name, value in zip(names, values, strict=True)}


def changed_columns(old: AnyRow, new: AnyRow) -> dict[str, Any]:
    """The columns whose values differ between two rows of the same type and key, as SQLite
    values: what an UPDATE must set to turn the table row of `old` into that of `new`.
    Equal values give equal column values (`to_column` is a function of the value), so
    skipping them never leaves a stale column."""
    return {
        name: to_column(value)
        for name, value, was in zip(_names(type(new)), _values(new), _values(old), strict=True)
        if value is not was and value != was
    }


def to_column(value: Any) -> Any:
    """One field's value as SQLite stores it."""
    kind = type(value)
    if kind is datetime:
        return time_column(value)
    if kind is tuple:
        return json.dumps(list(value))
    if kind is bool:
        return int(value)
    return value


# An append writes its event's time in the log and again as `updated_at` of each row it
# changes: format it once. Equal aware times are the same instant, so they share one text.
time_column = lru_cache(maxsize=16)(format_time)
# Rows read together share the times of the events that wrote them (a batch of appends has
# one `at`); equal texts then give one datetime object, not one per field and row.
_parsed_time = lru_cache(maxsize=4096)(parse_time)

RowT = TypeVar("RowT", bound=AnyRow)


def replace_row(row: RowT, /, **changes: Any) -> RowT:
    """`dataclasses.replace` for the row types, at a tenth of its cost on the append path.

    It holds because the rows are frozen dataclasses without `__post_init__` or
    `init=False` fields: their `__init__` only stores each field in its slot, which is what
    this does with the old values and the changes. An unknown field
    name is refused, as `replace` refuses it, but only when the call runs: mypy checks the
    names given to `replace`, not these, so a test reads every call in the folds for them.
    """
    cls = type(row)
    unknown = changes.keys() - _field_names(cls)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    values = dict(zip(_names(cls), _values(row), strict=True))
    values.update(changes)
    built: RowT = _builder(cls)(values)
    return built


_FIELD_NAMES: dict[type, frozenset[str]] = {}
_NAMES: dict[type, tuple[str, ...]] = {}
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _values(row: AnyRow) -> tuple[Any, ...]:
    """Every field's value, in field order (one C call)."""
    cls = type(row)
    getter = _GETTERS.get(cls)
    if getter is None:
        getter = _GETTERS[cls] = attrgetter(*_names(cls))
    return getter(row)


_BUILDERS: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _builder(cls: type) -> Callable[[dict[str, Any]], Any]:
    """A function making a `cls` from {field: value} with every field, as fast as filling a
    `__dict__` was (a start builds 20,000 rows): the values are stored as plain attributes
    of a class with the same slots and no frozen `__setattr__`, which the row then becomes
    (CPython allows `__class__` to change between classes of one layout)."""
    build = _BUILDERS.get(cls)
    if build is None:
        names = _names(cls)
        lines = ["def build(values):", "    row = new(twin)"]
        lines += [f"    row.{name} = values[{name!r}]" for name in names]
        lines += ["    row.__class__ = cls", "    return row"]
        scope: dict[str, Any] = {"new": object.__new__, "twin": _twin(cls), "cls": cls}
        exec("\n".join(lines), scope)  # the source is made of field names only
        build = _BUILDERS[cls] = scope["build"]
    return build


@cache
def _twin(cls: type) -> type:
    return type(f"_Unfrozen{cls.__name__}", (), {"__slots__": _names(cls)})


TupleBuilder = Callable[[tuple[Any, ...], Callable[[str, str], str]], Any]


@cache
def tuple_builder(cls: type, columns: tuple[str, ...]) -> TupleBuilder | None:
    """A function making a `cls` straight from a table row read as a tuple with these
    `columns`, decoded as `*_from_record` would and its texts shared through `share` (a
    pool's `setdefault`): no {column: value} dict per row, which cost a load of 20,000 rows
    more than the rows themselves. None when the columns are not exactly the fields."""
    if cls not in _DECODERS or set(columns) != _field_names(cls):
        return None
    decoders = _DECODERS[cls]
    times = set(_time_fields(cls))
    lines = ["def build(r, share):", "    row = new(twin)"]
    for index, name in enumerate(columns):
        if name in decoders:
            value = f"decode_{name}(r[{index}])"
        elif name in times:
            value = f"None if (v := r[{index}]) is None else parsed_time(v)"
        else:
            value = f"share(v, v) if (v := r[{index}]).__class__ is str else v"
        lines.append(f"    row.{name} = {value}")
    lines += ["    row.__class__ = cls", "    return row"]
    scope: dict[str, Any] = {
        "new": object.__new__,
        "twin": _twin(cls),
        "cls": cls,
        "parsed_time": _parsed_time,
        **{f"decode_{name}": decode for name, decode in decoders.items()},
    }
    exec("\n".join(lines), scope)  # the source is made of field names and indexes only
    built: TupleBuilder = scope["build"]
    return built


def _field_names(cls: type) -> frozenset[str]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in fields(cls))
    return names


def dataset_from_record(record: dict[str, Any]) -> DatasetRow:
    return _build(DatasetRow, _decode(record, DatasetRow))


def _build(cls: type[RowT], values: dict[str, Any]) -> RowT:
    """`cls(**values)`, without the call when `values` has every field (a table row): as
    `replace_row` does, at a fraction of the cost of `__init__` with 30 keywords, and a
    load builds a row per data set and per version."""
    if len(values) != len(_field_names(cls)):
        return cls(**values)
    built: RowT = _builder(cls)(values)
    return built


def _strings(text: str | None) -> tuple[Any, ...]:
    """A JSON list column as a tuple; most are empty, and a load reads 10,000 rows."""
    if not text or text == "[]":
        return ()
    return _parsed_strings(text)


# The JSON list columns repeat from row to row (the same inputs, the same sizes): equal
# texts are parsed once per load and give one shared tuple (they are immutable).
@lru_cache(maxsize=4096)
def _parsed_strings(text: str) -> tuple[Any, ...]:
    return tuple(json.loads(text))


def _json_pairs(text: str | None) -> tuple[tuple[str, str], ...]:
    return _pairs(text) if text and text != "[]" else ()


def _json_ints(text: str | None) -> tuple[int, ...]:
    return _ints(text) if text and text != "[]" else ()


@lru_cache(maxsize=4096)
def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(digest)) for name, digest in json.loads(text))


@lru_cache(maxsize=4096)
def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in json.loads(text))


def version_from_record(record: dict[str, Any]) -> VersionRow:
    return _build(VersionRow, _decode(record, VersionRow))


# The columns of data set and version rows stored as something else than the field's value
# (JSON lists, a 0/1 flag), with what turns the stored value into the field's: read by
# `_decode` for a record and built into `tuple_builder`'s functions. Other columns are
# texts, numbers and times.
_DECODERS: dict[type, dict[str, Callable[[Any], Any]]] = {
    DatasetRow: {
        "in_use_by": _strings,
        "inputs": _strings,
        "running_inputs": _strings,
        "stored_inputs": _json_pairs,
        "stored_sizes": _json_ints,
    },
    VersionRow: {"current": bool},
}


def alert_from_record(record: dict[str, Any]) -> AlertRow:
    values = _decode(record, AlertRow)
    values["undelivered"] = tuple(json.loads(values.get("undelivered") or "[]"))
    values["resolvable"] = bool(values["resolvable"])
    values["firing"] = bool(values["firing"])
    return AlertRow(**values)


def task_from_record(record: dict[str, Any]) -> TaskRow:
    values = _decode(record, TaskRow)
    for name in ("data_sets", "inputs"):
        values[name] = tuple(json.loads(values.get(name) or "[]"))
    values["failures_in_row"] = values.get("failures_in_row") or 0  # NULL before schema 8
    return TaskRow(**values)


def channel_from_record(record: dict[str, Any]) -> ChannelRow:
    values = _decode(record, ChannelRow)
    values["healthy"] = bool(values["healthy"])
    return ChannelRow(**values)


def _decode(record: dict[str, Any], cls: type[AnyRow]) -> dict[str, Any]:
    """The record's values of `cls`'s fields, times parsed and stored columns decoded
    (`_DECODERS`). A record of exactly those columns (a whole table row) is decoded in
    place: callers hand over a fresh dict."""
    names = _field_names(cls)
    values = record if record.keys() == names else {k: v for k, v in record.items() if k in names}
    for name in _time_fields(cls):
        found = values.get(name)
        if found is not None:
            values[name] = _parsed_time(found)
    for name, decode in _DECODERS.get(cls, {}).items():
        values[name] = decode(values.get(name))
    return values


_TIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _time_fields(cls: type) -> tuple[str, ...]:
    """The fields of `cls` stored as ISO text: looked up once per row type, not per row (a
    load decodes every row of every table)."""
    names = _TIME_FIELDS.get(cls)
    if names is None:
        names = _TIME_FIELDS[cls] = tuple(sorted(_DATETIME_FIELDS & _field_names(cls)))
    return names
