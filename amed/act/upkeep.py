"""How long the run directories (`<state dir>/runs/<run id>/`, each run's output.log) are kept.

A daemon that runs for months would otherwise keep every log it ever wrote. At each hourly
sweep, a run directory untouched for `RUN_LOG_KEEP_DAYS` is deleted, unless its run is live or
is the current or last run of a data set or task (what `ame task logs` shows).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path

RUN_LOG_KEEP_DAYS = 30
RUN_LOG_KEEP_SECONDS = RUN_LOG_KEEP_DAYS * 24 * 3600.0


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
