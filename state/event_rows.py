"""An event as a row of the `events` table, and back: the one place that knows the columns.

`at`, `type`, `project` and `dataset` are columns of their own (the log is filtered and
counted by them); everything else an event says is its payload, JSON in `data`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel, TypeAdapter

from state.events import Event
from state.rows import time_column

INSERT_SQL = "INSERT INTO events (at, type, project, dataset, data) VALUES (?, ?, ?, ?, ?)"
# The columns `from_row` takes, in this order.
COLUMNS = "id, type, at, project, dataset, data"

_COMMON = frozenset({"at", "project", "dataset", "type"})


def to_row(event: Event) -> tuple[str, str, str, str | None, str]:
    """The values of `INSERT_SQL` for `event`."""
    return (time_column(event.at), event.type, event.project, event.dataset, event_data(event))


def from_row(row: Sequence[Any]) -> tuple[int, Event]:
    """The id and event of a row read as `SELECT {COLUMNS} FROM events`."""
    id_, type_, at, project, dataset, data = row
    fields = {**json.loads(data), "type": type_, "at": at, "project": project, "dataset": dataset}
    return int(id_), _event_adapter().validate_python(fields)


@functools.cache
def _event_adapter() -> TypeAdapter[Event]:
    """Built on first use: reading the log back is for `check`, `rebuild` and `ame events`."""
    return TypeAdapter(Event)


def event_payload(event: Event) -> dict[str, Any]:
    """The fields of an event beyond the columns every event has, as JSON-ready values."""
    return event.model_dump(mode="json", exclude=set(_COMMON))


def event_data(event: Event) -> str:
    """The `data` column of an event: `event_payload` as compact JSON (json.dumps with
    `separators=(",", ":")`), byte for byte.

    It is written on every append, so payloads of plain values (text, numbers, booleans,
    None, and lists and string-keyed maps of those) are written directly, as the json
    module writes them; anything else (a time, say) goes through `event_payload`, so that
    pydantic alone decides how such a value is spelled.
    """
    values = event.__dict__
    parts: list[str] = []
    for name, key in _payload_keys(type(event)):
        text = _plain_json(values[name])
        if text is None:
            return json.dumps(event_payload(event), separators=(",", ":"))
        parts.append(key + text)
    return "{" + ",".join(parts) + "}"


_PAYLOAD_KEYS: dict[type, tuple[tuple[str, str], ...]] = {}


def _payload_keys(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """The payload's fields of an event class, in pydantic's order, each with its JSON key
    and colon."""
    keys = _PAYLOAD_KEYS.get(cls)
    if keys is None:
        keys = tuple(
            (name, encode_basestring_ascii(name) + ":")
            for name in cls.model_fields
            if name not in _COMMON
        )
        _PAYLOAD_KEYS[cls] = keys
    return keys


def _plain_json(value: Any) -> str | None:
    """A plain value as json.dumps spells it (ASCII only, NaN and Infinity allowed); None
    for a value that is not plain."""
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float_json(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is tuple or kind is list:
        items: list[str] = []
        for item in value:
            text = _plain_json(item)
            if text is None:
                return None
            items.append(text)
        return "[" + ",".join(items) + "]"
    if kind is dict:
        parts: list[str] = []
        for key, item in value.items():
            text = _plain_json(item)
            if type(key) is not str or text is None:
                return None
            parts.append(encode_basestring_ascii(key) + ":" + text)
        return "{" + ",".join(parts) + "}"
    return None


def _float_json(value: float) -> str:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(value)
