"""`ame state check [--rebuild]`: the tables against a replay of the whole event log.

A start after an unclean stop checks only the events after the tables' last checkpoint
(state.checkpoint), and a start after a clean one only a digest, so that starting stays
quick however long the log grows. This is the full check, on demand: every event folded
again from the first, the result compared with every row of the tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from amed.cli.exits import EXIT_FAILED, EXIT_OK, Cli
from amed.cli.options import ame_state_option, state_dir_for
from amed.cli.requests import daemon_alive

MISMATCHES_SHOWN = 20


@click.group("state", cls=Cli)
def state() -> None:
    """The state database: its event log and the tables folded from it."""


@state.command("check")
@ame_state_option
@click.option(
    "--rebuild",
    is_flag=True,
    help="When the tables differ from the log, compute them again from it (amed stopped).",
)
def check(config_file: Path | None, state_dir: Path | None, rebuild: bool) -> int:
    """Replay the whole event log and compare what it folds to with the tables."""
    from state.db import StateStore

    found_dir = state_dir_for(config_file, state_dir)
    if rebuild and daemon_alive(found_dir):
        click.echo(
            f"error: amed is running for {found_dir}; stop it before rebuilding its tables",
            err=True,
        )
        return EXIT_FAILED
    began = time.monotonic()
    with StateStore.in_dir(found_dir) as store:
        mismatches = store.check(full=True)
        events = store.event_count()
        seconds = time.monotonic() - began
        if not mismatches:
            click.echo(f"the tables match the log: {events:,} events replayed in {seconds:.1f} s")
            return EXIT_OK
        for mismatch in mismatches[:MISMATCHES_SHOWN]:
            key = "/".join(str(part) for part in mismatch.key)
            click.echo(f"{mismatch.table} {key}: the tables differ from the log", err=True)
        more = len(mismatches) - MISMATCHES_SHOWN
        if more > 0:
            click.echo(f"... and {more} more", err=True)
        if not rebuild:
            click.echo(
                f"error: {len(mismatches)} rows differ from a replay of the log; "
                "`ame state check --rebuild` (with amed stopped) computes them again",
                err=True,
            )
            return EXIT_FAILED
        store.rebuild()
        click.echo(f"rebuilt the tables from {events:,} events; {len(mismatches)} rows differed")
        return EXIT_OK
