"""The header's line about the daemon: what `ame status` knows, from the same reads.

The heartbeat row (`StateReader.daemon`), the alert channels (`StateReader.channels`) and
the status counts say whether amed is alive, how its last pass went, whether ame.yaml is
valid and whether every channel takes alerts. It is one line on every page, updated live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from amed.web.html import esc
from amed.web.listing import age
from state.heartbeat import DaemonRow
from state.read import StateReader
from state.rows import ChannelRow

UNHEALTHY_STATUSES = ("failed", "blocked")


@dataclass(frozen=True)
class Health:
    daemon: DaemonRow | None
    channels: Sequence[ChannelRow]
    counts: dict[str, int]
    projects: Sequence[str]

    @classmethod
    def read(cls, reader: StateReader) -> Health:
        return cls(reader.daemon(), reader.channels(), reader.status_counts(), reader.projects())

    def problems(self, now: datetime) -> list[str]:
        """Why amed is not healthy, one short phrase each; empty when it is."""
        row = self.daemon
        found: list[str] = []
        if row is None:
            found.append("no amed has run with this state")
        elif row.state == "stopped":
            found.append("amed is not running")
        elif not row.alive_at(now):
            found.append(f"no heartbeat for {(now - row.beat_at).total_seconds():.0f} s")
        if row is not None and row.pass_ok is False:
            found.append("the last pass failed")
        if row is not None and row.spec_valid is False:
            found.append("ame.yaml is invalid")
        for status in UNHEALTHY_STATUSES:
            if self.counts.get(status):
                found.append(f"{self.counts[status]} {status}")
        found.extend(f"channel {c.channel} refuses alerts" for c in self.channels if not c.healthy)
        return found


def _flag(ok: bool, text: str) -> str:
    return f'<b class="{"ok" if ok else "bad"}">{esc(text)}</b>'


def health_line(health: Health, now: datetime) -> str:
    """Host, project, heartbeat age, last pass, spec validity, channels, and the verdict."""
    row = health.daemon
    problems = health.problems(now)
    verdict = _flag(not problems, "healthy" if not problems else "unhealthy")
    items = [f"<span>{verdict}" + (f": {esc('; '.join(problems))}" if problems else "") + "</span>"]
    if row is not None:
        alive = row.alive_at(now)
        items.append(
            f"<span>host {esc(row.host)} · pid {esc(row.pid)} · "
            f"{_flag(alive, 'alive' if alive else row.state)} · "
            f"heartbeat {esc(age(row.beat_at, now))}</span>"
        )
    if health.projects:
        items.append(f"<span>project {esc(', '.join(health.projects))}</span>")
    if row is not None and row.pass_at is not None:
        outcome = _flag(bool(row.pass_ok), "ok" if row.pass_ok else "failed")
        took = f" in {row.pass_seconds:.1f} s" if row.pass_seconds is not None else ""
        error = f": {esc(row.pass_error)}" if row.pass_error else ""
        items.append(f"<span>last pass {esc(age(row.pass_at, now))}{took}, {outcome}{error}</span>")
    if row is not None:
        validity = {True: _flag(True, "valid"), False: _flag(False, "invalid"), None: "not loaded"}
        error = f": {esc(row.spec_error)}" if row.spec_error else ""
        items.append(
            f'<span title="{esc(row.spec_path)}">ame.yaml {validity[row.spec_valid]}{error}</span>'
        )
    if health.channels:
        shown = ", ".join(
            f"{esc(c.channel)} {_flag(c.healthy, 'ok' if c.healthy else 'failing')}"
            for c in health.channels
        )
        items.append(f"<span>alerts: {shown}</span>")
    else:
        items.append("<span>alerts: logged only (no channel)</span>")
    return "".join(items)
