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

from typing import Any, cast

from yaml.events import Event
from yaml.nodes import Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from spec.errors import SpecError
from spec.executor_kinds import AME_ONLY_TAGS, EXECUTOR_TAGS
from spec.yaml_builder import DocumentBuilder
from spec.yaml_nodes import (
    MAPPING_TAGS,
    MAX_EXPANDED_NODES,
    NULL_TAG,
    NULL_WORDS,
    SECRET_TAGS,
    STR_TAG,
    TEXT_TAGS,
    YAML,
    LocatedData,
    Mark,
    Position,
    position,
)

try:  # libyaml finds events several times faster; composing them stays ours.
    from yaml._yaml import CParser

    HAVE_LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    HAVE_LIBYAML = False


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
            if value in NULL_WORDS:
                return NULL_TAG
            if value not in ("<<", "="):
                return STR_TAG
        return cast(str, super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]

    # Building: plain data straight from the parser's events, no node graph.

    def located(
        self, *, positions: bool = True, max_nodes: int = MAX_EXPANDED_NODES
    ) -> LocatedData | None:
        """The single document of the stream, or None when it holds none.

        Without `positions` nothing is recorded but the data: loading a valid file needs
        no positions, and a failed one is read again with them to place its error.
        """
        return DocumentBuilder(self, positions, max_nodes).document()

    def scalar_value(self, tag: str, value: str, mark: Mark) -> str | dict[str, str] | None:
        if tag == NULL_TAG:
            return None
        if tag in TEXT_TAGS:
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
        shown = "!!" + tag.removeprefix(YAML) if tag.startswith(YAML) else tag
        known = " ".join(MAPPING_TAGS)
        by_case = {known_tag.casefold(): known_tag for known_tag in MAPPING_TAGS}
        meant = by_case.get(tag.casefold())
        hint = f"; did you mean '{meant}'?" if meant else ""
        return self.fail(f"unknown tag '{shown}'{hint} (ame.yaml uses only {known})", mark)


def read_located(
    text: str,
    filename: str = "ame.yaml",
    use_libyaml: bool = True,
    *,
    positions: bool = True,
    max_nodes: int = MAX_EXPANDED_NODES,
) -> LocatedData | None:
    """The document in ``text`` (with positions unless told not to); None when it holds no
    document.

    Raises SpecError for what the loader refuses and ``yaml.YAMLError`` for bad syntax.
    """
    loader = AmeLoader(text, filename, use_libyaml)
    try:
        return loader.located(positions=positions, max_nodes=max_nodes)
    finally:
        loader.dispose()
