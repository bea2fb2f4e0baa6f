"""`ame ds rebuild NAME`: ask the daemon for a new version of a data set.

A data set is produced again on its own when its identity moves (its spec, the project
files its task can see, an input's content). This is for what amed cannot see: a task that
reads the network or the clock. The request is an event the daemon acts on at its next
pass; its dependants follow only if the new version holds other bytes.
"""

from __future__ import annotations

from pathlib import Path

import click

from amed.cli.complete import dataset_names
from amed.cli.exits import EXIT_FAILED, EXIT_OK
from amed.cli.names import find_dataset
from amed.cli.options import ame_settings, ame_state_option
from amed.cli.requests import append, daemon_alive, no_daemon_hint, now
from state.read import StateReader


@click.command("rebuild")
@ame_state_option
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=dataset_names)
def rebuild(config_file: Path | None, state_dir: Path | None, name: str) -> int:
    """Produce a new version of NAME, even if nothing it is made from changed."""
    from state.events import RebuildRequested

    settings = ame_settings(config_file, state_dir)
    reader = StateReader.in_dir(settings.state_dir)
    try:
        row = find_dataset(reader, name, settings.state_dir)
    finally:
        reader.close()
    if row.status in ("removed", "deleting"):
        click.echo(f"error: no declared data set named {name!r} in {settings.state_dir}", err=True)
        return EXIT_FAILED
    append(
        settings.state_dir,
        [RebuildRequested(at=now(), project=row.project, dataset=row.name)],
    )
    click.echo(f"requested a new version of {name}: the daemon produces it at its next pass")
    if not daemon_alive(settings.state_dir):
        click.echo(f"warning: {no_daemon_hint(settings.state_dir)}", err=True)
    return EXIT_OK
