"""YAML syntax errors (from PyYAML or libyaml), said plainly and placed at the problem."""

from __future__ import annotations

import re

import yaml
from yaml.reader import ReaderError

from spec.errors import SpecError
from spec.yaml_nodes import Mark

_KEY_AT = re.compile(r"(?P<key>[^\s:#\-][^:#]*?)\s*:(\s|$)")
_LINE_KEY = re.compile(r"(?P<indent>\s*)(?P<key>[^\s:#\-][^:#]*?)\s*:(\s|$)")
_COLON = "a ':' followed by a space is not allowed here; quote the value if it contains ': '"
# The two parsers' wordings of the same problems, said plainly.
_PLAIN: dict[str, str] = {
    "mapping values are not allowed here": _COLON,
    "mapping values are not allowed in this context": _COLON,
    "could not find expected ':'": "expected 'key: value' here",
    "exceeded maximum nesting depth": "nesting is too deep",
    "expected a single document in the stream": (
        "the file holds more than one YAML document ('---'); keep only one"
    ),
}
_DEEPER_KEY_PROBLEMS = (
    "expected <block end>, but found '<block mapping start>'",  # PyYAML
    "did not find expected key",  # libyaml
)
_COLON_PROBLEMS = (
    "mapping values are not allowed here",
    "mapping values are not allowed in this context",
)
TASK_REF_HINT = "'taskRef' is not valid here; did you mean to put it under 'task:'?"


def _line_text(text: str, line_index: int) -> str:
    lines = text.splitlines()
    return lines[line_index] if 0 <= line_index < len(lines) else ""


def _stray_key(problem: str, context: str | None, line: str, column: int) -> tuple[str, int] | None:
    """A key on its own line, indented deeper than the keys above it, and where it starts.

    This is what a commented-out parent key (``#    task:``) leaves behind. The parsers see
    it either as a mapping where none may start, or, after a plain value, as that value's
    continuation followed by a stray ':'.
    """
    if problem in _DEEPER_KEY_PROBLEMS and context == "while parsing a block mapping":
        match = _KEY_AT.match(line, column)
        return (match["key"], column) if match else None
    if problem in _COLON_PROBLEMS:
        match = _LINE_KEY.match(line)
        if match and match.end("key") <= column < match.end() and line[column] == ":":
            return match["key"], match.end("indent")
    return None


def syntax_error(error: yaml.YAMLError, text: str, filename: str) -> SpecError:
    """One SpecError for a YAML error, at the problem's mark (1-based)."""
    if isinstance(error, ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return SpecError(
            f"the file contains a character YAML does not allow (U+{error.character:04X});"
            " remove it",
            filename,
            line,
            column,
        )
    if not isinstance(error, yaml.MarkedYAMLError):  # pragma: no cover - all others carry marks
        return SpecError(f"invalid YAML: {error}", filename, 1, 1)
    mark: Mark | None = error.problem_mark or error.context_mark
    if mark is None:  # pragma: no cover - PyYAML always sets one of them
        return SpecError(f"invalid YAML: {error.problem or error.context}", filename, 1, 1)
    problem = (error.problem or error.context or "").strip()
    line_text = _line_text(text, mark.line)
    stray = _stray_key(problem, error.context, line_text, mark.column)
    if stray is not None:
        key, column = stray
        message = (
            TASK_REF_HINT
            if key == "taskRef"
            else f"'{key}' is not lined up with the keys above it; fix its indentation"
            " (or add the parent key it belongs under)"
        )
        return SpecError(message, filename, mark.line + 1, column + 1)
    if problem.startswith("found character") and line_text[mark.column : mark.column + 1] == "\t":
        message = "a tab cannot indent YAML; use spaces"
    else:
        message = _PLAIN.get(problem) or _PLAIN.get((error.context or "").strip()) or ""
    if not message:
        message = f"invalid YAML: {problem}"
        context_mark = error.context_mark
        if error.context and context_mark is not None and context_mark is not mark:
            message += (
                f" ({error.context} at line {context_mark.line + 1},"
                f" column {context_mark.column + 1})"
            )
    return SpecError(message, filename, mark.line + 1, mark.column + 1)
