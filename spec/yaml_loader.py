"""Reading ame.yaml into plain data while remembering where every node started.

PyYAML alone is not enough for a file people edit and that may be hostile: it keeps the
last of duplicate keys without a word, it forgets positions once it builds Python objects,
and an alias bomb expands without bound. ``AmeLoader`` composes the node graph with limits
on depth, aliases and the expanded size, then builds the data itself, recording the start
of each value and each key by its path (``("dataSets", 0, "size")``).

Scalars stay text (``3.10`` is ``"3.10"``, ``1`` is ``"1"``, ``yes`` is ``"yes"``); only
YAML's null becomes ``None``. The models decide what a text means, so an unquoted Python
version or an env value never changes on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

import yaml
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spec.errors import SpecError

try:  # libyaml finds events several times faster; composing them stays ours.
    from yaml._yaml import CParser

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    HAVE_LIBYAML = False

# Where a node sits in the document: ("dataSets", 0, "size").
NodePath = tuple[str | int, ...]

MAX_DEPTH = 40
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 200_000

EXECUTOR_TAGS: dict[str, str] = {
    "!custom": "custom",
    "!pip": "pip",
    "!poetry": "poetry",
    "!pipEnv": "pipEnv",
}
SECRET_TAGS: dict[str, str] = {"!ame": "ame"}
UNSUPPORTED_TAGS: dict[str, str] = {
    "!mlflow": "the !mlflow executor is not supported by amed; use !custom, !pip, !poetry"
    " or !pipEnv",
}
_YAML = "tag:yaml.org,2002:"
_TEXT_TAGS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "timestamp")}
_NULL_TAG = f"{_YAML}null"
_STR_TAG = f"{_YAML}str"
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
_MAP_TAG = f"{_YAML}map"
_SEQ_TAG = f"{_YAML}seq"
_MERGE_TAG = f"{_YAML}merge"


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


class AmeLoader(yaml.SafeLoader):
    """A SafeLoader that knows AME's tags and refuses what a hostile file could abuse."""

    def __init__(self, stream: str, filename: str = "ame.yaml", use_libyaml: bool = True) -> None:
        super().__init__(stream)  # the Reader refuses characters YAML does not allow
        self.spec_file = filename
        self._depth = 0
        self._aliases = 0
        self._expanded: dict[int, int] = {}
        self._fast = CParser(stream) if use_libyaml and HAVE_LIBYAML else None
        self._scalars_as_text = False
        if self._fast is not None:
            # Bound straight to libyaml: the composer calls these once or more per node.
            self.check_event = self._fast.check_event  # type: ignore[method-assign]
            self.peek_event = self._fast.peek_event  # type: ignore[method-assign,assignment]
            self.get_event = self._fast.get_event  # type: ignore[method-assign,assignment]

    # Events come from libyaml when it is there: same events and marks, found faster.

    def check_event(self, *choices: Any) -> bool:
        if self._fast is not None:
            return bool(self._fast.check_event(*choices))
        return bool(super().check_event(*choices))

    def peek_event(self) -> Event:
        if self._fast is not None:
            return cast(Event, self._fast.peek_event())
        return cast(Event, super().peek_event())  # type: ignore[no-untyped-call]

    def get_event(self) -> Event:
        if self._fast is not None:
            return cast(Event, self._fast.get_event())
        return cast(Event, super().get_event())  # type: ignore[no-untyped-call]

    def dispose(self) -> None:
        if self._fast is not None:
            self._fast.dispose()
        super().dispose()

    def fail(self, message: str, mark: Mark | None) -> SpecError:
        where = position(mark) if mark is not None else Position(1, 1)
        return SpecError(message, self.spec_file, where.line, where.column)

    # Composing: limits are checked while the node graph grows, before any data is built.

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of an untagged node. `located` keeps every scalar but null as text, so a
        plain scalar is null, a merge key or text, and matching it against YAML's int, float,
        bool and timestamp patterns (most of the time spent composing) would be wasted."""
        if self._scalars_as_text and kind is ScalarNode and implicit[0]:
            if value in _NULL_WORDS:
                return _NULL_TAG
            if value not in ("<<", "="):
                return _STR_TAG
        return cast(str, super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise self.fail(
                    f"too many aliases (more than {MAX_ALIASES}); an ame.yaml needs few",
                    event.start_mark,
                )
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._expanded:
                raise self.fail(
                    f"the alias '*{event.anchor}' refers to a node that contains it",
                    event.start_mark,
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels", event.start_mark)
            node = cast(Node, super().compose_node(parent, index))
        finally:
            self._depth -= 1
        if id(node) not in self._expanded:
            self._expanded[id(node)] = self._expanded_size(node)
        return node

    def _expanded_size(self, node: Node) -> int:
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            return 1
        size = 1 + sum(self._expanded.get(id(child), 1) for child in children)
        if size > MAX_EXPANDED_NODES:
            raise self.fail(
                f"the document expands to more than {MAX_EXPANDED_NODES} nodes"
                " (an alias bomb?); write it out plainly",
                node.start_mark,
            )
        return size

    # Building: plain data plus positions, rejecting what ame.yaml never needs.

    def located(self) -> LocatedData | None:
        """The single document of the stream, or None when it holds none."""
        self._scalars_as_text = True
        node = self.get_single_node()
        if node is None:
            return None
        result = LocatedData(data=None)
        result.data = self._build(node, (), result)
        return result

    def _build(self, node: Node, path: NodePath, out: LocatedData) -> Any:
        out.values[path] = position(node.start_mark)
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self._bad_tag(node)
            return [self._build(child, (*path, i), out) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            data = self._mapping(node, path, out)
            if node.tag in EXECUTOR_TAGS:
                return {"type": EXECUTOR_TAGS[node.tag], **data}
            if node.tag in SECRET_TAGS:
                return {"type": SECRET_TAGS[node.tag], **data}
            if node.tag != _MAP_TAG:
                raise self._bad_tag(node)
            return data
        raise self.fail("unexpected YAML node", node.start_mark)  # pragma: no cover

    def _scalar(self, node: ScalarNode) -> str | None:
        if node.tag == _NULL_TAG:
            return None
        if node.tag in _TEXT_TAGS:
            return str(node.value)
        if node.tag in EXECUTOR_TAGS or node.tag in SECRET_TAGS:
            raise self.fail(
                f"{node.tag} needs a mapping, e.g. {node.tag} {{command: python run.py}}"
                if node.tag in EXECUTOR_TAGS
                else f"{node.tag} needs a mapping, e.g. {node.tag} {{key: k, injectAs: K}}",
                node.start_mark,
            )
        raise self._bad_tag(node)

    def _bad_tag(self, node: Node) -> SpecError:
        tag = str(node.tag)
        if tag in UNSUPPORTED_TAGS:
            return self.fail(UNSUPPORTED_TAGS[tag], node.start_mark)
        if tag in EXECUTOR_TAGS or tag in SECRET_TAGS:
            return self.fail(f"{tag} must tag a mapping", node.start_mark)
        shown = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
        known = " ".join([*EXECUTOR_TAGS, *SECRET_TAGS])
        return self.fail(f"unknown tag '{shown}' (ame.yaml uses only {known})", node.start_mark)

    def _mapping(self, node: MappingNode, path: NodePath, out: LocatedData) -> dict[str, Any]:
        data: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node))
                continue
            key = self._key(key_node)
            if key in first_seen:
                first = position(first_seen[key])
                raise self.fail(
                    f"duplicate key '{key}' (first at line {first.line}, column {first.column});"
                    " keep one",
                    key_node.start_mark,
                )
            first_seen[key] = key_node.start_mark
            out.keys[(*path, key)] = position(key_node.start_mark)
            data[key] = self._build(value_node, (*path, key), out)
        for key_node, value_node in merged:
            key = self._key(key_node)
            if key not in data:
                out.keys[(*path, key)] = position(key_node.start_mark)
                data[key] = self._build(value_node, (*path, key), out)
        return data

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """For ``yaml.load(..., Loader=AmeLoader)``: duplicate keys are refused there too."""
        seen: dict[str, Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                key = str(key_node.value)
                if key in seen:
                    raise self.fail(f"duplicate key '{key}'; keep one", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def _merge_sources(self, value_node: Node) -> list[tuple[Node, Node]]:
        """The pairs a ``<<:`` merge key brings in, earlier sources first."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        pairs: list[tuple[Node, Node]] = []
        for source in sources:
            if not isinstance(source, MappingNode):
                raise self.fail("'<<' merges only mappings (e.g. <<: *defaults)", source.start_mark)
            pairs.extend(source.value)
        return pairs

    def _key(self, key_node: Node) -> str:
        if not isinstance(key_node, ScalarNode) or key_node.tag not in _TEXT_TAGS | {_NULL_TAG}:
            raise self.fail("a key must be plain text", key_node.start_mark)
        if key_node.tag == _NULL_TAG or not str(key_node.value):
            raise self.fail("a key is empty", key_node.start_mark)
        return str(key_node.value)


def read_located(
    text: str, filename: str = "ame.yaml", use_libyaml: bool = True
) -> LocatedData | None:
    """The document in ``text`` with positions; None when it holds no document.

    Raises SpecError for what the loader refuses and ``yaml.YAMLError`` for bad syntax.
    """
    loader = AmeLoader(text, filename, use_libyaml)
    try:
        return loader.located()
    finally:
        loader.dispose()


def _construct_tagged(type_field: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: Node) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.tag} needs a mapping", node.start_mark
            )
        fields = loader.construct_mapping(node, deep=True)
        return {"type": type_field, **{str(key): value for key, value in fields.items()}}

    return construct


# So that yaml.load(text, Loader=AmeLoader) gives the plain-dict form of a file too (with
# YAML's usual scalar types), e.g. to check it against the JSON Schema.
for _tag, _type in {**EXECUTOR_TAGS, **SECRET_TAGS}.items():
    AmeLoader.add_constructor(_tag, _construct_tagged(_type))
