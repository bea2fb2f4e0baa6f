"""The daemon's signs of life: its heartbeat row in the state DB and its STATUS= line.

`ame status` reads the row to say whether amed is alive and healthy; systemd shows the
status line. Both are written from the daemon's loop, so they stop when the loop stops.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from amed import logs
from amed.act.reconciler import Reconciler
from amed.daemon.notify import Notifier
from amed.daemon.spec_file import SpecFile
from amed.errors import StoreError
from spec import format_bytes
from state.heartbeat import DaemonRow, DaemonState
from state.observed import Observed
from state.rows import STATUSES

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0
"""A heartbeat older than this means the daemon is gone or its loop is stuck."""


@dataclass
class PassOutcome:
    at: datetime
    seconds: float
    ok: bool
    error: str | None = None


class Heartbeat:
    """The daemon's row in the state DB and its STATUS= line for systemd."""

    def __init__(self, reconciler: Reconciler, spec: SpecFile, notifier: Notifier) -> None:
        self.reconciler = reconciler
        self.spec = spec
        self.notifier = notifier
        self.started_at = utc_now()
        self.state: DaemonState = "running"
        self.last_pass: PassOutcome | None = None
        self._next_beat = 0.0

    def status_line(self) -> str:
        observed = self.reconciler.observed()
        _used, free, _capacity = self._storage(observed)
        text = counts_text(observed)
        if free is not None:
            text += f", {format_bytes(free)} free"
        if self.spec.last_error is not None:
            lead = "keeping the last good ame.yaml" if self.spec.project else "no valid ame.yaml"
            text = f"{lead}: {self.spec.last_error}; {text}"
        return text

    def beat(self, *, force: bool = False) -> None:
        """Write the row (and STATUS=) when one is due, or now when `force`."""
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + HEARTBEAT_SECONDS
        try:
            observed = self.reconciler.observed()
            used, free, capacity = self._storage(observed)
            passed = self.last_pass
            row = DaemonRow(
                pid=os.getpid(),
                host=socket.gethostname(),
                state=self.state,
                started_at=self.started_at,
                beat_at=utc_now(),
                stale_after_seconds=STALE_AFTER_SECONDS,
                store_url=self.reconciler.store.url,
                spec_path=str(self.spec.path),
                pass_at=passed.at if passed else None,
                pass_seconds=round(passed.seconds, 3) if passed else None,
                pass_ok=passed.ok if passed else None,
                pass_error=passed.error if passed else None,
                spec_valid=self.spec.valid if self.spec.attempted else None,
                spec_error=self.spec.last_error,
                used_bytes=used,
                free_bytes=free,
                capacity_bytes=capacity,
            )
            self.reconciler.write_heartbeat(row)
        except (sqlite3.Error, OSError) as exc:  # a missed beat is logged, never fatal
            logs.get().warning("heartbeat_failed", error=one_line(exc))
            return
        if self.state == "running" and self.notifier.address is not None:
            self.notifier.status(self.status_line())  # counted only for a service manager

    def _storage(self, observed: Observed) -> tuple[int, int | None, int | None]:
        """(bytes held, bytes free, capacity): free = capacity − held, never more than the
        disk under a file:// store has; None when neither is known."""
        used = observed.held_bytes()
        capacity = self.reconciler.settings.capacity_bytes
        free = max(capacity - used, 0) if capacity is not None else None
        try:
            disk_free = self.reconciler.store.free_bytes()
        except StoreError:
            disk_free = None
        if disk_free is not None:
            free = disk_free if free is None else min(free, disk_free)
        return used, free, capacity


def counts_text(observed: Observed) -> str:
    counts: Counter[str] = Counter(
        row.status for row in observed.datasets.values() if row.status != "removed"
    )
    parts = [f"{counts[status]} {status}" for status in STATUSES if counts.get(status)]
    return ", ".join(parts) if parts else "no data sets"


def utc_now() -> datetime:
    return datetime.now(UTC)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
