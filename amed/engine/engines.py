"""Engines by name: the one table the daemon picks where tasks run from.

A new engine is a module with a class that satisfies amed.engine.base.Engine, and one line
here. Each engine is made once per daemon: it keeps the runs it started, so that they can
be attached to again. An engine's module is imported when the engine is first made, so a
daemon pays (in start-up and resident memory) only for the engine it uses.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import cast

from amed.engine.base import Engine

ENGINES: Mapping[str, str] = {
    "local": "amed.engine.local:LocalEngine",
    "ray": "amed.engine.ray:RayEngine",
}

DEFAULT_ENGINE = "local"

_lock = threading.Lock()
_made: dict[str, Engine] = {}


class UnknownEngine(ValueError):
    """No engine has that name; the message lists those that do."""


def engine_named(name: str) -> Engine:
    """The engine `name` of this daemon, made on first use."""
    with _lock:
        engine = _made.get(name)
        if engine is None:
            make = ENGINES.get(name)
            if make is None:
                known = ", ".join(sorted(ENGINES))
                raise UnknownEngine(f"unknown engine {name!r} (one of {known})")
            module, _, attribute = make.partition(":")
            made = getattr(importlib.import_module(module), attribute)()
            engine = _made[name] = cast(Engine, made)
        return engine
