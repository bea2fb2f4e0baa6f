"""Why a channel refused a notification, in apprise's own words.

apprise returns only False and logs the cause (the SMTP error, the HTTP status) at WARNING
and the exception at DEBUG. Its logger is opened to DEBUG for the one call, into an
in-memory handler only (not propagated, so no other handler sees its debug lines, which
hold URLs), and the cause is kept; the caller scrubs it of the URL's secrets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager


class Captured(logging.Handler):
    """apprise's log records of one notify call, kept in memory."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.exception = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def reason(self) -> str:
        """What went wrong, in apprise's words: its last warning (what it tried), then the
        exception or the response it got, which it logs at DEBUG. Whole: it is cut to
        length only once scrubbed, or a token at the cut would keep its first characters."""
        said = [_one_line(r) for r in self.records if r.levelno >= logging.WARNING]
        detail = [
            _one_line(r).split(":", 1)[1].strip()
            for r in self.records
            if r.levelno < logging.WARNING and _DETAIL.search(r.getMessage())
        ]
        detail = [d for d in detail if d and d not in ("b''", "''")]
        parts = [said[-1].rstrip(".")] if said else []
        if detail:
            parts.append(_essence(detail[-1]))
        if self.exception:
            parts.append(self.exception)
        return ": ".join(parts)


_DETAIL = re.compile(r"^(Socket Exception|Response Details|\w*Exception):")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _essence(detail: str) -> str:
    """The operating system's words when a library wrapped them in its own (requests:
    `HTTPConnectionPool(...): Max retries exceeded ... [Errno 111] Connection refused`)."""
    found = _OS_ERROR.search(detail)
    return found.group(0).strip() if found else detail


def _one_line(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except (TypeError, ValueError):
        text = str(record.msg)
    return " ".join(text.split())


@contextmanager
def capture() -> Iterator[Captured]:
    """apprise's logger at DEBUG for one call, into `Captured` only: not propagated, so
    no other handler sees its debug lines (they hold URLs with tokens)."""
    apprise_log = logging.getLogger("apprise")
    handler = Captured()
    level, propagate = apprise_log.level, apprise_log.propagate
    others = list(apprise_log.handlers)
    for other in others:
        apprise_log.removeHandler(other)
    apprise_log.addHandler(handler)
    apprise_log.setLevel(logging.DEBUG)
    apprise_log.propagate = False
    try:
        yield handler
    finally:
        apprise_log.removeHandler(handler)
        for other in others:
            apprise_log.addHandler(other)
        apprise_log.setLevel(level)
        apprise_log.propagate = propagate
