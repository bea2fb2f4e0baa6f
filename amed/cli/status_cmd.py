"""`ame status`: is the daemon alive and healthy, from its heartbeat row in the state DB.

Exit 0 when the daemon is alive and healthy; 1 otherwise: not running (never ran here,
stopped, or no heartbeat for longer than it promised), its last pass failed, ame.yaml is
invalid (it keeps acting on the last good one), or a data set is failed or blocked.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from amed.cli.exits import EXIT_FAILED, EXIT_OK
from amed.cli.options import ame_state_option, state_dir_for
from spec import format_bytes
from state.heartbeat import DaemonRow
from state.read import StateReader
from state.rows import STATUSES, ChannelRow
from state.timefmt import format_time

UNHEALTHY_STATUSES = ("failed", "blocked")


@click.command("status")
@ame_state_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(config_file: Path | None, state_dir: Path | None, as_json: bool) -> int:
    """Whether amed is alive and healthy; exit 0 if so, 1 if not."""
    # No database is a report of its own (no amed has run there), not an error.
    found = state_dir_for(config_file, state_dir, must_exist=False)
    reader = StateReader.in_dir(found)
    try:
        row = reader.daemon()
        counts = _counts(reader)
        channels = reader.channels()
    finally:
        reader.close()
    report = status_report(row, counts, now=datetime.now(UTC), state_dir=found, channels=channels)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for line in _lines(report):
            click.echo(line)
    return EXIT_OK if report["healthy"] else EXIT_FAILED


def status_report(
    row: DaemonRow | None,
    counts: dict[str, int],
    *,
    now: datetime,
    state_dir: Path,
    channels: Sequence[ChannelRow] = (),
) -> dict[str, Any]:
    """The `--json` document; `problems` lists why it is not healthy, one line each.
    `counts` has every status of the vocabulary, 0 when none, as `/metrics` does: a script
    or a graph reads `counts["failed"]` without guarding for a missing key.
    `channels`: each alert channel's last delivery and last refusal, with its reason."""
    alive = row is not None and row.alive_at(now)
    problems: list[str] = []
    if row is None:
        problems.append(f"no amed has run with the state directory {state_dir}")
    elif row.state == "stopped":
        problems.append(f"amed is not running (it stopped at {format_time(row.beat_at)})")
    elif not alive:
        ago = (now - row.beat_at).total_seconds()
        problems.append(f"no heartbeat for {ago:.0f} s (pid {row.pid} on {row.host})")
    if row is not None and row.pass_ok is False:
        problems.append(f"the last pass failed: {row.pass_error}")
    if row is not None and row.spec_valid is False:
        problems.append(f"ame.yaml is invalid: {row.spec_error}")
    for name in UNHEALTHY_STATUSES:
        if counts.get(name):
            problems.append(f"{counts[name]} data set{'s' if counts[name] > 1 else ''} {name}")
    return {
        "alive": alive,
        "healthy": alive and not problems,
        "problems": problems,
        "daemon": None
        if row is None
        else {
            "pid": row.pid,
            "host": row.host,
            "state": row.state,
            "started_at": format_time(row.started_at),
            "heartbeat_at": format_time(row.beat_at),
            "heartbeat_age_seconds": round((now - row.beat_at).total_seconds(), 1),
        },
        "last_pass": None
        if row is None or row.pass_at is None
        else {
            "at": format_time(row.pass_at),
            "seconds": row.pass_seconds,
            "outcome": "ok" if row.pass_ok else "failed",
            "error": row.pass_error,
        },
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "storage": None
        if row is None
        else {
            "url": row.store_url,
            "used_bytes": row.used_bytes,
            "free_bytes": row.free_bytes,
            "capacity_bytes": row.capacity_bytes,
        },
        "spec": None
        if row is None
        else {"path": row.spec_path, "valid": row.spec_valid, "error": row.spec_error},
        "channels": [
            {
                "channel": c.channel,
                "healthy": c.healthy,
                "last_ok_at": _time(c.last_ok_at),
                "last_failed_at": _time(c.last_failed_at),
                "last_error": c.last_error,
            }
            for c in channels
        ],
    }


def _lines(report: dict[str, Any]) -> list[str]:
    daemon, last, storage, spec = (
        report["daemon"],
        report["last_pass"],
        report["storage"],
        report["spec"],
    )
    lines: list[str] = []
    if daemon is None:
        lines.append("daemon:     never ran here")
    else:
        state = "alive" if report["alive"] else "NOT RUNNING"
        lines.append(
            f"daemon:     {state} (pid {daemon['pid']} on {daemon['host']}, since "
            f"{daemon['started_at']}, heartbeat {daemon['heartbeat_age_seconds']:g} s ago)"
        )
    if last is not None:
        outcome = "ok" if last["outcome"] == "ok" else f"FAILED: {last['error']}"
        lines.append(f"last pass:  {last['at']} ({last['seconds']:g} s), {outcome}")
    shown = [f"{n} {s}" for s, n in report["counts"].items() if n and s != "removed"]
    lines.append("data sets:  " + (", ".join(shown) or "none recorded"))
    if storage is not None:
        parts = [f"{_size(storage['used_bytes'])} used"]
        if storage["free_bytes"] is not None:
            parts.append(f"{_size(storage['free_bytes'])} free")
        if storage["capacity_bytes"] is not None:
            parts.append(f"capacity {_size(storage['capacity_bytes'])}")
        lines.append(f"storage:    {', '.join(parts)} in {storage['url']}")
    if spec is not None:
        validity = {True: "valid", False: f"INVALID: {spec['error']}", None: "not loaded yet"}
        lines.append(f"spec:       {spec['path']}: {validity[spec['valid']]}")
    for channel in report["channels"]:
        sent = f"last sent {channel['last_ok_at'] or 'never'}"
        refused = (
            f"last refused {channel['last_failed_at']}: {channel['last_error']}"
            if channel["last_failed_at"]
            else "never refused"
        )
        lines.append(f"alerts:     {channel['channel']}: {sent}; {refused}")
    health = "healthy" if report["healthy"] else "UNHEALTHY: " + "; ".join(report["problems"])
    lines.append(f"health:     {health}")
    return lines


def _counts(reader: StateReader) -> dict[str, int]:
    """Data sets in each status, removed ones included: `counts` lists `removed` too, and a
    0 there must mean none (`StateReader.status_counts` leaves them out)."""
    try:
        rows = reader.datasets(include_removed=True)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}  # the daemon has created the file but not its tables yet
        raise
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _size(size_bytes: int | None) -> str:
    return "?" if size_bytes is None else format_bytes(size_bytes)
