"""Logging: short snake_case event names with fields, to stderr.

Readable key=value lines on a terminal, JSON lines otherwise (systemd's journal). stdout is
left to command output.

structlog is imported only here. When rich is installed, structlog imports it at once
for a traceback formatter amed never uses (`configure` picks plain tracebacks), which
costs every process ~4 MB and ~60 ms; it is hidden from that one import. structlog has no
setting for this (its `dev` and `tracebacks` modules try `import rich` when loaded), so
tests/test_logs.py pins the trick to that: it fails when structlog stops importing rich
eagerly, and when the trick stops keeping rich out.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def _import_structlog() -> Any:
    hidden = "rich" not in sys.modules
    if hidden:
        sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` fails
    try:
        import structlog
    finally:
        if hidden:
            del sys.modules["rich"]  # later imports of rich (ame's tables) work as usual
    return structlog


structlog = _import_structlog()


def configure(*, json_lines: bool | None = None, level: int = logging.INFO) -> None:
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    renderer: Any
    if json_lines:
        renderer = structlog.processors.JSONRenderer()
    else:
        # Plain tracebacks: the rich formatter prints every frame's locals, which can hold
        # settings with alert URLs, store credentials or a task's secrets.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json_lines:
        processors.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log secrets at DEBUG (apprise prints URLs with tokens) stay at INFO.
    logging.getLogger("apprise").setLevel(logging.INFO)


def get(**context: Any) -> Any:
    """A structlog logger bound to `context`."""
    return structlog.get_logger("amed").bind(**context)


def named(name: str) -> Any:
    """A module's structlog logger, e.g. ``log = logs.named(__name__)``."""
    return structlog.get_logger(name)
