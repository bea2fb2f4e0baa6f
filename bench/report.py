"""The results as a markdown table, the machine they were measured on, and RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bench.common import REPO_ROOT, Result, fmt

HEADER = (
    "| # | measure | amed: median (min – max) | baseline: median (min – max) | ratio "
    "| target | met |"
)
RULE = "|---|---|---|---|---|---|---|"
FIGURES_START = "<!-- figures:start -->"
FIGURES_END = "<!-- figures:end -->"


def _spread(samples: tuple[float, ...], unit: str) -> str:
    if not samples:
        return "-"
    median = statistics.median(samples)
    if len(samples) == 1:
        return fmt(median, unit)
    return f"{fmt(median, unit)} ({fmt(min(samples), unit)} – {fmt(max(samples), unit)})"


def _row(result: Result) -> str:
    ratio = "-" if result.ratio is None else f"{result.ratio:.2f}×"
    if result.ratio is not None and result.speed:
        ratio += " speed"
    met = {True: "yes", False: "**no**", None: "-"}[result.met]
    baseline = _spread(result.baseline, result.unit)
    if result.baseline_name:
        baseline = f"{result.baseline_name}: {baseline}"
    measure = result.measure + (f" — {result.note}" if result.note else "")
    cells = [
        result.question,
        measure,
        _spread(result.samples, result.unit),
        baseline,
        ratio,
        result.target or "-",
        met,
    ]
    return "| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |"


def markdown_table(results: list[Result]) -> str:
    return "\n".join([HEADER, RULE, *(_row(r) for r in results)])


def machine_lines() -> list[str]:
    cpu = "unknown CPU"
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    disk = shutil.disk_usage(REPO_ROOT)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {commit or 'unknown'}",
        f"- machine: {cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- disk: {disk.total / 2**30:.0f} GiB, /tmp and the repository on the same disk",
        f"- Python {platform.python_version()}",
    ]


def write_results(path: Path, table: str, machine: list[str], seconds: float) -> None:
    """Replace the figures between the markers of RESULTS.md, keeping the prose around them."""
    block = "\n".join(
        [
            FIGURES_START,
            *machine,
            f"- whole run: {seconds:.0f} s (`python -m bench`)",
            "",
            table,
            FIGURES_END,
        ]
    )
    text = (
        path.read_text()
        if path.exists()
        else f"# Benchmark results\n\n{FIGURES_START}\n{FIGURES_END}\n"
    )
    if FIGURES_START in text and FIGURES_END in text:
        head, rest = text.split(FIGURES_START, 1)
        tail = rest.split(FIGURES_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
