"""The row helpers of the append path: a cheaper `dataclasses.replace` for the folds, and the
columns an UPDATE must set. Both stand in for something slower, so each is held to it (and
`replace_row`'s field names, which mypy does not check, are checked here)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import UTC, datetime
from typing import Any, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import state.fold
import state.fold_alerts
from state.rows import (
    AlertRow,
    AnyRow,
    ChannelRow,
    DatasetRow,
    TaskRow,
    VersionRow,
    changed_columns,
    replace_row,
    to_record,
)

ROW_TYPES: tuple[type[AnyRow], ...] = (DatasetRow, VersionRow, TaskRow, AlertRow, ChannelRow)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def field_values(cls: type[AnyRow]) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy per field; times are aware (UTC), as the folds only ever store."""
    values: dict[str, st.SearchStrategy[Any]] = {}
    for name, hint in get_type_hints(cls).items():
        if hint is datetime:
            values[name] = st.datetimes(timezones=st.just(UTC))
        elif hint == datetime | None:
            values[name] = st.none() | st.datetimes(timezones=st.just(UTC))
        else:
            values[name] = st.from_type(hint)
    return values


def rows_of(cls: type[AnyRow]) -> st.SearchStrategy[AnyRow]:
    return st.builds(cls, **field_values(cls))


def draw_change(data: st.DataObject, cls: type[AnyRow]) -> tuple[AnyRow, dict[str, Any]]:
    """A row, and new values (from another row) for some of its fields."""
    row = data.draw(rows_of(cls))
    other = data.draw(rows_of(cls))
    names = data.draw(st.sets(st.sampled_from([f.name for f in dataclasses.fields(cls)])))
    return row, {name: getattr(other, name) for name in names}


@pytest.mark.parametrize("cls", ROW_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_replace_row_gives_what_dataclasses_replace_gives(
    cls: type[AnyRow], data: st.DataObject
) -> None:
    row, changes = draw_change(data, cls)
    untouched = _values(row)
    replaced = replace_row(row, **changes)
    expected = dataclasses.replace(row, **changes)
    assert type(replaced) is cls
    assert replaced == expected and _values(replaced) == _values(expected)
    assert hash(replaced) == hash(expected)
    assert to_record(replaced) == to_record(expected)
    assert _values(row) == untouched


def _values(row: AnyRow) -> dict[str, object]:
    return {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}


def test_replace_row_refuses_an_unknown_field_and_keeps_rows_frozen() -> None:
    row = ChannelRow(channel="json://a", healthy=True, failures=0, updated_at=T0)
    with pytest.raises(TypeError, match="no field 'healthy_now'"):
        replace_row(row, healthy_now=False)
    replaced = replace_row(row, failures=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        replaced.failures = 3  # type: ignore[misc]
    assert (row.failures, replaced.failures) == (0, 2)


@pytest.mark.parametrize("cls", ROW_TYPES, ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_changed_columns_turn_the_old_record_into_the_new_one(
    cls: type[AnyRow], data: st.DataObject
) -> None:
    old, changes = draw_change(data, cls)
    new = replace_row(old, **changes)
    changed = changed_columns(old, new)
    assert {**to_record(old), **changed} == to_record(new)
    assert set(changed) <= set(changes)
    assert changed_columns(new, new) == {}


def test_changed_columns_are_sqlite_values() -> None:
    old = TaskRow(project="p", name="t", status="idle", declared_at=T0, updated_at=T0)
    new = replace_row(old, status="running", inputs=("a", "b"), started_at=T0, runs=1)
    assert changed_columns(old, new) == {
        "status": "running",
        "inputs": '["a", "b"]',
        "started_at": "2026-01-01T00:00:00.000Z",
        "runs": 1,
    }


def test_every_replace_row_in_the_folds_names_fields_of_its_row() -> None:
    """What mypy checks for `dataclasses.replace`, for every call, run by a test or not: each
    fold's row type is the one row class its signature names."""
    by_name = {cls.__name__: cls for cls in ROW_TYPES}
    modules = (state.fold, state.fold_alerts)
    functions = [f for m in modules for f in ast.parse(inspect.getsource(m)).body]
    calls = 0
    for function in functions:
        if not isinstance(function, ast.FunctionDef):
            continue
        named = {
            node.id
            for arg in function.args.args
            if arg.annotation is not None
            for node in ast.walk(arg.annotation)
            if isinstance(node, ast.Name) and node.id in by_name
        }
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "replace_row"):
                continue
            assert len(named) == 1, f"{function.name}: which row does it replace?"
            (row_class,) = named
            fields = {f.name for f in dataclasses.fields(by_name[row_class])}
            unknown = {k.arg for k in node.keywords} - fields
            assert not unknown, f"{function.name}, line {node.lineno}: {unknown}"
            calls += 1
    assert calls >= 25
