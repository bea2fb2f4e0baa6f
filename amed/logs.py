"""Logging: short snake_case event names with fields, to stderr.

Readable key=value lines on a terminal, JSON lines otherwise (systemd's journal). stdout is
left to command output.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


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


def get(**context: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger("amed").bind(**context)  # type: ignore[no-any-return]
