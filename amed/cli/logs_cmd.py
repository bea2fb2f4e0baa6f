"""`ame ds logs NAME`: what a data set's producing task printed, from its run's `output.log`.

The log is the one the daemon writes, secrets masked, under `<state dir>/runs/<run id>/`: a
member of the state's group reads it as the daemon's user does. `--follow` prints what
comes until the run ends, as the event log tells it; `ame task logs` shares all of this.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import click

from amed.cli.complete import dataset_names
from amed.cli.exits import EXIT_FAILED, EXIT_OK
from amed.cli.names import find_dataset
from amed.cli.options import ame_state_option, state_dir_for
from amed.cli.requests import no_daemon_hint, now
from amed.engine.run_logs import open_output_log
from state.history import RunRecord
from state.read import StateReader

POLL_SECONDS = 0.25
OUTPUT_LOG = "output.log"
CHUNK_BYTES = 1 << 16


@click.command("logs")
@ame_state_option
@click.option("--run", "run_id", help="This run's output (default: the current or last run).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=dataset_names)
def logs(
    config_file: Path | None, state_dir: Path | None, run_id: str | None, follow: bool, name: str
) -> int:
    """The output of a data set's current or last producing run."""
    found = state_dir_for(config_file, state_dir)
    reader = StateReader.in_dir(found)
    try:
        row = find_dataset(reader, name, found)
        runs = reader.producing_runs(row.project, row.name)
    finally:
        reader.close()
    run = pick_run(runs, run_id, current=row.run_id, what=f"data set {name}")
    if run is None:
        return EXIT_FAILED
    project, dataset = row.project, row.name

    def refresh(reader: StateReader) -> RunRecord | None:
        return next((r for r in reader.producing_runs(project, dataset) if r.seq == run.seq), None)

    return print_run_log(found, run, refresh if follow else None)


def pick_run(
    runs: Sequence[RunRecord], wanted: str | None, *, current: str | None, what: str
) -> RunRecord | None:
    """The run asked for, else the current one, else the last that started; None (having
    said why on stderr) when there is none."""
    started = [r for r in runs if r.run_id is not None]
    if wanted is not None:
        match = next((r for r in started if r.run_id == wanted), None)
        if match is None:
            known = ", ".join(r.run_id for r in started[-5:] if r.run_id) or "none yet"
            click.echo(f"error: {what} has no run {wanted!r} (its last runs: {known})", err=True)
        return match
    running = [r for r in started if r.run_id == current] or [r for r in started if r.ok is None]
    if running:
        return running[-1]
    if not started:
        click.echo(f"error: {what} has not run yet", err=True)
        return None
    return max(started, key=lambda r: (r.started_at or "", r.seq))


def print_run_log(
    state_dir: Path,
    run: RunRecord,
    refresh: Callable[[StateReader], RunRecord | None] | None,
) -> int:
    """Copy the run's log to stdout. With `refresh` (which reads the run's record again),
    keep copying until the record says it ended, then say how on stderr."""
    assert run.run_id is not None
    runs_dir = state_dir / "runs"
    log = runs_dir / run.run_id / OUTPUT_LOG
    if refresh is None:
        whole = open_output_log(runs_dir, run.run_id)
        if whole is None:
            click.echo(f"error: {log}: no output kept for run {run.run_id}", err=True)
            return EXIT_FAILED
        with whole:
            _copy(whole)
        return EXIT_OK
    reader = StateReader.in_dir(state_dir)
    handle: BinaryIO | None = None
    try:
        while True:
            latest = refresh(reader)  # before the copy: what it then finds is all there is
            if handle is None:
                handle = open_output_log(runs_dir, run.run_id)
            if handle is not None:
                _copy(handle)
            if latest is None or latest.ok is not None:
                click.echo(f"{run.run_id}: {_outcome(latest)}", err=True)
                return EXIT_OK
            daemon = reader.daemon()
            if daemon is None or not daemon.alive_at(now()):
                click.echo(
                    f"error: run {run.run_id} has not ended and {no_daemon_hint(state_dir)}",
                    err=True,
                )
                return EXIT_FAILED
            time.sleep(POLL_SECONDS)
    finally:
        reader.close()
        if handle is not None:
            handle.close()


def _copy(handle: BinaryIO) -> None:
    out = sys.stdout.buffer
    while chunk := handle.read(CHUNK_BYTES):
        out.write(chunk)
    out.flush()


def _outcome(run: RunRecord | None) -> str:
    if run is None or run.ok is None:
        return "ended"
    if run.ok:
        return "succeeded"
    return f"failed: {(run.reason or 'failed').splitlines()[0]}"
