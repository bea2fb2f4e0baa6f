"""The `local` engine: tasks run as child processes of the daemon (amed.engine.local_run).

Each run gets a thread of its own that waits for its processes. The engine knows the runs
of this daemon only: the processes of a daemon that is gone were not this one's children,
their exit status is lost and their output may be cut short, so they are not adopted but
ended, at start (`end_leftovers`, amed.engine.proctree), and their run ids cannot be
attached to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from amed.engine import proctree
from amed.engine.base import CannotAttach, RunRequest, ThreadedRun
from amed.engine.local_run import run_task


class LocalEngine:
    """Runs each task with `run_task` in a thread of its own."""

    name = "local"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, LocalRun] = {}

    def start(self, request: RunRequest, *, cancel: threading.Event | None = None) -> LocalRun:
        run = LocalRun(request, cancel)
        with self._lock:
            if request.run_id in self._runs:
                raise FileExistsError(f"run {request.run_id} is already running")
            self._runs[request.run_id] = run
        try:
            run.begin(on_end=lambda: self._forget(request.run_id))
        except BaseException:
            self._forget(request.run_id)
            raise
        return run

    def attach(self, run_id: str, *, cancel: threading.Event | None = None) -> LocalRun:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise CannotAttach(
                f"run {run_id} is not running in this daemon: the local engine cannot"
                " re-attach to the processes of an earlier daemon (they are ended at start)"
            )
        return run

    def end_leftovers(self, runs_dir: Path) -> int:
        with self._lock:
            live = frozenset(self._runs)
        return proctree.end_leftovers(runs_dir, live)

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)


class LocalRun(ThreadedRun):
    """One run of the local engine; its result stays with the handle once it is over."""

    def __init__(self, request: RunRequest, cancel: threading.Event | None) -> None:
        super().__init__()
        self._request = request
        self._stop = _Either(threading.Event(), cancel)

    @property
    def run_id(self) -> str:
        return self._request.run_id

    def begin(self, *, on_end: Callable[[], None]) -> None:
        self._start_thread(f"run-{self.run_id}", self._go, on_end)

    def cancel(self) -> None:
        self._stop.own.set()

    def _go(self, on_end: Callable[[], None]) -> None:
        try:
            result = run_task(self._request, cancel=self._stop)
        except BaseException as error:  # noqa: BLE001 - raised again in whoever waits
            self._result.set_exception(error)
        else:
            self._result.set_result(result)
        finally:
            on_end()


class _Either:
    """Set when the run's own event or its starter's (the daemon's stop) is."""

    def __init__(self, own: threading.Event, outer: threading.Event | None) -> None:
        self.own = own
        self.outer = outer

    def is_set(self) -> bool:
        return self.own.is_set() or (self.outer is not None and self.outer.is_set())
