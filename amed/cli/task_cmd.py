"""`ame task list | run | logs`: tasks that consume data sets."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import click

from amed.cli.exits import EXIT_FAILED, EXIT_OK, Cli
from amed.cli.options import config_option, settings_from, state_dir_option
from amed.cli.requests import append, daemon_alive, no_daemon_hint, now
from amed.cli.table import print_table
from amed.web.listing import age
from state.read import StateReader
from state.rows import TaskRow
from state.timefmt import format_time


@click.group(cls=Cli)
def task() -> None:
    """Tasks that consume data sets."""


def task_json(row: TaskRow) -> dict[str, object]:
    def when(moment: object) -> str | None:
        return format_time(moment) if moment is not None else None  # type: ignore[arg-type]

    return {
        "name": row.name,
        "project": row.project,
        "status": row.status,
        "schedule": row.schedule,
        "data_sets": list(row.data_sets),
        "run_id": row.run_id,
        "last_run_id": row.last_run_id,
        "requested_at": when(row.requested_at),
        "started_at": when(row.started_at),
        "finished_at": when(row.finished_at),
        "runs": row.runs,
        "failures": row.failures,
        "error": row.error,
    }


@task.command("list")
@config_option
@state_dir_option
@click.option("--json", "as_json", is_flag=True)
def task_list(config_file: Path | None, state_dir: Path | None, as_json: bool) -> int:
    """One row per task the daemon knows."""
    settings = settings_from(config_file, state_dir=state_dir)
    reader = StateReader.in_dir(settings.state_dir)
    rows = reader.tasks()
    reader.close()
    if as_json:
        click.echo(json.dumps([task_json(r) for r in rows], indent=2))
        return EXIT_OK
    if not rows:
        click.echo(f"no tasks recorded in {settings.state_dir}", err=True)
        return EXIT_OK
    moment = now()
    print_table(
        ("NAME", "STATUS", "USES", "SCHEDULE", "LAST RUN", "ERROR"),
        [
            (
                r.name,
                r.status,
                ",".join(r.data_sets) or "-",
                r.schedule or "-",
                age(r.finished_at, moment) if r.finished_at else "-",
                (r.error or "").splitlines()[0][:60] if r.error else "",
            )
            for r in rows
        ],
    )
    return EXIT_OK


@task.command("run")
@config_option
@state_dir_option
@click.argument("name")
def task_run(config_file: Path | None, state_dir: Path | None, name: str) -> int:
    """Ask the daemon to run a task once its data sets are ready."""
    from amed.daemon.service import spec_path
    from spec import SpecError, load_project

    settings = settings_from(config_file, state_dir=state_dir)
    try:
        project = load_project(spec_path(settings.project_dir))
    except SpecError:
        project = None
    reader = StateReader.in_dir(settings.state_dir)
    known = {(r.project, r.name) for r in reader.tasks()}
    reader.close()
    if project is not None and project.task(name) is not None:
        project_name = project.name
    elif matches := sorted(p for p, n in known if n == name):
        project_name = matches[0]
    else:
        click.echo(f"error: no task named {name!r} in ame.yaml or {settings.state_dir}", err=True)
        return EXIT_FAILED
    from state.events import TaskRequested

    request_id = f"{name}-{secrets.token_hex(4)}"
    append(
        settings.state_dir,
        [
            TaskRequested(
                at=now(), project=project_name, task=name, request_id=request_id, reason="manual"
            )
        ],
    )
    click.echo(f"requested {request_id}: {name} runs once its data sets are ready")
    if not daemon_alive(settings.state_dir):
        click.echo(f"warning: {no_daemon_hint(settings.state_dir)}", err=True)
    return EXIT_OK


@task.command("logs")
@config_option
@state_dir_option
@click.argument("name")
def task_logs(config_file: Path | None, state_dir: Path | None, name: str) -> int:
    """The output of the task's current or last run."""
    settings = settings_from(config_file, state_dir=state_dir)
    reader = StateReader.in_dir(settings.state_dir)
    rows = [r for r in reader.tasks() if r.name == name]
    reader.close()
    run_id = (rows[0].run_id or rows[0].last_run_id) if rows else None
    if run_id is None:
        click.echo(f"error: task {name!r} has not run yet", err=True)
        return EXIT_FAILED
    log = settings.state_dir / "runs" / run_id / "output.log"
    if not log.exists():
        click.echo(f"error: {log}: no output kept for run {run_id}", err=True)
        return EXIT_FAILED
    with log.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            sys.stdout.buffer.write(chunk)
    return EXIT_OK
