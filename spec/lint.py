"""What a valid ame.yaml most likely does not mean: warnings, located like errors.

A warning never stops a load: the file means something, only probably not what was
written. Suspects are found on the resolved project, which holds no positions; only a file
that has one is read again with positions, as for errors.
"""

from __future__ import annotations

import re
from typing import Any

from spec.errors import Problem
from spec.locate import format_path, walk
from spec.model import Project
from spec.yaml_nodes import LocatedData, NodePath, Position

# No data set worth storing is smaller; a size under it is a unit left out or mistaken.
TINY_SIZE_BYTES = 1024

_NUMBER_AND_UNIT = re.compile(r"\s*\+?(?P<number>[0-9]*\.?[0-9]*)(?P<unit>.*?)\s*")


def suspects(project: Project) -> list[NodePath]:
    """Where the project has something to warn about: data set sizes under 1 KiB."""
    return [
        ("dataSets", i, "size")
        for i, data_set in enumerate(project.data_sets)
        if data_set.size_bytes is not None and data_set.size_bytes < TINY_SIZE_BYTES
    ]


def suspect_problems(
    project: Project, found: list[NodePath], located: LocatedData, filename: str
) -> list[Problem]:
    """``ame.yaml:5:11: warning: dataSets[0].size: ...`` for each suspect."""
    problems: list[Problem] = []
    for path in found:
        index = path[1]
        assert isinstance(index, int)
        size_bytes = project.data_sets[index].size_bytes
        assert size_bytes is not None
        where = walk(located, path)
        message = _tiny_size(_written(located, where), size_bytes)
        line, column = located.values.get(where, Position(1, 1))
        problems.append(Problem(message, filename, line, column, format_path(path), "warning"))
    return problems


def _written(located: LocatedData, path: NodePath) -> Any:
    value: Any = located.data
    for part in path:
        value = value[part]
    return value


def _tiny_size(written: Any, size_bytes: int) -> str:
    """Names the likely slip: a number without a unit is bytes, and ``m`` is a thousandth,
    not mega; the guess keeps the number and puts a unit a data set could have."""
    match = _NUMBER_AND_UNIT.fullmatch(str(written))
    number = (match["number"] if match else "").rstrip(".") or "1"
    unit = match["unit"] if match else ""
    if unit == "m":
        why, guess = " ('m' is a thousandth)", f"{number}Mi"
    elif unit == "" or unit[0] in "eE":
        why, guess = " (a size without a unit is in bytes)", f"{number}Gi"
    else:
        why, guess = "", f"{number}Gi"
    count = "1 byte" if size_bytes == 1 else f"{size_bytes} bytes"
    return f"{str(written)!r} is {count}, under 1 KiB{why}; did you mean {guess}?"
