"""The words a message is made of: counts, durations and moments, relative to now.

Pure, so that a message written at send time says "failed 9 times" and "in 5 min" as they
are then, and a test can pin the wording with a fixed clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

TITLE_PREFIX = "amed: "
"""How the planner's titles start; a message replaces it with `amed@<host>: `."""


def plain_title(title: str) -> str:
    return title.removeprefix(TITLE_PREFIX)


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"


def duration(seconds: float) -> str:
    """`45 s`, `5 min`, `2 h 10 min`, `3 days 4 h`: the two largest units, rounded down."""
    whole = int(max(seconds, 0.0))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        rest = minutes - hours * 60
        return f"{hours} h" + (f" {rest} min" if rest else "")
    rest = hours - days * 24
    return plural(days, "day") + (f" {rest} h" if rest else "")


def ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 1 else f"{duration(seconds)} ago"


def ahead(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    return "in a moment" if seconds < 1 else f"in {duration(seconds)}"


def when(moment: datetime, now: datetime) -> str:
    """`at 14:02 UTC` today, `on 2026-03-01 at 14:02 UTC` another day; seconds within ten
    minutes of now, where they tell one attempt from the next."""
    moment_clock = clock(moment, now)
    return f"on {moment_clock}" if " at " in moment_clock else f"at {moment_clock}"


def clock(moment: datetime, now: datetime) -> str:
    """`14:02 UTC` today, `2026-03-01 at 14:02 UTC` another day (`when` without its `at`)."""
    moment, now = moment.astimezone(UTC), now.astimezone(UTC)
    shown = moment.strftime("%H:%M:%S" if abs((now - moment).total_seconds()) < 600 else "%H:%M")
    if moment.date() == now.date():
        return f"{shown} UTC"
    return f"{moment.date().isoformat()} at {shown} UTC"
