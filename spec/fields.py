"""Field types shared by the models: names, relative paths, quantities, plain text.

Each is an ``Annotated`` type whose validator raises ``ValueError`` with a one-line message
that names the offending value, and whose JSON Schema says what an editor should accept.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from spec.quantity import parse_count, parse_cpu, parse_quantity

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
# Control characters (terminal escapes among them) have no place in a path: it is shown
# in `ame ds list` and on the dashboard.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUANTITY_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "pattern": r"^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[A-Za-z]*)$",
        },
        {"type": "number", "minimum": 0},
    ],
    "description": "A Kubernetes quantity, e.g. 50Gi, 500M, 1.5Ti, 500m.",
}
_SIZE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _QUANTITY_SCHEMA["anyOf"][0],
        {"type": "number", "exclusiveMinimum": 0},
    ],
    "description": "Bytes, more than 0, as a Kubernetes quantity, e.g. 50Gi, 500M, 1.5Ti.",
}


def check_name(value: str) -> str:
    """Names become object-store path segments (``datasets/<project>/<name>/``)."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use 1 to 128 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit (names become storage paths)"
        )
    return value


def normalize_path(value: str) -> str:
    """A data set's path, relative to the project directory, in normal posix form.

    What must hold: the result is relative, stays inside the project, is not the project
    itself and does not reach into ``.git``; ``./data/`` becomes ``data``.
    """
    if not value.strip():
        raise ValueError("the path is empty; give a directory inside the project, e.g. data")
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} contains a control character")
    if "\\" in value:
        raise ValueError(f"{value!r} contains '\\'; write paths with '/'")
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r} is absolute; give a path relative to the project directory")
    normal = posixpath.normpath(value)
    if normal == ".":
        raise ValueError(f"{value!r} is the project directory itself; name a directory inside it")
    parts = normal.split("/")
    if parts[0] == "..":
        raise ValueError(f"{value!r} leaves the project directory; give a path inside it")
    if ".git" in parts:
        raise ValueError(f"{value!r} points into .git; data sets cannot live there")
    return normal


def parse_size(value: str | int | float) -> int:
    """A data set's declared size in bytes, more than 0.

    A size of 0 (also written ``-0``) could never hold what the task writes: every version
    would be over its declared size, and capacity planning would reserve nothing for it.
    """
    size_bytes = parse_quantity(value)
    if size_bytes == 0:
        raise ValueError(
            f"{value!r} is 0 bytes; a size must be more than 0, e.g. 50Gi"
            " (leave 'size' out when it is not known)"
        )
    return size_bytes


def _text(value: Any) -> Any:
    """YAML gives numbers as text here already; Python callers may pass numbers too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError(f"{value!r} contains a NUL character, which no command can hold")
    return value


_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})


def _flag(value: Any) -> Any:
    """YAML's true and false (its core schema, as AME's serde_yaml reads them), which the
    loader hands over as text; ``yes`` or ``1`` are not booleans there, so not here."""
    if isinstance(value, bool):
        return value
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def _env_key(value: str) -> str:
    if not value or "=" in value or "\x00" in value:
        raise ValueError(f"{value!r} is not a valid environment variable name")
    return value


Name = Annotated[
    str,
    AfterValidator(check_name),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN}),
]
RelativePath = Annotated[
    str,
    AfterValidator(normalize_path),
    WithJsonSchema({"type": "string", "minLength": 1, "description": "Relative to the project."}),
]
Text = Annotated[str, BeforeValidator(_text)]
NonEmptyText = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_non_empty),
    WithJsonSchema({"type": "string", "minLength": 1}),
]
VersionText = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_non_empty),
    WithJsonSchema({"type": ["string", "number"], "description": 'Quote it: "3.10".'}),
]
EnvKey = Annotated[
    str, AfterValidator(_env_key), WithJsonSchema({"type": "string", "minLength": 1})
]
Flag = Annotated[
    bool,
    BeforeValidator(_flag),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"enum": sorted(_TRUE | _FALSE)}]}),
]
Bytes = Annotated[int, BeforeValidator(parse_quantity), WithJsonSchema(_QUANTITY_SCHEMA)]
SizeBytes = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(_SIZE_SCHEMA)]
Cores = Annotated[float, BeforeValidator(parse_cpu), WithJsonSchema(_QUANTITY_SCHEMA)]
Count = Annotated[
    int,
    BeforeValidator(parse_count),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}),
]
