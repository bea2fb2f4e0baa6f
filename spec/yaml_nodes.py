"""What the ame.yaml loader hands out, the limits it holds and the tags it knows.

Shared by the loader (events in), the builder (plain data out) and the modules that place
errors and warnings by a node's path, so none of them imports another's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from spec.executor_kinds import AME_ONLY_TAGS, EXECUTOR_TAGS

# Where a node sits in the document: ("dataSets", 0, "size").
NodePath = tuple[str | int, ...]

MAX_DEPTH = 40
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 200_000

SECRET_TAGS: dict[str, str] = {"!ame": "ame"}
# Tags that make a mapping with a `type` field: every executor AME defines, and secrets.
MAPPING_TAGS: dict[str, str] = {**EXECUTOR_TAGS, **AME_ONLY_TAGS, **SECRET_TAGS}
YAML = "tag:yaml.org,2002:"
TEXT_TAGS = {f"{YAML}{name}" for name in ("str", "int", "float", "bool", "timestamp")}
NULL_TAG = f"{YAML}null"
STR_TAG = f"{YAML}str"
NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
MAP_TAG = f"{YAML}map"
SEQ_TAG = f"{YAML}seq"
MERGE_TAG = f"{YAML}merge"


class Position(NamedTuple):
    """A place in the file, 1-based as editors count. A named tuple, not a dataclass: the
    loader makes one per node and per key, and a tuple is made several times faster."""

    line: int
    column: int


class Mark(Protocol):
    """PyYAML's marks (pure-Python or libyaml): 0-based line and column."""

    line: int
    column: int


def position(mark: Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


@dataclass
class LocatedData:
    """The document as plain data, with where each value (and each key) starts."""

    data: Any
    values: dict[NodePath, Position] = field(default_factory=dict)
    keys: dict[NodePath, Position] = field(default_factory=dict)
