"""6. Memory: the daemon's peak RSS (VmHWM) idle with many data sets, and while storing 1 GiB.

- idle: `amed run` over 10,000 ready data sets; the peak once its first pass is over and it
  has gone quiet. Baseline: a bare `python -c "import sqlite3; ..."` waiting.
- storing: `amed run` producing one data set of one 1 GiB file; the peak once it is `ready`,
  against the same daemon's idle peak over the same project afterwards (a fresh process
  with nothing to do). The task's own process is not counted: it is not the daemon.
"""

from __future__ import annotations

import shutil
import statistics
import time

from bench import many
from bench.common import Result, Workspace, drop_dirty_pages, runs_for, scratch
from bench.daemon import Daemon, bare_python, dataset_status, status_kib, wait_until
from bench.data import ONE_GIB_FILE, quick_shape, write_tree

QUESTION = "6 memory"
TARGET_IDLE_MB = 80.0
TARGET_STORING_EXTRA_MB = 50.0
READY_TIMEOUT_SECONDS = 300.0

SPEC = """
projectname: bench
tasks:
  - name: produce
    executor: !custom
      command: cp -r {source} data
dataSets:
  - name: big
    path: ./data
    task:
      taskRef: produce
"""


def _mb(kib: int) -> float:
    return kib * 1024 / 1e6


def run(quick: bool) -> list[Result]:
    return [_idle(quick), _storing(quick)]


def _idle(quick: bool) -> Result:
    count = 1_000 if quick else 10_000
    peaks: list[float] = []
    with scratch("memory") as root:
        ws = Workspace(root)
        many.build(ws.project, ws.state, count)
        for _ in range(runs_for(quick)):
            with Daemon(ws, "--interval", "10") as daemon:
                daemon.wait_for_log("started", timeout=120)
                daemon.wait_idle()
                peaks.append(_mb(daemon.status_kib("VmHWM")))
    floor = _bare_python_peaks(runs_for(quick))
    target = count >= 10_000
    median = statistics.median(peaks)
    return Result(
        QUESTION,
        f"daemon idle, {count:,} ready data sets: peak RSS",
        "MB",
        tuple(peaks),
        "bare python + sqlite3",
        floor,
        target=f"≤ {TARGET_IDLE_MB:.0f} MB" if target else "",
        met=median <= TARGET_IDLE_MB if target else None,
    )


def _bare_python_peaks(runs: int) -> tuple[float, ...]:
    peaks = []
    for _ in range(runs):
        proc = bare_python("import sqlite3, time; time.sleep(5)")
        try:
            time.sleep(0.5)
            peaks.append(_mb(status_kib(proc.pid, "VmHWM")))
        finally:
            proc.terminate()
            proc.wait()
    return tuple(peaks)


def _storing(quick: bool) -> Result:
    shape = quick_shape(ONE_GIB_FILE) if quick else ONE_GIB_FILE
    storing: list[float] = []
    idle: list[float] = []
    with scratch("memory-store") as root:
        source = root / "source"
        write_tree(source, shape)
        for index in range(runs_for(quick)):
            ws = Workspace(root / f"ws{index}")
            ws.write_spec(SPEC.format(source=source))
            with Daemon(ws, "--interval", "10") as daemon:
                wait_until(
                    lambda ws=ws: dataset_status(ws.state, "big") == "ready",  # type: ignore[misc]
                    READY_TIMEOUT_SECONDS,
                    "the data set to be ready",
                    daemon,
                )
                storing.append(_mb(daemon.status_kib("VmHWM")))
            with Daemon(ws, "--interval", "10") as daemon:
                daemon.wait_for_log("started", timeout=60)
                daemon.wait_idle()
                idle.append(_mb(daemon.status_kib("VmHWM")))
            shutil.rmtree(ws.root, ignore_errors=True)
            drop_dirty_pages()
    extra = statistics.median(storing) - statistics.median(idle)
    return Result(
        QUESTION,
        f"daemon storing {shape.label}: peak RSS",
        "MB",
        tuple(storing),
        "same daemon idle",
        tuple(idle),
        target=f"≤ idle + {TARGET_STORING_EXTRA_MB:.0f} MB",
        met=extra <= TARGET_STORING_EXTRA_MB,
        note=f"{extra:+.1f} MB over idle",
    )
