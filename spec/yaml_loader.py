"""Reading ame.yaml into plain data while remembering where every node started.

PyYAML alone is not enough for a file people edit and that may be hostile: it keeps the
last of duplicate keys without a word, it forgets positions once it builds Python objects,
and an alias bomb expands without bound. ``read_located`` builds plain data straight from
the parser's events, with limits on depth, aliases and the expanded size checked as it goes,
and (when asked) the start of each value and each key by its path
(``("dataSets", 0, "size")``). It is the only composer: PyYAML's (``yaml.load``) is not
used, so there is one place where the limits hold.

Scalars stay text (``3.10`` is ``"3.10"``, ``1`` is ``"1"``, ``yes`` is ``"yes"``); only
YAML's null becomes ``None``. The models decide what a text means, so an unquoted Python
version or an env value never changes on the way in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, cast

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
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from spec.errors import SpecError
from spec.executor_kinds import AME_ONLY_TAGS, EXECUTOR_TAGS

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

SECRET_TAGS: dict[str, str] = {"!ame": "ame"}
# Tags that make a mapping with a `type` field: every executor AME defines, and secrets.
MAPPING_TAGS: dict[str, str] = {**EXECUTOR_TAGS, **AME_ONLY_TAGS, **SECRET_TAGS}
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


class AmeLoader(Reader, Scanner, Parser, Resolver):
    """PyYAML's reader, scanner, parser and resolver, with AME's tags; no composer and no
    constructor, so ``yaml.load`` cannot use it, and nothing but `located` builds data."""

    def __init__(self, stream: str, filename: str = "ame.yaml", use_libyaml: bool = True) -> None:
        Reader.__init__(self, stream)  # refuses characters YAML does not allow
        Scanner.__init__(self)
        Parser.__init__(self)
        Resolver.__init__(self)
        self.spec_file = filename
        self._fast = CParser(stream) if use_libyaml and HAVE_LIBYAML else None
        if self._fast is not None:
            # Bound straight to libyaml: the builder calls these once or more per node.
            self.peek_event = self._fast.peek_event  # type: ignore[method-assign,assignment]
            self.get_event = self._fast.get_event  # type: ignore[method-assign,assignment]

    # Events come from libyaml when it is there: same events and marks, found faster.

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

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of an untagged node. Every scalar but null stays text, so a plain scalar
        is null, a merge key or text, and matching it against YAML's int, float, bool and
        timestamp patterns (most of the time spent composing) would be wasted."""
        if kind is ScalarNode and implicit[0]:
            if value in _NULL_WORDS:
                return _NULL_TAG
            if value not in ("<<", "="):
                return _STR_TAG
        return cast(str, super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    # Building: plain data straight from the parser's events, no node graph.

    def located(self, *, positions: bool = True) -> LocatedData | None:
        """The single document of the stream, or None when it holds none.

        Without `positions` nothing is recorded but the data: loading a valid file needs
        no positions, and a failed one is read again with them to place its error.
        """
        return _Builder(self, positions).document()

    def scalar_value(self, tag: str, value: str, mark: Mark) -> str | dict[str, str] | None:
        if tag == _NULL_TAG:
            return None
        if tag in _TEXT_TAGS:
            return value
        if tag in AME_ONLY_TAGS and value == "":
            return {"type": AME_ONLY_TAGS[tag]}  # `executor: !mlflow`, as AME's projects write it
        if tag in EXECUTOR_TAGS or tag in SECRET_TAGS:
            raise self.fail(
                f"{tag} needs a mapping, e.g. {tag} {{command: python run.py}}"
                if tag in EXECUTOR_TAGS
                else f"{tag} needs a mapping, e.g. {tag} {{key: k, injectAs: K}}",
                mark,
            )
        raise self.bad_tag(tag, mark)

    def bad_tag(self, tag: str, mark: Mark) -> SpecError:
        if tag in MAPPING_TAGS:
            return self.fail(f"{tag} must tag a mapping", mark)
        shown = "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag
        known = " ".join(MAPPING_TAGS)
        by_case = {known_tag.casefold(): known_tag for known_tag in MAPPING_TAGS}
        meant = by_case.get(tag.casefold())
        hint = f"; did you mean '{meant}'?" if meant else ""
        return self.fail(f"unknown tag '{shown}'{hint} (ame.yaml uses only {known})", mark)


class _Anchor(NamedTuple):
    """An anchored node once built: what an alias to it stands for."""

    value: Any
    size: int
    mark: Mark
    path: NodePath
    values: list[tuple[NodePath, Position]]
    keys: list[tuple[NodePath, Position]]


_Placed = list[tuple[NodePath, Position]]


class _Builder:
    """Builds one document from parser events, enforcing the loader's limits as it goes.

    Holds no node graph: a 10,000-data-set file composed into nodes (two marks each) took
    several times the memory of its data. Positions, when asked for, are kept in document
    order, so an anchored subtree's positions are a contiguous run that an alias copies
    under its own path, and an inline merge source's run is lifted out and re-rooted under
    the mapping it merges into.
    """

    def __init__(self, loader: AmeLoader, positions: bool) -> None:
        self.loader = loader
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
            if size > MAX_EXPANDED_NODES:
                raise self.fail(
                    f"the document expands to more than {MAX_EXPANDED_NODES} nodes"
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
            if len(self.values) + len(target.values) > MAX_EXPANDED_NODES:
                raise self.fail(
                    f"the document expands to more than {MAX_EXPANDED_NODES} nodes"
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
        if tag != _SEQ_TAG:
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
        if tag != _MAP_TAG and tag not in MAPPING_TAGS:
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
        return tag == _MERGE_TAG

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
        if tag not in _TEXT_TAGS and tag != _NULL_TAG:
            raise self.fail("a key must be plain text", mark)
        key = str(event.value)
        key = self.texts.setdefault(key, key)
        if tag == _NULL_TAG or not key:
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


def read_located(
    text: str, filename: str = "ame.yaml", use_libyaml: bool = True, *, positions: bool = True
) -> LocatedData | None:
    """The document in ``text`` (with positions unless told not to); None when it holds no
    document.

    Raises SpecError for what the loader refuses and ``yaml.YAMLError`` for bad syntax.
    """
    loader = AmeLoader(text, filename, use_libyaml)
    try:
        return loader.located(positions=positions)
    finally:
        loader.dispose()
