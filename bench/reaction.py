"""7. Reaction: ame.yaml edited → producing task started; and an idle daemon's CPU.

A running `amed run --interval 10` keeps one data set. Each edit changes the task's command
(so the data set must be produced again), written in place as an editor does; the task's
first act is to append the wall-clock time to a file outside the project. The reaction is
that time minus the time the edit was written. Edits come at random moments, one after the
previous version is ready. Whatever makes the daemon notice (the next interval, or a watch on
the file), this measures it from outside.
Baseline: starting the same shell command straight from Python, the floor of starting a task.

CPU: the same daemon, idle, in five windows of one interval each (50 s; `--quick`: 10 s).
Baseline: a bare Python process waking as often as the daemon's interval, its CPU time
read over the same windows.

Ten edits, each a run and its storing: enough for a median against a target of a second.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import time
from pathlib import Path

from bench.common import Result, Workspace, runs_for, scratch
from bench.daemon import Daemon, bare_python, dataset_status, process_cpu_seconds, wait_until

QUESTION = "7 reaction"
TARGET_REACTION_SECONDS = 1.0
TARGET_CPU_PERCENT = 0.5
INTERVAL_SECONDS = 10
QUICK_INTERVAL_SECONDS = 2
EDITS = 10
QUICK_EDITS = 3
REACTION_TIMEOUT_SECONDS = 120.0

SPEC = """\
projectname: bench
tasks:
  - name: produce
    executor: !custom
      command: {command}
dataSets:
  - name: out
    path: ./data
    task:
      taskRef: produce
"""


def _command(marks: Path, edit: int) -> str:
    return f"date +%s.%N >> {marks} && mkdir -p data && echo {edit} > data/edit.txt"


def _marks(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [float(line) for line in path.read_text().split()]


def run(quick: bool) -> list[Result]:
    interval = QUICK_INTERVAL_SECONDS if quick else INTERVAL_SECONDS
    edits = QUICK_EDITS if quick else EDITS
    rng = random.Random(7)
    reactions: list[float] = []
    with scratch("reaction") as root:
        ws = Workspace(root)
        marks = root / "marks.txt"
        spec = ws.project / "ame.yaml"
        spec.write_text(SPEC.format(command=_command(marks, 0)))
        with Daemon(ws, "--interval", str(interval)) as daemon:
            wait_until(lambda: len(_marks(marks)) >= 1, REACTION_TIMEOUT_SECONDS, "a run", daemon)
            _wait_ready(ws, daemon)
            for edit in range(1, edits + 1):
                time.sleep(rng.uniform(0.0, 1.0))
                with open(spec, "w") as handle:  # in place, in one write, as an editor saves
                    handle.write(SPEC.format(command=_command(marks, edit)))
                edited = time.time()
                wait_until(
                    lambda edit=edit: len(_marks(marks)) > edit,  # type: ignore[misc]
                    REACTION_TIMEOUT_SECONDS,
                    "the edited task to start",
                    daemon,
                )
                reactions.append(_marks(marks)[edit] - edited)
                _wait_ready(ws, daemon)
            cpu = _cpu_percent(daemon.proc.pid, interval)
        floor = tuple(_spawn_seconds(root) for _ in range(runs_for(quick)))
    median = statistics.median(reactions)
    cpu_median = statistics.median(cpu[0])
    return [
        Result(
            QUESTION,
            f"ame.yaml edited → task started, {edits} edits, --interval {interval}",
            "s",
            tuple(reactions),
            "spawn the task from Python",
            floor,
            target=f"≤ {TARGET_REACTION_SECONDS:.0f} s",
            met=median <= TARGET_REACTION_SECONDS,
        ),
        Result(
            QUESTION,
            f"idle daemon CPU, {len(cpu[0])} windows of {cpu[2]:.0f} s, --interval {interval}",
            "%",
            cpu[0],
            "bare python waking as often",
            cpu[1],
            target=f"≤ {TARGET_CPU_PERCENT} %",
            met=cpu_median <= TARGET_CPU_PERCENT,
        ),
    ]


def _wait_ready(ws: Workspace, daemon: Daemon) -> None:
    wait_until(
        lambda: dataset_status(ws.state, "out") == "ready",
        REACTION_TIMEOUT_SECONDS,
        "the data set to be ready",
        daemon,
    )


def _cpu_percent(pid: int, interval: float) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    window = float(interval)  # one wake of the floor (and of the daemon's timer) in each
    floor = bare_python(
        f"import threading\nstop = threading.Event()\nwhile not stop.wait({interval}): pass\n"
    )
    try:
        time.sleep(0.5)
        amed: list[float] = []
        base: list[float] = []
        for _ in range(runs_for(False)):
            a0, b0 = process_cpu_seconds(pid), process_cpu_seconds(floor.pid)
            time.sleep(window)
            amed.append((process_cpu_seconds(pid) - a0) / window * 100)
            base.append((process_cpu_seconds(floor.pid) - b0) / window * 100)
    finally:
        floor.terminate()
        floor.wait()
    return tuple(amed), tuple(base), window


def _spawn_seconds(root: Path) -> float:
    marks = root / "spawn-marks.txt"
    marks.unlink(missing_ok=True)
    started = time.time()
    subprocess.run(
        ["/bin/sh", "-c", f"date +%s.%N >> {marks}"], check=True, stdin=subprocess.DEVNULL
    )
    return _marks(marks)[0] - started
