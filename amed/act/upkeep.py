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

Pointers: reading each data set's pointer is a request per data set, most of a sweep that
finds nothing to do. A `TidyLedger` in the state dir remembers how far the log stood when
the pointers were last tidied, so a sweep reads only those of data sets the log changed
since (see the class for when every pointer is read again), and does not list the store
at all when the log changed none (`sweep_debris`).

Store health: whether the store answered the last time it was asked, for the
`store_unreachable` alert. The pass thread and the run workers both report it, so
`StoreHealth._lock` guards `_error`.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import weakref
from collections.abc import Collection
from pathlib import Path

from amed import logs
from amed.errors import ProjectClaimed, StoreError, StoreUnavailable
from amed.store.objects import ObjectStore
from state.observed import Observed
from state.read import changes_after

RUN_LOG_KEEP_DAYS = 30
RUN_LOG_KEEP_SECONDS = RUN_LOG_KEEP_DAYS * 24 * 3600.0
TIDY_LEDGER_NAME = "pointers-tidied.json"
FULL_TIDY_SECONDS = 24 * 3600.0
"""How often a sweep reads every pointer even when the ledger says it need not."""

Pair = tuple[str, str]


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


class TidyLedger:
    """How far the log stood when this state last tidied its pointers in the store.

    A pointer changes only with its data set's log: it is written after `version_stored`
    and rewritten before a version is deleted. So once a sweep has tidied the pointers, they
    stay as it left them except those of data sets that events after its start are about,
    and the next sweep reads only those. A crash breaks that (a pointer written without its
    event, or an event without its pointer): a start that follows an unclean stop calls
    `forget`, and the next sweep reads every pointer. So does a sweep when the record is
    missing or unreadable (removing the file asks for one), names another store or fewer
    projects, or is older than `FULL_TIDY_SECONDS`, for what a failed request left.
    """

    def __init__(self, state_dir: Path, store_url: str) -> None:
        self.path = state_dir / TIDY_LEDGER_NAME
        self.state_dir = state_dir
        self.store_url = store_url
        self._on_disk: dict[str, object] | None = None  # as last read or written here

    def forget(self) -> None:
        self._on_disk = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            logs.get().warning("tidy_ledger_not_removed", path=str(self.path), error=str(exc))

    def plan(self, projects: Collection[str]) -> tuple[int, set[Pair] | None, float]:
        """(the log's last event id now, the pairs whose pointers to read or None for all,
        when the last sweep that read all of them was, in seconds since the epoch)."""
        now = time.time()
        record = self._read()
        if record is None:
            return changes_after(self.state_dir, None)[0], None, now
        event_id, full_at, tidied = record
        if not 0 <= now - full_at < FULL_TIDY_SECONDS or not set(projects) <= tidied:
            return changes_after(self.state_dir, None)[0], None, now
        mark, changed = changes_after(self.state_dir, event_id)
        return (mark, changed, full_at) if changed is not None else (mark, None, now)

    def record(self, mark: int, full_at: float, projects: Collection[str]) -> None:
        """Every pointer of `projects` is tidy as of event `mark`. Written whole, then
        renamed over the old record; a record that cannot be written leaves the old one,
        which asks for more reads, never fewer."""
        stamp = {
            "store": self.store_url,
            "event_id": int(mark),
            "full_at": full_at,
            "projects": sorted(projects),
        }
        if stamp == self._on_disk:
            return  # a sweep with nothing new to record, as most are
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            with os.fdopen(handle, "w") as out:
                out.write(json.dumps(stamp) + "\n")
            partial.replace(self.path)
            self._on_disk = stamp
        except OSError as exc:
            logs.get().warning("tidy_ledger_not_written", path=str(self.path), error=str(exc))

    def _read(self) -> tuple[int, float, set[str]] | None:
        self._on_disk = None
        try:
            stamp = json.loads(self.path.read_bytes())
            if stamp["store"] != self.store_url:
                return None
            event_id, full_at = stamp["event_id"], stamp["full_at"]
            projects = stamp["projects"]
            if not isinstance(event_id, int) or not isinstance(full_at, int | float):
                return None
            if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
                return None
            self._on_disk = stamp
            return event_id, float(full_at), set(projects)
        except (OSError, ValueError, KeyError, TypeError):
            return None


_LEDGERS: weakref.WeakKeyDictionary[ObjectStore, TidyLedger] = weakref.WeakKeyDictionary()


def keep_ledger(store: ObjectStore, ledger: TidyLedger) -> None:
    """Have every later sweep of `store` read only the pointers `ledger` says may be wrong,
    and record what it tidied there. A store without one has every pointer read."""
    _LEDGERS[store] = ledger


def sweep_debris(
    store: ObjectStore, observed: Observed, projects: Collection[str], health: StoreHealth
) -> list[str] | None:
    """Delete the debris under `projects` and return the objects deleted; None when the
    store could not be swept. A project the store says is not ours is skipped.

    With a ledger that vouches for the store as the last sweep left it, and no event about
    a data set of `projects` since, the store is not even listed: debris comes from a
    crash (after which the ledger is forgotten) or from a failed run or deletion, which
    the log records; what a failure that left no event behind (a deletion refused half
    way) leaves waits for the day's full sweep."""
    log = logs.get()
    ledger = _LEDGERS.get(store)
    mark, tidy, full_at = ledger.plan(projects) if ledger is not None else (0, None, 0.0)
    if ledger is not None and tidy is not None and not any(p in projects for p, _ in tidy):
        ledger.record(mark, full_at, projects)  # tidy as of now: the next sweep reads from here
        return []
    owned = observed.owned_versions()
    current = {v.key for rows in observed.versions.values() for v in rows if v.current}
    removed: list[str] = []
    skipped = False
    try:
        for project in sorted(projects):
            try:
                removed += store.sweep_debris(owned, project=project, current=current, tidy=tidy)
            except ProjectClaimed as exc:  # another state's, or never claimed by us
                log.info("sweep_skipped", project=project, reason=str(exc))
                skipped = True
    except StoreError as exc:
        health.report(exc)
        log.warning("sweep_failed", error=str(exc))
        return None
    health.report(None)
    if ledger is not None and not skipped:
        ledger.record(mark, full_at, projects)
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
