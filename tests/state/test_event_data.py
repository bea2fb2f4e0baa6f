"""The `data` column of the event log is pydantic's JSON of the payload. Rows written before
through `json.dumps(model_dump(mode="json"))` must read back the same, and new rows must hold
the same values for every event type, or the log would mean something else depending on the
version of amed that wrote it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from state.event_rows import event_data, from_row
from state.events import Event, RunFailed, RunSucceeded, TaskStarted

EVENT_TYPES: tuple[type[BaseModel], ...] = get_args(get_args(Event)[0])
COMMON = {"at", "project", "dataset", "type"}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def as_json_dumps_wrote_it(event: BaseModel) -> str:
    """How the json module spells the payload."""
    payload = event.model_dump(mode="json", exclude=COMMON)
    return json.dumps(payload, separators=(",", ":"))


def same_values(a: str, b: str) -> bool:
    """Equal JSON values, NaN equal to NaN."""
    return json.dumps(json.loads(a)) == json.dumps(json.loads(b))


def events_of(cls: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
    """Events of one type with every field drawn, optional ones included: any text
    (non-ASCII too), any number (NaN, infinities, huge integers), times with and without
    a zone and with microseconds."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        name: st.from_type(info.annotation)  # type: ignore[arg-type]
        for name, info in cls.model_fields.items()
        if name != "type"
    }
    return st.builds(cls, **fields)


def row_of(event: BaseModel, data: str) -> tuple[object, ...]:
    at = "2026-01-01T00:00:00.000Z"
    return (7, event.type, at, event.project, event.dataset, data)  # type: ignore[attr-defined]


def test_every_event_type_is_covered() -> None:
    assert len(EVENT_TYPES) == 23
    assert all(issubclass(cls, BaseModel) for cls in EVENT_TYPES)


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_event_data_holds_the_values_json_dumps_wrote_and_both_read_back_alike(
    cls: type[BaseModel], data: st.DataObject
) -> None:
    event = data.draw(events_of(cls)).model_copy(update={"at": AT})
    new, old = event_data(event), as_json_dumps_wrote_it(event)  # type: ignore[arg-type]
    assert same_values(new, old)
    assert new.isascii()
    _, from_new = from_row(row_of(event, new))
    _, from_old = from_row(row_of(event, old))
    assert same_values(from_new.model_dump_json(), from_old.model_dump_json())
    assert same_values(from_new.model_dump_json(), event.model_dump_json())


def test_plain_payloads_are_spelled_as_json_dumps_spells_them() -> None:
    """Text (non-ASCII escaped), integers of any size and everyday floats: the rows most
    events write are byte for byte what they were."""
    for seconds in (1.0, 0.1, 12.375, 1e16, -0.0, float("nan"), float("inf"), float("-inf")):
        run_id = "é\u2028\"'\\"
        event = RunSucceeded(at=AT, project="p", dataset="d", run_id=run_id, seconds=seconds)
        assert event_data(event) == as_json_dumps_wrote_it(event)
    started = TaskStarted(
        at=AT, project="p", task="t", request_id="q", run_id="r", inputs={"ü": 2**70, "b": 0}
    )
    assert event_data(started) == '{"task":"t","request_id":"q","run_id":"r","inputs":' + (
        '{"\\u00fc":1180591620717411303424,"b":0}}'
    )


def test_times_in_a_payload_are_spelled_by_pydantic() -> None:
    retry_at = datetime(2026, 1, 1, 1, 2, 3, 4567, tzinfo=timezone(timedelta(hours=2)))
    event = RunFailed(
        at=AT,
        project="p",
        dataset="d",
        run_id="r",
        stage="task",
        reason="exit 1",
        retry_at=retry_at,
    )
    assert event_data(event) == as_json_dumps_wrote_it(event)
    # Held at the tables' precision (milliseconds), in the zone it was given in.
    assert json.loads(event_data(event))["retry_at"] == "2026-01-01T01:02:03.004000+02:00"


def test_a_row_reads_back_as_the_same_event() -> None:
    event = RunSucceeded(at=AT, project="p", dataset="d", run_id="r", seconds=2.5)
    assert from_row(row_of(event, event_data(event))) == (7, event)
