"""One spelling of time everywhere: ISO 8601, UTC, millisecond precision, a trailing Z."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: amed keeps every time in UTC")
    # isoformat truncates to milliseconds as strftime's %f[:-3] did, at a third of the cost.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)  # reads the trailing Z as UTC since Python 3.11
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
