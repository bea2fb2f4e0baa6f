"""10. What safety costs a run: masking its output, and ending everything it started.

- Masking: a task prints 256 MiB (32 MiB with --quick) into its log, with one secret to
  mask, against the same task writing straight into the log's file descriptor (what amed
  does when there is nothing to mask). Same command, same log file, samples interleaved.
- Ending: the look for what a finished run left (a scan of /proc, every process's stat and
  environment) when it left nothing, against starting and waiting for one `sh -c true`:
  what the scan adds to a run, next to the cheapest process a run can start.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from amed.engine import proctree
from amed.engine.executors import ExecutorSpec
from amed.engine.local import RunRequest, run_task
from bench.common import MIB, Result, runs_for, scratch, timed

QUESTION = "10 safety per run"
SECRET = "bench-secret-value-0123456789"


def _request(root: Path, run_id: str, command: str, redact: tuple[str, ...]) -> RunRequest:
    project = root / "project"
    project.mkdir(exist_ok=True)
    return RunRequest(
        run_id=run_id,
        project_dir=project,
        run_dir=root / "runs" / run_id,
        executor=ExecutorSpec(kind="custom", command=command),
        env={"SECRET": SECRET},
        exclude=(),
        timeout_seconds=600.0,
        venv_root=root / "venvs",
        redact=redact,
    )


def _process_count() -> int:
    return sum(1 for entry in Path("/proc").iterdir() if entry.name.isdigit())


def run(quick: bool) -> list[Result]:
    runs = runs_for(quick)
    mib = 32 if quick else 256
    command = f"head -c {mib * MIB} /dev/zero | tr '\\0' x; echo $SECRET"
    masked: list[float] = []
    direct: list[float] = []
    ended: list[float] = []
    by_hand: list[float] = []
    with scratch("run-end") as root:
        for index in range(runs):
            for redact, into in (((SECRET,), masked), ((), direct)):
                request = _request(root, f"out-{index}-{len(into)}-{bool(redact)}", command, redact)
                into.append(timed(lambda r=request: run_task(r)))  # type: ignore[misc]
                log = request.run_dir / "output.log"
                assert log.stat().st_size >= mib * MIB
                assert SECRET.encode() not in log.read_bytes()[-100:] or not redact
            ended.append(timed(lambda: proctree.end_run("no-such-run", None, 0.0)))
            work = root / f"hand-{index}"
            work.mkdir()

            def start_and_wait(cwd: Path = work) -> None:
                with open(os.devnull, "wb") as sink:
                    subprocess.run(
                        ["/bin/sh", "-c", "true"],
                        cwd=cwd,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        check=True,
                    )

            by_hand.append(timed(start_and_wait))
    return [
        Result(
            QUESTION,
            f"task output masked ({mib} MiB)",
            "s",
            tuple(masked),
            baseline_name="written straight to the log",
            baseline=tuple(direct),
            note="amed / baseline; the pipe only exists when there is something to mask",
        ),
        Result(
            QUESTION,
            f"ending what a run left ({_process_count()} processes on the machine)",
            "s",
            tuple(ended),
            baseline_name="Popen + wait of `sh -c true`",
            baseline=tuple(by_hand),
            note="the /proc scan at the end of every run",
        ),
    ]
