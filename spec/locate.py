"""Turning a validation problem into a SpecError that points at the offending node.

A problem is located by its path in the document (pydantic's ``loc``). The path is walked
through the data the loader built; where it ends is the node reported: the value for a bad
value, the key for an unknown or duplicate key, the enclosing mapping for a missing key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from spec.errors import SpecError
from spec.executor_kinds import EXECUTOR_TAGS
from spec.strict import SPEC_PROBLEM, UNKNOWN_KEY
from spec.yaml_loader import LocatedData, NodePath, Position

_EXECUTOR_TAGS = ", ".join(EXECUTOR_TAGS)


class LocatedProblem(Exception):
    """A problem found after validation (a dangling reference, a duplicate name).

    ``path`` names the node in the document; with ``key`` the problem is that key itself.
    """

    def __init__(self, path: NodePath, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.key = key


@dataclass(frozen=True)
class _Found:
    where: Position
    shown_path: NodePath
    message: str


def format_path(path: NodePath) -> str:
    """``("dataSets", 0, "task", "taskRef")`` -> ``dataSets[0].task.taskRef``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def walk(located: LocatedData, loc: tuple[str | int, ...]) -> NodePath:
    """The longest prefix of ``loc`` that exists in the document, as a document path.

    Pydantic's path can differ from the document's: a discriminated union adds the tag
    (``executor.custom.command``) and the ``{ref: {...}}`` form hides a level; both are
    stepped over here.
    """
    data: Any = located.data
    path: NodePath = ()
    for part in loc:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_list or (isinstance(data, dict) and part in data):
            path, data = (*path, part), data[part]
        elif isinstance(data, dict) and data.get("type") == part:
            continue
        elif isinstance(data, dict) and isinstance(data.get("ref"), dict) and part in data["ref"]:
            path, data = (*path, "ref", part), data["ref"][part]
        else:
            break
    return path


def _value_position(located: LocatedData, path: NodePath) -> Position:
    return located.values.get(path, Position(1, 1))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    given = error.get("input")
    if kind in (SPEC_PROBLEM, UNKNOWN_KEY):
        return str(context["message"])
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    if kind == "string_type":
        hint = ' (write "" for an empty text)' if given is None else ""
        return f"expected text, got {_describe(given)}{hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_describe(given)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_describe(given)}"
    if kind == "union_tag_not_found":
        return (
            "an executor needs a tag, e.g. executor: !custom {command: ...}"
            f" (one of {_EXECUTOR_TAGS})"
        )
    if kind == "union_tag_invalid":
        return f"unknown executor '{context.get('tag')}' (use {_EXECUTOR_TAGS})"
    return f"{error['msg']} (got {_describe(given)})"


def _locate_error(located: LocatedData, error: ErrorDetails) -> _Found:
    loc = tuple(error["loc"])
    context = error.get("ctx") or {}
    message = _message(error)
    if error["type"] == "missing":
        path = walk(located, loc[:-1])
        return _Found(_value_position(located, path), path, message)
    key = context.get("key")
    if error["type"] == UNKNOWN_KEY and isinstance(key, str):
        return _at_key(located, loc, key, message)
    path = walk(located, loc)
    return _Found(_value_position(located, path), path, message)


def _at_key(located: LocatedData, mapping: tuple[str | int, ...], key: str, message: str) -> _Found:
    """Report at the key itself, wherever the walk finds it (also inside ``ref:``)."""
    path = walk(located, (*mapping, key))
    if path and path[-1] == key and path in located.keys:
        return _Found(located.keys[path], path[:-1], message)
    path = walk(located, mapping)
    return _Found(_value_position(located, path), path, message)


def _spec_error(found: _Found, filename: str) -> SpecError:
    where = format_path(found.shown_path)
    message = f"{where}: {found.message}" if where else found.message
    return SpecError(message, filename, found.where.line, found.where.column)


def validation_error(error: ValidationError, located: LocatedData, filename: str) -> SpecError:
    """The first problem in file order, as one SpecError."""
    found = [_locate_error(located, details) for details in error.errors()]
    first = min(found, key=lambda f: (f.where.line, f.where.column))
    return _spec_error(first, filename)


def problem_error(problem: LocatedProblem, located: LocatedData, filename: str) -> SpecError:
    if problem.key is not None:
        return _spec_error(_at_key(located, problem.path, problem.key, problem.message), filename)
    path = walk(located, problem.path)
    return _spec_error(_Found(_value_position(located, path), path, problem.message), filename)
