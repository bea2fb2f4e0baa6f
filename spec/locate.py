"""Turning validation problems into located Problems that point at the offending nodes.

A problem is located by its path in the document (pydantic's ``loc``). The path is walked
through the data the loader built; where it ends is the node reported: the value for a bad
value, the key for an unknown or duplicate key, the enclosing mapping for a missing key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from spec.document import PROJECT_NAME_KEYS
from spec.errors import Problem, Severity
from spec.executor_kinds import EXECUTOR_TAGS
from spec.model import SECRET_VARIANT
from spec.strict import SPEC_PROBLEM, UNKNOWN_KEY
from spec.yaml_nodes import LocatedData, NodePath, Position

_EXECUTOR_TAGS = ", ".join(EXECUTOR_TAGS)
# pydantic reports a missing project name under its first spelling, AME's own.
PROJECT_NAME_KEY = PROJECT_NAME_KEYS[0]
# Mappings that hold a node's fields one level down in the file: a data set reference's
# `ref: {...}` and a secret's `ame: {...}`; the models see the fields directly.
_WRAPPERS = ("ref", SECRET_VARIANT)


class LocatedProblem(Exception):
    """A problem found after validation (a dangling reference, a duplicate name).

    ``path`` names the node in the document; with ``key`` the problem is that key itself.
    """

    def __init__(self, path: NodePath, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.key = key


class LocatedProblems(Exception):
    """Every problem found after validation, raised together."""

    def __init__(self, problems: list[LocatedProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


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
    (``executor.custom.command``) and the ``{ref: {...}}`` and ``{ame: {...}}`` forms hide
    a level; both are stepped over here.
    """
    data: Any = located.data
    path: NodePath = ()
    for part in loc:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_list or (isinstance(data, dict) and part in data):
            path, data = (*path, part), data[part]
        elif isinstance(data, dict) and data.get("type") == part:
            continue
        elif isinstance(data, dict) and (wrapper := _wrapper_holding(data, part)):
            path, data = (*path, wrapper, part), data[wrapper][part]
        else:
            break
    return path


def _wrapper_holding(data: dict[str, Any], part: str | int) -> str | None:
    for wrapper in _WRAPPERS:
        inner = data.get(wrapper)
        if isinstance(inner, dict) and part in inner:
            return wrapper
    return None


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
        if tuple(error["loc"]) == (PROJECT_NAME_KEY,):
            return f"missing required key '{PROJECT_NAME_KEY}' (the project's name)"
        return f"missing required key '{error['loc'][-1]}'"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    if kind == "string_type":
        hint = ' (write "" for an empty text)' if given is None else ""
        return f"expected text, got {_describe(given)}{hint}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {_describe(given)}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {_describe(given)}{_older_format_hint(error)}"
    if kind == "union_tag_not_found":
        return (
            "an executor needs a tag, e.g. executor: !custom {command: ...}"
            f" (one of {_EXECUTOR_TAGS})"
        )
    if kind == "union_tag_invalid":
        return f"unknown executor '{context.get('tag')}' (use {_EXECUTOR_TAGS})"
    return f"{error['msg']} (got {_describe(given)})"


def _older_format_hint(error: ErrorDetails) -> str:
    """AME's older project files keep `tasks` as a mapping by name, each with a
    `runcommand`: say what the file is, since "expected a list" alone does not."""
    given = error.get("input")
    if tuple(error["loc"]) != ("tasks",) or not isinstance(given, dict):
        return ""
    if not any(isinstance(task, dict) and "runcommand" in task for task in given.values()):
        return ""
    return (
        " (this is AME's older format, tasks by name with 'runcommand'; write each as"
        " '- name: NAME' with an executor, e.g. executor: !custom {command: ...})"
    )


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


def _problem(found: _Found, filename: str, severity: Severity = "error") -> Problem:
    line, column = found.where
    return Problem(found.message, filename, line, column, format_path(found.shown_path), severity)


def validation_problems(
    error: ValidationError, located: LocatedData, filename: str
) -> list[Problem]:
    return [_problem(_locate_error(located, details), filename) for details in error.errors()]


def located_problem(
    problem: LocatedProblem,
    located: LocatedData,
    filename: str,
    severity: Severity = "error",
) -> Problem:
    if problem.key is not None:
        found = _at_key(located, problem.path, problem.key, problem.message)
    else:
        path = walk(located, problem.path)
        found = _Found(_value_position(located, path), path, problem.message)
    return _problem(found, filename, severity)
