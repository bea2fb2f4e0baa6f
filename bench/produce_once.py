"""8. Produce once: 20 tasks consume one data set; its producing task must run once.

Consumer tasks list the data set under `dataSets:`; each is asked for with `ame task run`,
then one `amed run --once` does the work. If there is no `ame task run`, or no consumer ran,
the figure is reported as not applicable rather than guessed.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.common import Result, Workspace, not_measured, runs_for, scratch

QUESTION = "8 produce once"
CONSUMERS = 20


def spec(runs: Path, consumed: Path) -> str:
    lines = [
        "projectname: bench",
        "tasks:",
        "  - name: produce",
        "    executor: !custom",
        f"      command: echo run >> {runs} && mkdir -p data && echo x > data/x.txt",
    ]
    for index in range(CONSUMERS):
        lines += [
            f"  - name: consume{index:02d}",
            "    executor: !custom",
            f"      command: echo {index} >> {consumed}",
            "    dataSets:",
            "      - shared",
        ]
    lines += [
        "dataSets:",
        "  - name: shared",
        "    path: ./data",
        "    task:",
        "      taskRef: produce",
    ]
    return "\n".join(lines) + "\n"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _request_consumers(ws: Workspace) -> bool:
    """Ask for every consumer task with `ame task run NAME` (the real command, called
    in-process: twenty start-ups would cost more than the benchmark). False when the
    command does not exist, i.e. consumers are not implemented."""
    import click
    from click.testing import CliRunner

    from amed.cli.ame_cmd import cli

    if "task" not in cli.list_commands(click.Context(cli)):  # subcommands load lazily
        return False
    runner = CliRunner()
    env = ws.amed_env()
    for index in range(CONSUMERS):
        result = runner.invoke(cli, ["task", "run", f"consume{index:02d}"], env=env)
        if result.exit_code != 0:
            why = result.output.strip() or repr(result.exception)
            raise RuntimeError(f"ame task run consume{index:02d}: {why}")
    return True


def run(quick: bool) -> list[Result]:
    measure = f"{CONSUMERS} consumers of one data set: producing runs"
    producing: list[float] = []
    consumed_counts: list[int] = []
    with scratch("once") as root:
        for index in range(runs_for(quick)):
            ws = Workspace(root / f"ws{index}")
            runs, consumed = ws.root / "runs.log", ws.root / "consumed.log"
            ws.write_spec(spec(runs, consumed))
            if not _request_consumers(ws):
                return [not_measured(QUESTION, measure, "n/a (consumers not implemented)", "1")]
            ws.once()
            producing.append(float(_lines(runs)))
            consumed_counts.append(_lines(consumed))
    if not any(consumed_counts):
        note = "n/a (no consumer task ran under `amed run --once`)"
        return [not_measured(QUESTION, measure, note, "1")]
    median = statistics.median(producing)
    return [
        Result(
            QUESTION,
            measure,
            "count",
            tuple(producing),
            target="1",
            met=median == 1 and max(producing) == 1,
            note=f"consumer runs per sample: {sorted(consumed_counts)} of {CONSUMERS}",
        )
    ]
