"""`amed`: the daemon's command. `amed` alone means `amed run`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click_default_group import DefaultGroup

from amed import logs
from amed.cli.exits import Cli
from amed.cli.install_unit_cmd import install_unit
from amed.cli.options import config_option, settings_from, state_dir_option
from amed.config import Settings


class _AmedCli(Cli, DefaultGroup):  # type: ignore[misc]
    pass


@click.group(cls=_AmedCli, default="run", default_if_no_args=True)
@click.version_option(package_name="amed")
def cli() -> None:
    """amed keeps the data sets of an ame.yaml produced, stored and within budget."""


@cli.command()
@config_option
@click.option(
    "--project",
    "project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Project directory holding ame.yaml (default: the current directory).",
)
@state_dir_option
@click.option(
    "--storage", "storage_url", help="Object store URL: file://…, s3://bucket/prefix, memory://."
)
@click.option("--capacity", "capacity_bytes", help="amed's budget in the store, e.g. 500Gi.")
@click.option(
    "--engine",
    "engine_kind",
    type=click.Choice(["local", "ray"]),
    help="Where tasks run: local (default) or ray (jobs on a Ray cluster).",
)
@click.option(
    "--ray-address", "ray_address", help="Ray's Jobs API, e.g. http://ray-head:8265 (engine ray)."
)
@click.option(
    "--interval", "interval_seconds", type=float, help="Seconds between passes (default 10)."
)
@click.option(
    "--once",
    is_flag=True,
    help="One full pass, wait for its work, exit: 0 converged, 1 failed, 2 invalid.",
)
@click.option(
    "--http",
    "http_address",
    metavar="HOST:PORT",
    help="Serve the read-only dashboard here, e.g. 127.0.0.1:8321 (default: off).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --once: print what would be produced, evicted or blocked, and why; change nothing.",
)
@click.option(
    "--take-over",
    is_flag=True,
    help="Claim the project in the store even if another state dir holds it; that state's "
    "data under the project is then swept.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Log lines on stderr.",
)
def run(
    config_file: Path | None,
    once: bool,
    dry_run: bool,
    take_over: bool,
    log_format: str,
    **flags: object,
) -> int:
    """Reconcile the project's data sets, continuously or once."""
    from state.collector import collector_paused

    # The daemon's modules, most of what a start imports; frozen only when this imports them
    # (called again in one process, nothing is made but what the caller left to collect).
    with collector_paused(freeze="amed.daemon.service" not in sys.modules):
        from amed.daemon.service import run_forever, run_once

    logs.configure(json_lines=None if log_format == "auto" else log_format == "json")
    settings = settings_from(config_file, **flags)
    if dry_run:
        if not once:
            raise click.UsageError("--dry-run goes with --once")
        if take_over:
            raise click.UsageError("--take-over changes the store; it does not go with --dry-run")
        return _dry_run(settings)
    if once:
        return run_once(settings, take_over=take_over)
    # On SIGHUP: the same flags over the environment and config file as they are then.
    return run_forever(
        settings, reload=lambda: settings_from(config_file, **flags), take_over=take_over
    )


def _dry_run(settings: Settings) -> int:
    from amed.daemon.dryrun import dry_run
    from amed.daemon.spec_file import spec_path
    from spec import load_project

    project = load_project(spec_path(settings.project_dir), max_bytes=settings.spec_max_bytes)
    lines = dry_run(settings, project)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("nothing to do: the project is converged", err=True)
    return 0


cli.add_command(install_unit)


def main() -> None:
    cli()
