"""Engines by name: the one table the daemon picks where tasks run from.

A new engine is a module with a class that satisfies amed.engine.base.Engine, and one line
here. Each engine is made once per daemon: it keeps the runs it started, so that they can
be attached to again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from amed.engine.base import Engine
from amed.engine.local import LocalEngine
from amed.engine.ray import RayEngine

ENGINES: Mapping[str, Callable[[], Engine]] = {
    "local": LocalEngine,
    "ray": RayEngine,
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
            engine = _made[name] = make()
        return engine
