"""An event as a row of the `events` table, and back: the one place that knows the columns.

`at`, `type`, `project` and `dataset` are columns of their own (the log is filtered and
counted by them); everything else an event says is its payload, JSON in `data`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from state.events import Event
from state.rows import time_column

INSERT_SQL = "INSERT INTO events (at, type, project, dataset, data) VALUES (?, ?, ?, ?, ?)"
# The columns `from_row` takes, in this order.
COLUMNS = "id, type, at, project, dataset, data"

# The columns of their own, left out of `data`.
_PAYLOAD_EXCLUDE = {"at": True, "project": True, "dataset": True, "type": True}


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


def event_data(event: Event) -> str:
    """The `data` column of an event: its payload as compact JSON, text ASCII-escaped.

    pydantic writes it, not the json module: as fast or faster for every kind of payload
    that matters (bench/RESULTS.md). Rows written through `json.dumps` hold the same values;
    the two spell a few differently (a float below 1e-4, a DEL character), which no reader
    sees, since all of them parse the JSON. NaN and the infinities keep the json module's
    spelling (the models' `ser_json_inf_nan`), so a log holding one still reads back.
    """
    return event.model_dump_json(exclude=_PAYLOAD_EXCLUDE, ensure_ascii=True)
