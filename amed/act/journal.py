"""The state store as the daemon's threads share it.

The pass thread, the run workers and the alert worker all append outcomes, and the loop
reads projections and writes its heartbeat, through one SQLite connection. `Journal.lock`
guards the StateStore: one thread uses the connection at a time, so each append is one
writer's transaction and no read sees half of one.

Lock order: a caller may hold `Runs._lock` (amed.act.runs) when it takes `Journal.lock`,
never the other way round; nothing here calls out while holding it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from state.db import StateStore
from state.events import Event, RunStarted, TaskStarted
from state.heartbeat import DaemonRow
from state.observed import Observed
from state.rows import AlertRow, ChannelRow


class Journal:
    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.lock = threading.Lock()

    def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        with self.lock:
            self.state.append(events)

    def runs_started(self, run_ids: frozenset[str]) -> list[RunStarted | TaskStarted]:
        """The first events (`run_started`, `task_started`) of these runs, read from the
        whole log: only at a restart, for the runs an earlier daemon left
        (amed.act.reattach)."""
        with self.lock:
            return [
                event
                for _, event in self.state.events()
                if isinstance(event, RunStarted | TaskStarted) and event.run_id in run_ids
            ]

    def observed(self) -> Observed:
        with self.lock:
            return self.state.observed()

    def alert(self, key: str) -> AlertRow | None:
        with self.lock:
            return self.state.alert(key)

    def channel(self, name: str) -> ChannelRow | None:
        with self.lock:
            return self.state.channel(name)

    def write_heartbeat(self, row: DaemonRow) -> None:
        with self.lock:
            self.state.write_heartbeat(row)
