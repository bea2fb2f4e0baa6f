"""10. What safety costs a run: masking its output, and ending everything it started.

- Masking: a task prints 256 MiB (32 MiB with --quick) into its log, with one secret to
  mask, against the same task through the same `run_task` with nothing to mask, which
  writes straight into the log's file descriptor (the fastest way amed, or anything, gets
  a task's output into a file). Fair because: the same command, a new log file of the same
  name in the same directory for each sample, samples interleaved with the order swapped
  every other round, dirty pages written out (`sync`) and the previous sample's logs deleted
  before every timed step, so neither side pays for the other's 256 MiB of writeback.
- Ending: the look for what a finished run left (`proctree.end_run`: scans of /proc, every
  process's stat and environment) when it left nothing, against the least code doing the
  same reads: one pass over /proc reading each process's stat and environ with
  os.open/os.read and looking for the run tag. Same processes on the machine, interleaved.
  Starting and waiting for one `sh -c true` is given beside it as an absolute cost only
  (it is not the same work, so it is no baseline).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from pathlib import Path

from amed.engine import proctree
from amed.engine.base import RunRequest
from amed.engine.local_run import run_task
from amed.engine.plans import ExecutorSpec
from bench.common import MIB, Result, drop_dirty_pages, in_turn, runs_for, scratch, timed

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


def _bare_scan() -> int:
    """One pass over /proc: each process's stat and environ, the run tag looked for."""
    found = 0
    marker = proctree.RUN_TAG.encode() + b"="
    for name in os.listdir("/proc"):  # noqa: PTH208 (no Path object per entry)
        if not name.isdigit():
            continue
        for part in ("stat", "environ"):
            try:
                fd = os.open(f"/proc/{name}/{part}", os.O_RDONLY)
            except OSError:
                continue
            try:
                data = os.read(fd, 1 << 20)
            except OSError:
                data = b""
            finally:
                os.close(fd)
            found += part == "environ" and marker in data
    return found


def _start_and_wait() -> None:
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            ["/bin/sh", "-c", "true"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=True,
        )


def _tail(path: Path, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(-size, os.SEEK_END)
        return handle.read()


def run(quick: bool) -> list[Result]:
    runs = runs_for(quick)
    mib = 32 if quick else 256
    command = f"head -c {mib * MIB} /dev/zero | tr '\\0' x; echo $SECRET"
    masked: list[float] = []
    direct: list[float] = []
    ended: list[float] = []
    bare: list[float] = []
    sh_true: list[float] = []
    with scratch("run-end") as root:
        for index in range(runs):
            sides = (((SECRET,), masked), ((), direct))
            for redact, into in in_turn(sides, index):
                request = _request(root, "out", command, redact)
                shutil.rmtree(request.run_dir, ignore_errors=True)
                drop_dirty_pages()
                into.append(timed(lambda r=request: run_task(r)))  # type: ignore[misc]
                log = request.run_dir / "output.log"
                assert log.stat().st_size >= mib * MIB
                assert bool(redact) != (SECRET.encode() in _tail(log, 100))
            shutil.rmtree(root / "runs", ignore_errors=True)
            drop_dirty_pages()
            pair = (
                (lambda: proctree.end_run("no-such-run", None, 0.0), ended),
                (_bare_scan, bare),
            )
            for step, into in in_turn(pair, index):
                into.append(timed(step))
            sh_true.append(timed(_start_and_wait))
    sh_ms = statistics.median(sh_true) * 1000
    return [
        Result(
            QUESTION,
            f"task output masked ({mib} MiB)",
            "s",
            tuple(masked),
            baseline_name="the same task, nothing to mask: written straight to the log",
            baseline=tuple(direct),
            note="amed / baseline; sync before each sample, order swapped every other round",
        ),
        Result(
            QUESTION,
            f"ending what a run left ({_process_count()} processes on the machine)",
            "s",
            tuple(ended),
            baseline_name="one bare pass over /proc reading each stat and environ",
            baseline=tuple(bare),
            note=f"for scale only, not a baseline: Popen + wait of `sh -c true` {sh_ms:.2f} ms",
        ),
    ]
