"""Plain data straight from the parser's events, with the hostile-input limits checked as
it goes: the only composer of ame.yaml (PyYAML's ``yaml.load`` is never used)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from yaml.composer import ComposerError
from yaml.events import (
    AliasEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from spec.errors import SpecError
from spec.yaml_nodes import (
    MAP_TAG,
    MAPPING_TAGS,
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MERGE_TAG,
    NULL_TAG,
    SEQ_TAG,
    TEXT_TAGS,
    LocatedData,
    Mark,
    NodePath,
    Position,
    position,
)


class EventSource(Protocol):
    """The loader as the builder sees it: events in, and its rules for tags and errors."""

    def get_event(self) -> Event: ...
    def peek_event(self) -> Event: ...
    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str: ...
    def fail(self, message: str, mark: Mark | None) -> SpecError: ...
    def scalar_value(self, tag: str, value: str, mark: Mark) -> str | dict[str, str] | None: ...
    def bad_tag(self, tag: str, mark: Mark) -> SpecError: ...


class _Anchor(NamedTuple):
    """An anchored node once built: what an alias to it stands for."""

    value: Any
    size: int
    mark: Mark
    path: NodePath
    values: list[tuple[NodePath, Position]]
    keys: list[tuple[NodePath, Position]]


_Placed = list[tuple[NodePath, Position]]


class DocumentBuilder:
    """Builds one document from parser events, enforcing the loader's limits as it goes.

    Holds no node graph: a 10,000-data-set file composed into nodes (two marks each) took
    several times the memory of its data. Positions, when asked for, are kept in document
    order, so an anchored subtree's positions are a contiguous run that an alias copies
    under its own path, and an inline merge source's run is lifted out and re-rooted under
    the mapping it merges into.
    """

    def __init__(
        self, loader: EventSource, positions: bool, max_nodes: int = MAX_EXPANDED_NODES
    ) -> None:
        self.loader = loader
        self.max_nodes = max_nodes  # scales with the file size allowed (spec.load)
        # Events are typed loosely: libyaml's and PyYAML's event classes differ in stubs.
        self.get_event: Callable[[], Any] = loader.get_event
        self.peek_event: Callable[[], Any] = loader.peek_event
        self.resolve = loader.resolve
        self.fail = loader.fail
        self.positions = positions
        self.values: _Placed = []
        self.keys: _Placed = []
        self.anchors: dict[str, _Anchor | None] = {}  # None: still being built
        self.anchor_marks: dict[str, Any] = {}
        self.aliases = 0
        self.depth = 0
        # Equal texts share one object: keys and values such as a taskRef repeat in every
        # data set, and each event brings a new copy (~3 MB over 10,000 data sets).
        self.texts: dict[str, str] = {}

    def document(self) -> LocatedData | None:
        get_event = self.get_event
        get_event()  # stream start
        if isinstance(self.peek_event(), StreamEndEvent):
            get_event()
            return None
        get_event()  # document start
        root_mark = self.peek_event().start_mark
        data, _, _ = self.node(())
        get_event()  # document end
        if not isinstance(self.peek_event(), StreamEndEvent):
            event = get_event()
            raise ComposerError(
                "expected a single document in the stream",
                root_mark,
                "but found another document",
                event.start_mark,
            )
        get_event()  # stream end
        return LocatedData(data, dict(self.values), dict(self.keys))

    def node(self, path: NodePath) -> tuple[Any, int, Mark]:
        """The value at `path`, its size with aliases expanded, and where it starts."""
        event = self.get_event()
        mark = event.start_mark
        if type(event) is AliasEvent:
            return self.alias(event, path)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels", mark)
            anchor = event.anchor
            if anchor is not None:
                self.open_anchor(anchor, mark)
            first_value, first_key = len(self.values), len(self.keys)
            if self.positions:
                self.values.append((path, position(mark)))
            kind = type(event)
            if kind is ScalarEvent:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = self.resolve(ScalarNode, event.value, event.implicit)
                value: Any = self.loader.scalar_value(tag, event.value, mark)
                if type(value) is str:
                    value = self.texts.setdefault(value, value)
                size = 1
            elif kind is SequenceStartEvent:
                value, size = self.sequence(event, path)
            elif kind is MappingStartEvent:
                value, size = self.mapping(event, path)
            else:  # pragma: no cover - the parser sends only these in a node's place
                raise self.fail("unexpected YAML event", mark)
            if size > self.max_nodes:
                raise self.fail(
                    f"the document expands to more than {self.max_nodes:,} nodes"
                    " (an alias bomb?); write it out plainly",
                    mark,
                )
            if anchor is not None:
                self.anchors[anchor] = _Anchor(
                    value, size, mark, path, self.values[first_value:], self.keys[first_key:]
                )
            return value, size, mark
        finally:
            self.depth -= 1

    def open_anchor(self, anchor: str, mark: Any) -> None:
        if anchor in self.anchor_marks:
            raise ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                self.anchor_marks[anchor],
                "second occurrence",
                mark,
            )
        self.anchors[anchor] = None
        self.anchor_marks[anchor] = mark

    def alias(self, event: Any, path: NodePath | None) -> tuple[Any, int, Mark]:
        """What `*anchor` stands for; its positions are copied under `path` (None: a key,
        which places nothing of its own)."""
        anchor = event.anchor
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self.fail(
                f"too many aliases (more than {MAX_ALIASES}); an ame.yaml needs few",
                event.start_mark,
            )
        if anchor not in self.anchors:
            raise ComposerError(None, None, f"found undefined alias {anchor!r}", event.start_mark)
        target = self.anchors[anchor]
        if target is None:
            raise self.fail(
                f"the alias '*{anchor}' refers to a node that contains it", event.start_mark
            )
        if self.positions and path is not None:
            # Bound the copying itself: the size check runs only once the node is done, and
            # an alias bomb would first copy its positions over and over.
            if len(self.values) + len(target.values) > self.max_nodes:
                raise self.fail(
                    f"the document expands to more than {self.max_nodes:,} nodes"
                    " (an alias bomb?); write it out plainly",
                    event.start_mark,
                )
            self.values += _rerooted(target.values, target.path, path)
            self.keys += _rerooted(target.keys, target.path, path)
        return target.value, target.size, target.mark

    def sequence(self, start: Any, path: NodePath) -> tuple[list[Any], int]:
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(SequenceNode, None, start.implicit)
        if tag != SEQ_TAG:
            raise self.loader.bad_tag(tag, start.start_mark)
        items: list[Any] = []
        size = 1
        peek = self.peek_event
        while type(peek()) is not SequenceEndEvent:
            value, item_size, _ = self.node((*path, len(items)))
            items.append(value)
            size += item_size
        self.get_event()
        return items, size

    def mapping(self, start: Any, path: NodePath) -> tuple[dict[str, Any], int]:
        tag = start.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start.implicit)
        if tag != MAP_TAG and tag not in MAPPING_TAGS:
            raise self.loader.bad_tag(tag, start.start_mark)
        data: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        merges: list[tuple[Any, Mark, _Placed, _Placed]] = []
        size = 1
        peek = self.peek_event
        while type(peek()) is not MappingEndEvent:
            if self.is_merge_key(peek()):
                self.get_event()
                first_value, first_key = len(self.values), len(self.keys)
                source, source_size, source_mark = self.node((*path, "<<"))
                merges.append(
                    (source, source_mark, self.values[first_value:], self.keys[first_key:])
                )
                del self.values[first_value:], self.keys[first_key:]
                size += 1 + source_size
                continue
            key, key_mark = self.key()
            if key in first_seen:
                first = position(first_seen[key])
                raise self.fail(
                    f"duplicate key '{key}' (first at line {first.line}, column {first.column});"
                    " keep one",
                    key_mark,
                )
            first_seen[key] = key_mark
            if self.positions:
                self.keys.append(((*path, key), position(key_mark)))
            data[key], value_size, _ = self.node((*path, key))
            size += 1 + value_size
        self.get_event()
        for source, mark, values, keys in merges:
            self.merge(data, path, source, mark, values, keys)
        if tag in MAPPING_TAGS:
            return {"type": MAPPING_TAGS[tag], **data}, size
        return data, size

    def is_merge_key(self, event: Any) -> bool:
        if type(event) is not ScalarEvent:
            return False
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        return tag == MERGE_TAG

    def key(self) -> tuple[str, Mark]:
        event = self.get_event()
        mark = event.start_mark
        if self.depth >= MAX_DEPTH:  # a key is a node one level down, as in the graph
            raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels", mark)
        if type(event) is AliasEvent:
            value, _, _ = self.alias(event, None)
            if not isinstance(value, str):
                raise self.fail(
                    "a key is empty" if value is None else "a key must be plain text", mark
                )
            if not value:
                raise self.fail("a key is empty", mark)
            return value, mark
        if type(event) is not ScalarEvent:
            raise self.fail("a key must be plain text", mark)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(ScalarNode, event.value, event.implicit)
        if tag not in TEXT_TAGS and tag != NULL_TAG:
            raise self.fail("a key must be plain text", mark)
        key = str(event.value)
        key = self.texts.setdefault(key, key)
        if tag == NULL_TAG or not key:
            raise self.fail("a key is empty", mark)
        anchor = event.anchor
        if anchor is not None:
            self.open_anchor(anchor, mark)
            self.anchors[anchor] = _Anchor(key, 1, mark, (), [((), position(mark))], [])
        return key, mark

    def merge(
        self,
        data: dict[str, Any],
        path: NodePath,
        source: Any,
        mark: Mark,
        values: _Placed,
        keys: _Placed,
    ) -> None:
        """`<<: source` (a mapping or a list of them, earlier ones first): keys the mapping
        does not have yet are added, placed where the source wrote them."""
        merged_from = (*path, "<<")
        sources = (
            [(item, (*merged_from, i)) for i, item in enumerate(source)]
            if isinstance(source, list)
            else [(source, merged_from)]
        )
        for mapping, root in sources:
            if not isinstance(mapping, dict):
                raise self.fail("'<<' merges only mappings (e.g. <<: *defaults)", mark)
            taken = [key for key in mapping if key not in data]
            for key in taken:
                data[key] = mapping[key]
            if self.positions and taken:
                wanted = {(*root, key) for key in taken}
                self.keys += _rerooted(keys, root, path, wanted)
                self.values += _rerooted(values, root, path, wanted)


def _rerooted(
    placed: _Placed,
    old: NodePath,
    new: NodePath,
    under: set[NodePath] | None = None,
) -> _Placed:
    """`placed` moved from under `old` to under `new`; with `under`, only the entries at or
    below one of those paths."""
    cut = len(old)
    moved: _Placed = []
    for path, where in placed:
        if path[:cut] != old:
            continue
        if under is not None and path[: cut + 1] not in under:
            continue
        moved.append(((*new, *path[cut:]), where))
    return moved
