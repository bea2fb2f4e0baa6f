"""`ame store release PROJECT`: give up this state's claim on a project in a shared store.

A project's prefix in a store belongs to the state that claimed it (amed.store.claims). Moving a
project to another state dir (another host) means releasing it here, or taking it over
there (`amed run --take-over`). Either way the state that claims it next sweeps what this
one left under `datasets/<project>/`: it is no longer any state's data.
"""

from __future__ import annotations

from pathlib import Path

import click

from amed.cli.exits import EXIT_FAILED, EXIT_OK, Cli
from amed.cli.options import ame_settings, ame_state_option
from amed.cli.requests import daemon_alive
from state.read import StateReader


@click.group("store", cls=Cli)
def store() -> None:
    """The object store this state keeps its data sets in."""


@store.command("release")
@ame_state_option
@click.option("--storage", "storage_url", help="Object store URL (default: as the daemon's).")
@click.argument("project")
def release(
    config_file: Path | None, state_dir: Path | None, storage_url: str | None, project: str
) -> int:
    """Delete this state's claim on PROJECT, so that another state may claim it."""
    from amed.store.schemes import open_store

    settings = ame_settings(config_file, state_dir, must_exist=False, storage_url=storage_url)
    reader = StateReader.in_dir(settings.state_dir)
    try:
        state_id = reader.state_id()
    finally:
        reader.close()
    if daemon_alive(settings.state_dir):
        click.echo(
            f"error: amed is running for {settings.state_dir} and would claim {project} "
            "again; stop it first",
            err=True,
        )
        return EXIT_FAILED
    objects = open_store(settings.storage_url)
    held = objects.read_claim(project)
    if held is None:
        click.echo(f"nothing to release: no state claims project {project} in {objects.url}")
        return EXIT_OK
    if held.state_id != state_id:
        mine = f"this state ({state_id})" if state_id else "this state (which has no id yet)"
        click.echo(
            f"error: project {project} in {objects.url} is claimed by {held.owner()}, "
            f"not by {mine} in {settings.state_dir}; release it there",
            err=True,
        )
        return EXIT_FAILED
    objects.bind(state_id)
    objects.release_claim(project)
    click.echo(
        f"released project {project} in {objects.url}; the next state to claim it sweeps "
        f"what this one left under datasets/{project}/"
    )
    return EXIT_OK
