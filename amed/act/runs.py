"""The worker pool and the runs it holds.

A producing or consuming task runs in a worker thread. The planner must know which runs
are live in this daemon: a run the log calls live that no worker holds is marked lost.

`Runs._lock` guards `_live` (run id → its future). A run's first event (`run_started`,
`task_started`) is appended under it, before the worker is submitted: the worker's own
events can never precede it in the log. Runs start only on the pass thread, the one that
also plans, so a pass never sees its own run in the log before it is live.

A worker reads nothing the pass thread writes: what it needs (the action and a `RunSetup`:
the settings of the moment, the paths to leave out of the working copy) is handed to it by
value at start, so a reload (SIGHUP) or a changed ame.yaml never shows it half of each.
Every worker sets `changed` when it ends, so the loop takes a pass at once. `cancel` ends
every running task (stopping).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from amed.act.journal import Journal
from amed.config import Settings
from state.events import Event


@dataclass(frozen=True)
class RunSetup:
    """What a run is handed at start. `exclude`: the data sets' own paths, left out of every
    working copy."""

    settings: Settings
    exclude: tuple[str, ...]


class Runs:
    def __init__(self, max_parallel: int, journal: Journal, changed: threading.Event) -> None:
        self.changed = changed
        self.cancel = threading.Event()
        self._journal = journal
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="produce")
        self._lock = threading.Lock()
        self._live: dict[str, Future[None]] = {}

    def start(self, run_id: str, first: Event, work: Callable[[], None]) -> None:
        """Record the run's first event, then run `work` in a worker."""
        with self._lock:
            self._journal.append([first])
            self._live[run_id] = self._pool.submit(self._run, work)

    def adopt(self, run_id: str, work: Callable[[], None]) -> None:
        """Run `work` for a run whose first event an earlier daemon recorded."""
        with self._lock:
            self._live[run_id] = self._pool.submit(self._run, work)

    def live(self) -> frozenset[str]:
        with self._lock:
            for run_id in [r for r, f in self._live.items() if f.done()]:
                del self._live[run_id]
            return frozenset(self._live)

    def shutdown(self, *, cancel: bool) -> None:
        """Wait for every worker; with `cancel`, end their tasks first."""
        if cancel:
            self.cancel.set()
        self._pool.shutdown(wait=True)

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self.changed.set()
