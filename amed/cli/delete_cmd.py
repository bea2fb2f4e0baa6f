"""`ame ds delete`: confirm the deletion of data sets that left ame.yaml.

amed never deletes a data set that ame.yaml still declares: a person deletes one by taking it
out of ame.yaml. This command only shortens the grace (`NAME --now`), or confirms a deletion
the daemon held back because too many data sets left at once (`--all-pending --confirm`).
"""

from __future__ import annotations

from pathlib import Path

import click

from amed.cli.complete import dataset_names
from amed.cli.exits import EXIT_INVALID, EXIT_OK
from amed.cli.names import pick, split_name
from amed.cli.options import ame_settings, ame_state_option, load_ame_yaml, project_option
from amed.cli.requests import append, daemon_alive, no_daemon_hint, now
from state.read import StateReader


@click.command("delete")
@ame_state_option
@project_option
@click.option("--now", "at_once", is_flag=True, help="Delete NAME now instead of after its grace.")
@click.option("--all-pending", is_flag=True, help="Every data set that left ame.yaml.")
@click.option("--confirm", is_flag=True, help="Needed with --all-pending.")
@click.argument("name", metavar="[[PROJECT/]NAME]", required=False, shell_complete=dataset_names)
def delete(
    config_file: Path | None,
    state_dir: Path | None,
    project_dir: Path | None,
    at_once: bool,
    all_pending: bool,
    confirm: bool,
    name: str | None,
) -> int:
    """Delete data sets that are no longer declared in ame.yaml."""
    from state.events import DatasetUndeclared, DeletionApproved, Event

    if all_pending == (name is not None):
        raise click.UsageError("give a data set NAME (with --now) or --all-pending --confirm")
    if name is not None and not at_once:
        raise click.UsageError("ame ds delete NAME needs --now (without it the grace applies)")
    if all_pending and not confirm:
        raise click.UsageError("--all-pending deletes every undeclared data set: add --confirm")
    settings = ame_settings(config_file, state_dir, project_dir=project_dir)
    project = load_ame_yaml(settings.project_dir, settings.spec_max_bytes)
    declared = {(project.name, d.name) for d in project.data_sets}
    reader = StateReader.in_dir(settings.state_dir)
    rows = [r for r in reader.datasets() if r.key not in declared]
    reader.close()
    if name is not None:
        wanted_project, bare = split_name(name)
        if wanted_project in (None, project.name) and any(
            d.name == bare for d in project.data_sets
        ):
            click.echo(
                f"error: {bare} is still declared in ame.yaml; take it out of ame.yaml first",
                err=True,
            )
            return EXIT_INVALID
        undeclared = (r.key for r in rows)
        key = pick(name, undeclared, what="undeclared data set", where=settings.state_dir)
        rows = [r for r in rows if r.key == key]
    if not rows:
        click.echo("nothing to delete: every recorded data set is declared in ame.yaml", err=True)
        return EXIT_OK
    moment = now()
    events: list[Event] = []
    for row in rows:
        if row.status == "deleting":
            events.append(DeletionApproved(at=moment, project=row.project, dataset=row.name))
        else:
            events.append(
                DatasetUndeclared(
                    at=moment, project=row.project, dataset=row.name, delete_after=moment
                )
            )
    append(settings.state_dir, events)
    # A renamed project leaves its data sets under the old name: say which project they are of.
    names = [r.name if r.project == project.name else f"{r.project}/{r.name}" for r in rows]
    click.echo(f"deleting {', '.join(names)}")
    if not daemon_alive(settings.state_dir):
        click.echo(f"warning: {no_daemon_hint(settings.state_dir)}", err=True)
    return EXIT_OK
