"""`ame`: look at data sets and the spec. Reads the state database read-only and never needs
the daemon."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from amed.cli.complete import dataset_names
from amed.cli.ds_views import TABLE_COLUMNS, dataset_cells, plural, show_lines
from amed.cli.exits import EXIT_OK
from amed.cli.lazy import LazyCli
from amed.cli.list_json import json_rows, write_array
from amed.cli.names import find_dataset, several_projects
from amed.cli.options import ame_settings, ame_state_option, project_option, state_dir_for
from amed.cli.table import print_table
from amed.web.listing import dataset_document, manifest_summary
from state.read import StateReader


# Subcommands in modules of their own are imported only when called (`module:command`).
@click.group(
    cls=LazyCli,
    lazy={
        "events": "amed.cli.events_cmd:events",
        "state": "amed.cli.state_cmd:state",
        "status": "amed.cli.status_cmd:status",
        "store": "amed.cli.store_cmd:store",
        "task": "amed.cli.task_cmd:task",
    },
    aliases={"dataset": "ds"},
)
@click.version_option(package_name="amed")
def cli() -> None:
    """Inspect the data sets amed keeps."""


@click.group(
    cls=LazyCli,
    lazy={
        "delete": "amed.cli.delete_cmd:delete",
        "logs": "amed.cli.logs_cmd:logs",
        "pull": "amed.cli.pull_cmd:pull",
        "rebuild": "amed.cli.rebuild_cmd:rebuild",
    },
)
def ds() -> None:
    """Data sets (also: `ame dataset`)."""


cli.add_command(ds, "ds")


@ds.command("list")
@ame_state_option
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per data set.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed data sets.")
def ds_list(
    config_file: Path | None, state_dir: Path | None, as_json: bool, include_removed: bool
) -> int:
    """One row per data set."""
    found = state_dir_for(config_file, state_dir)
    if as_json:
        write_array(json_rows(found, include_removed=include_removed), sys.stdout)
        return EXIT_OK
    reader = StateReader.in_dir(found)
    rows = reader.datasets(include_removed=include_removed)
    reader.close()
    if not rows:
        click.echo(f"no data sets recorded in {reader.path.parent}", err=True)
        return EXIT_OK
    cells = [dataset_cells(r) for r in rows]
    if several_projects(r.project for r in rows):
        with_project = [(r.project, *c) for r, c in zip(rows, cells, strict=True)]
        print_table(("PROJECT", *TABLE_COLUMNS), with_project)
    else:
        print_table(TABLE_COLUMNS, cells)
    return EXIT_OK


@ds.command("show")
@ame_state_option
@click.option("--json", "as_json", is_flag=True)
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=dataset_names)
def ds_show(config_file: Path | None, state_dir: Path | None, as_json: bool, name: str) -> int:
    """A data set's details, its current manifest and its history from the event log."""
    settings = ame_settings(config_file, state_dir)
    reader = StateReader.in_dir(settings.state_dir)
    try:
        row = find_dataset(reader, name, settings.state_dir)
        history = list(reader.events(project=row.project, dataset=row.name))
        versions = reader.versions(row.project, row.name)
        state_id = reader.state_id()
        # Only the data sets made from it, found by SQLite: not a row object for each one.
        others, _ = reader.datasets_page(project=row.project, needs=row.name, limit=2**62)
    finally:
        reader.close()
    doc = dataset_document(row, versions, history, others)
    doc["manifest"] = manifest_summary(settings.storage_url, row, state_id)
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return EXIT_OK
    for line in show_lines(doc):
        click.echo(line)
    return EXIT_OK


def _spec_max_bytes() -> int:
    """The daemon's `spec.max_size` (AME_SPEC_MAX_SIZE or the config file), so that a file
    the daemon reads is valid here too; the default when the settings themselves do not
    read (their own error is the daemon's to report, not this check's)."""
    from amed.config import resolve
    from amed.config_checks import SPEC_MAX_BYTES
    from amed.errors import ConfigError

    try:
        return resolve({}).spec_max_bytes
    except ConfigError:
        return SPEC_MAX_BYTES


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON array of the problems (or, when valid, the warnings): file, line, column,"
    " path, message, severity.",
)
@project_option
@click.argument("file", required=False, type=click.Path(path_type=Path))
def validate(file: Path | None, project_dir: Path | None, as_json: bool) -> int:
    """Check an ame.yaml: FILE, else the one in --project DIR, $AME_PROJECT or the current
    directory; one line per problem, exit 2 if invalid."""
    import os

    from amed.cli.exits import EXIT_INVALID
    from amed.daemon.spec_file import spec_path
    from spec import SpecError, load_project

    if file is not None and project_dir is not None:
        raise click.UsageError("give FILE or --project DIR, not both")
    directory = (project_dir or Path(os.environ.get("AME_PROJECT") or ".")).absolute()
    path = file or spec_path(directory)
    try:
        if not path.exists():
            # spec's own line names `--project`, which FILE would not be given with.
            how = (
                "check the path"
                if file is not None
                else "run `ame validate` in the project directory, or name the directory "
                "(`--project DIR`, AME_PROJECT) or the file (`ame validate FILE`)"
            )
            raise SpecError(f"no such file; {how}", str(path))
        project = load_project(path, max_bytes=_spec_max_bytes())
    except SpecError as error:
        if not as_json:
            raise
        click.echo(json.dumps([problem.as_json() for problem in error.problems], indent=2))
        return EXIT_INVALID
    if as_json:
        click.echo(json.dumps([w.as_json() for w in project.warning_problems], indent=2))
        return EXIT_OK
    for warning in project.warnings:
        click.echo(warning, err=True)
    click.echo(
        f"{path}: valid: project {project.name}, "
        f"{plural(len(project.data_sets), 'data set')}, {plural(len(project.tasks), 'task')}"
    )
    return EXIT_OK


@cli.command()
def schema() -> int:
    """Print the JSON Schema of ame.yaml, for editors."""
    from spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def main() -> None:
    cli()
