"""Keeping the store and the state dir tidy, and knowing whether the store answers.

Debris: anything under `datasets/` that no committed version or live run owns is left
over from a crash and deleted, under the projects this state holds only (a store may be
shared by other projects and other states). Each data set's pointer for readers with only
the store is kept, and made to name the current version again if a crash came between its
`version_stored` event and the pointer's write.

Run directories (`<state dir>/runs/<run id>/`, each run's output.log): a daemon that runs
for months would otherwise keep every log it ever wrote. At each sweep, a run directory
untouched for `RUN_LOG_KEEP_DAYS` is deleted, unless its run is live or is the current or
last run of a data set or task (what `ame task logs` shows).

Store health: whether the store answered the last time it was asked, for the
`store_unreachable` alert. The pass thread and the run workers both report it, so
`StoreHealth._lock` guards `_error`.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Collection
from pathlib import Path

from amed import logs
from amed.errors import ProjectClaimed, StoreError, StoreUnavailable
from amed.store.objects import ObjectStore
from state.observed import Observed

RUN_LOG_KEEP_DAYS = 30
RUN_LOG_KEEP_SECONDS = RUN_LOG_KEEP_DAYS * 24 * 3600.0


class StoreHealth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._error: str | None = None

    @property
    def error(self) -> str | None:
        """Why the store is unreachable, as first seen; None while it answers."""
        with self._lock:
            return self._error

    def report(self, error: StoreError | None) -> None:
        """How the store answered: None, or the error it raised. Only StoreUnavailable
        means it did not answer; any other StoreError (a refusal, a missing key) is an
        answer. Logged once per change."""
        unreachable = str(error) if isinstance(error, StoreUnavailable) else None
        with self._lock:
            before = self._error
            if unreachable is None:
                self._error = None
            elif before is None:
                self._error = unreachable
        if unreachable is None and before is not None:
            logs.get().info("store_reachable_again")
        elif unreachable is not None and before is None:
            logs.get().warning("store_unreachable", error=unreachable)


def sweep_debris(
    store: ObjectStore, observed: Observed, projects: Collection[str], health: StoreHealth
) -> list[str] | None:
    """Delete the debris under `projects` and return the objects deleted; None when the
    store could not be swept. A project the store says is not ours is skipped."""
    log = logs.get()
    owned = observed.owned_versions()
    current = {v.key for rows in observed.versions.values() for v in rows if v.current}
    removed: list[str] = []
    try:
        for project in sorted(projects):
            try:
                removed += store.sweep_debris(owned, project=project, current=current)
            except ProjectClaimed as exc:  # another state's, or never claimed by us
                log.info("sweep_skipped", project=project, reason=str(exc))
    except StoreError as exc:
        health.report(exc)
        log.warning("sweep_failed", error=str(exc))
        return None
    health.report(None)
    if removed:
        log.info("debris_deleted", objects=len(removed))
    return removed


def prune_run_logs(runs_dir: Path, observed: Observed, live: Collection[str]) -> None:
    """Delete old run directories but those of live runs and of the runs the log names."""
    keep = set(live)
    keep |= {row.run_id for row in observed.datasets.values() if row.run_id}
    for task in observed.tasks.values():
        keep |= {run for run in (task.run_id, task.last_run_id) if run}
    pruned = prune_run_dirs(runs_dir, keep, time.time())
    if pruned:
        logs.get().info("run_logs_deleted", runs=len(pruned), kept_days=RUN_LOG_KEEP_DAYS)


def prune_run_dirs(
    runs_dir: Path,
    keep: Collection[str],
    now_seconds: float,
    keep_seconds: float = RUN_LOG_KEEP_SECONDS,
) -> list[str]:
    """Delete the run directories under `runs_dir` that nothing has written to for
    `keep_seconds` (by the newest mtime of the directory and what it holds directly), except
    those named in `keep`; return the names deleted."""
    try:
        entries = list(os.scandir(runs_dir))
    except FileNotFoundError:
        return []
    removed: list[str] = []
    for entry in entries:
        if entry.name in keep or not entry.is_dir(follow_symlinks=False):
            continue
        if now_seconds - _last_written(entry) < keep_seconds:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.name)
    return sorted(removed)


def _last_written(entry: os.DirEntry[str]) -> float:
    newest = entry.stat(follow_symlinks=False).st_mtime
    try:
        with os.scandir(entry.path) as children:
            for child in children:
                newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    except OSError:
        pass
    return newest
