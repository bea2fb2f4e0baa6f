"""What every benchmark shares: a result with its baseline, repeated timing, scratch space,
and the real `amed`/`ame` commands run against a throw-away project.

Machines here are noisy, so no figure stands alone: each `Result` holds the samples of amed
and of a baseline measured in the same run, and the ratio of their medians.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

_T = TypeVar("_T")

BIN_DIR = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parent.parent
MIN_SAMPLES = 5
QUICK_SAMPLES = 2
COMMAND_TIMEOUT_SECONDS = 600.0
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class Result:
    """One measured figure.

    `samples` are amed's, `baseline` the reference's, both in `unit`. `ratio` compares the
    medians the way the target is phrased: with `speed=True` it is baseline / amed (how
    fast amed is next to the baseline, higher is better), otherwise amed / baseline.
    `met` is None when the figure has no target or could not be measured.
    """

    question: str
    measure: str
    unit: str
    samples: tuple[float, ...]
    baseline_name: str = ""
    baseline: tuple[float, ...] = ()
    speed: bool = False
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        value, base = self.median, self.baseline_median
        if value is None or base is None:
            return None
        top, bottom = (base, value) if self.speed else (value, base)
        return top / bottom if bottom else None

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "measure": self.measure,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples) if self.samples else None,
            "max": max(self.samples) if self.samples else None,
            "baseline_name": self.baseline_name,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def not_measured(question: str, measure: str, note: str, target: str = "") -> Result:
    return Result(question, measure, "", (), target=target, note=note)


def sample(fn: Callable[[], float], runs: int) -> tuple[float, ...]:
    """`runs` results of `fn`, each a measurement it made itself (it knows what to time)."""
    return tuple(fn() for _ in range(runs))


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def in_turn(items: Sequence[_T], round_number: int) -> Sequence[_T]:
    """`items` in order on even rounds and reversed on odd ones: the sides of a comparison
    take turns going first, so neither is always the one after a cold start or a sync."""
    return items if round_number % 2 == 0 else items[::-1]


def runs_for(quick: bool) -> int:
    """Five samples for the figures; `--quick` only checks that the scripts still work."""
    return QUICK_SAMPLES if quick else MIN_SAMPLES


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary directory on the same disk as the repository, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"amed-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def command(name: str) -> str:
    found = BIN_DIR / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which is None:
        raise RuntimeError(f"{name} is not installed")
    return which


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "NOTIFY_SOCKET"))}
    env.update(extra)
    return env


def execute(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])} exited {proc.returncode}: {' | '.join(tail)}")
    return proc


def drop_dirty_pages() -> None:
    """Write dirty pages out so one sample's writeback does not slow the next one down."""
    os.sync()


@dataclass
class Workspace:
    """A project directory, a state directory and a file:// store under one root."""

    root: Path
    storage_url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    def __post_init__(self) -> None:
        self.project.mkdir(parents=True, exist_ok=True)
        if not self.storage_url:
            self.storage_url = self.objects.as_uri()

    def write_spec(self, text: str) -> Path:
        path = self.project / "ame.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def amed_env(self) -> dict[str, str]:
        return clean_env(
            AME_STATE_DIR=str(self.state),
            AME_STORAGE=self.storage_url,
            AME_PROJECT=str(self.project),
            **self.env,
        )

    def once(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return execute(
            [command("amed"), "run", "--once", "--log-format", "json", *extra],
            cwd=self.project,
            env=self.amed_env(),
        )

    def events(self) -> list[dict[str, Any]]:
        proc = execute([command("ame"), "events", "--json"], env=self.amed_env())
        return [json.loads(line) for line in proc.stdout.splitlines()]

    def datasets(self) -> list[dict[str, Any]]:
        proc = execute([command("ame"), "ds", "list", "--json"], env=self.amed_env())
        rows: list[dict[str, Any]] = json.loads(proc.stdout)
        return rows


def event_seconds(events: list[dict[str, Any]], first: str, last: str) -> float:
    """Seconds from the first `first` event to the last `last` event of a log."""
    start = next(e["at"] for e in events if e["type"] == first)
    end = [e["at"] for e in events if e["type"] == last][-1]
    return (_parse_at(end) - _parse_at(start)).total_seconds()


def _parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "%":
        return f"{value:.2f} %"
    if unit in ("MB", "MiB"):
        return f"{value:.1f} {unit}"
    if unit == "count":
        return f"{value:.0f}"
    if value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"
