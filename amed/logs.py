"""Logging: short snake_case event names with fields, to stderr.

Readable key=value lines on a terminal, JSON lines otherwise (systemd's journal). stdout is
left to command output. Colours only on a terminal, and never when `NO_COLOR` is set
(no-color.org).

When stderr is the journal's stream (systemd sets `JOURNAL_STREAM` to its device and inode),
each line starts with its syslog priority (`<3>` error, `<4>` warning, `<6>` info, `<7>`
debug): journald takes the level from it and strips it, so `journalctl -p warning` filters.
The stream is compared, not only the variable's presence: a process started from a unit's
shell with its stderr on a terminal or a file inherits the variable, and must not prefix.

structlog is imported only here. When rich is installed, structlog imports it at once
for a traceback formatter amed never uses (`configure` picks plain tracebacks), which
costs every process ~4 MB and ~60 ms; it is hidden from that one import. structlog has no
setting for this (its `dev` and `tracebacks` modules try `import rich` when loaded), so
tests/test_logs.py pins the trick to that: it fails when structlog stops importing rich
eagerly, and when the trick stops keeping rich out.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO


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


SYSLOG_PRIORITY = {
    "critical": 2,
    "exception": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "info": 6,
    "msg": 6,
    "debug": 7,
}
"""Log method name to syslog priority (sd-daemon(3)'s SD_ERR, SD_WARNING, SD_INFO, …)."""


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
            colors=sys.stderr.isatty() and not os.environ.get("NO_COLOR"),
            exception_formatter=structlog.dev.plain_traceback,
        )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json_lines:
        processors.append(structlog.processors.format_exc_info)
    rendering = [renderer, _prefix_priority] if is_journal(sys.stderr) else [renderer]
    structlog.configure(
        processors=[*processors, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log secrets at DEBUG (apprise prints URLs with tokens) stay at INFO.
    logging.getLogger("apprise").setLevel(logging.INFO)


def is_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal's own stream (`JOURNAL_STREAM` is `device:inode`)."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        stat = os.fstat(stream.fileno())
        return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
    except (ValueError, OSError, AttributeError):  # unset, malformed, or no file behind it
        return False


def _prefix_priority(logger: Any, method_name: str, rendered: str) -> str:
    """Every line of a rendered entry (a console traceback spans several) gets the prefix."""
    prefix = f"<{SYSLOG_PRIORITY.get(method_name, 6)}>"
    return "\n".join(prefix + line for line in rendered.split("\n"))


def get(**context: Any) -> Any:
    """A structlog logger bound to `context`."""
    return structlog.get_logger("amed").bind(**context)


def named(name: str) -> Any:
    """A module's structlog logger, e.g. ``log = logs.named(__name__)``."""
    return structlog.get_logger(name)
