"""Run directories are kept for RUN_LOG_KEEP_DAYS, then deleted at the sweep, except the
current or last run of a data set or task and any live run."""

from __future__ import annotations

import os
import time
from pathlib import Path

from amed.act.upkeep import RUN_LOG_KEEP_SECONDS, prune_run_dirs
from tests.conftest import Workspace
from tests.service.daemon import HELLO_SPEC, once_log

DAY_SECONDS = 24 * 3600.0


def make_run(
    runs: Path, name: str, age_seconds: float, log_age_seconds: float | None = None
) -> Path:
    run = runs / name
    run.mkdir(parents=True)
    log = run / "output.log"
    log.write_text("output\n")
    now = time.time()
    log_at = now - (age_seconds if log_age_seconds is None else log_age_seconds)
    os.utime(log, (log_at, log_at))
    os.utime(run, (now - age_seconds, now - age_seconds))
    return run


def test_old_run_directories_go_and_recent_or_kept_ones_stay(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    old = RUN_LOG_KEEP_SECONDS + DAY_SECONDS
    make_run(runs, "old", old)
    make_run(runs, "recent", DAY_SECONDS)
    make_run(runs, "old-but-kept", old)
    make_run(runs, "old-dir-fresh-log", old, log_age_seconds=60)
    (runs / "not-a-dir").write_text("x")
    removed = prune_run_dirs(runs, keep={"old-but-kept"}, now_seconds=time.time())
    assert removed == ["old"]
    assert sorted(p.name for p in runs.iterdir()) == [
        "not-a-dir",
        "old-but-kept",
        "old-dir-fresh-log",
        "recent",
    ]


def test_no_runs_directory_is_nothing_to_prune(tmp_path: Path) -> None:
    assert prune_run_dirs(tmp_path / "runs", keep=(), now_seconds=time.time()) == []


def test_amed_deletes_month_old_run_logs_at_its_sweep(ws: Workspace) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)
    runs = ws.state / "runs"
    produced = [p.name for p in runs.iterdir()]
    assert len(produced) == 1
    old = RUN_LOG_KEEP_SECONDS + DAY_SECONDS
    make_run(runs, "forgotten-v1-abcdef", old)
    make_run(runs, "yesterday-v1-abcdef", DAY_SECONDS)
    logged = once_log(ws)
    assert [e["runs"] for e in logged if e["event"] == "run_logs_deleted"] == [1]
    assert sorted(p.name for p in runs.iterdir()) == sorted([*produced, "yesterday-v1-abcdef"])
