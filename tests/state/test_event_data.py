"""The `data` column of the event log is written without pydantic's serializer where it can
be; it must stay byte for byte what `json.dumps(model_dump(mode="json"))` wrote before, for
every event type, or the log would change spelling with the version of amed that wrote it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from state.event_rows import event_data, event_payload, from_row
from state.events import Event, RunFailed, RunSucceeded, TaskStarted

EVENT_TYPES: tuple[type[BaseModel], ...] = get_args(get_args(Event)[0])
COMMON = {"at", "project", "dataset", "type"}


def as_before(event: BaseModel) -> str:
    """How the `data` column was spelled before the direct path existed."""
    payload = event.model_dump(mode="json", exclude=COMMON)
    return json.dumps(payload, separators=(",", ":"))


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


def test_every_event_type_is_covered() -> None:
    assert len(EVENT_TYPES) == 21
    assert all(issubclass(cls, BaseModel) for cls in EVENT_TYPES)


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_event_data_is_what_json_dumps_of_model_dump_writes(
    cls: type[BaseModel], data: st.DataObject
) -> None:
    event = data.draw(events_of(cls))
    assert event_data(event) == as_before(event)  # type: ignore[arg-type]


def test_times_in_a_payload_are_spelled_by_pydantic() -> None:
    retry_at = datetime(2026, 1, 1, 1, 2, 3, 4567, tzinfo=timezone(timedelta(hours=2)))
    event = RunFailed(
        at=datetime(2026, 1, 1, tzinfo=UTC),
        project="p",
        dataset="d",
        run_id="r",
        stage="task",
        reason="exit 1",
        retry_at=retry_at,
    )
    assert event_data(event) == as_before(event)
    assert json.loads(event_data(event))["retry_at"] == "2026-01-01T01:02:03.004567+02:00"


def test_numbers_text_and_maps_are_spelled_as_json_dumps_spells_them() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for seconds in (1.0, 0.1, 1e16, -0.0, float("nan"), float("inf"), float("-inf")):
        event = RunSucceeded(
            at=at, project="p", dataset="d", run_id="é\u2028\"'\\", seconds=seconds
        )
        assert event_data(event) == as_before(event)
    started = TaskStarted(
        at=at, project="p", task="t", request_id="q", run_id="r", inputs={"ü": 2**70, "b": 0}
    )
    assert event_data(started) == '{"task":"t","request_id":"q","run_id":"r","inputs":' + (
        '{"\\u00fc":1180591620717411303424,"b":0}}'
    )


def test_event_data_reads_back_as_the_same_event() -> None:
    event = RunSucceeded(
        at=datetime(2026, 1, 1, tzinfo=UTC), project="p", dataset="d", run_id="r", seconds=2.5
    )
    row = (7, event.type, "2026-01-01T00:00:00.000Z", "p", "d", event_data(event))
    assert from_row(row) == (7, event)
    assert json.loads(event_data(event)) == event_payload(event)
