"""`ame task list | run | logs`: tasks, with the runs that consume data sets and the runs
that produce them (a data set's producing task runs when the data set is made)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click

from amed.cli.complete import task_names
from amed.cli.exits import EXIT_FAILED, EXIT_OK, Cli
from amed.cli.logs_cmd import POLL_SECONDS, pick_run, print_run_log
from amed.cli.names import pick, several_projects
from amed.cli.options import ame_settings, ame_state_option, project_option, state_dir_for
from amed.cli.requests import append, daemon_alive, no_daemon_hint, now
from amed.cli.table import one_line, print_table
from amed.run_ids import consumer_run_id, manual_request_id
from amed.web.listing import age
from state.history import RunRecord
from state.read import StateReader
from state.rows import DatasetRow, TaskRow
from state.timefmt import format_time, parse_time


@click.group(cls=Cli)
def task() -> None:
    """Tasks: those that consume data sets, and those that produce them."""


def task_json(
    key: tuple[str, str],
    row: TaskRow | None,
    produces: Sequence[DatasetRow] = (),
    producing: Sequence[RunRecord] = (),
) -> dict[str, object]:
    """A task's consumer row (None: it only produces) merged with its producing runs: the
    status, last run, times and error are those of its latest run of either kind."""
    project, name = key
    latest = _latest(row, producing)
    running = [r for r in producing if r.ok is None]
    if running:
        status = "running"
    elif row is not None and (row.status in ("waiting", "running") or latest is None):
        status = row.status
    elif isinstance(latest, RunRecord):
        status = "succeeded" if latest.ok else "failed"
    else:
        status = row.status if row is not None else "idle"
    if isinstance(latest, RunRecord):
        last_run_id = latest.run_id
        started_at = latest.started_at
        finished_at = latest.ended_at
        error = None if latest.ok is not False else latest.reason
    else:
        last_run_id = row.last_run_id if row is not None else None
        started_at = _when(row.started_at if row is not None else None)
        finished_at = _when(row.finished_at if row is not None else None)
        error = row.error if row is not None else None
    return {
        "name": name,
        "project": project,
        "status": status,
        "schedule": row.schedule if row is not None else None,
        "data_sets": _uses(row, produces),
        "produces": [d.name for d in produces],
        "run_id": (row.run_id if row is not None else None)
        or (running[-1].run_id if running else None),
        "last_run_id": last_run_id,
        "requested_at": _when(row.requested_at if row is not None else None),
        "started_at": started_at,
        "finished_at": finished_at,
        "runs": (row.runs if row is not None else 0) + len(producing),
        "failures": (row.failures if row is not None else 0)
        + sum(1 for r in producing if r.ok is False),
        "error": error,
    }


def _uses(row: TaskRow | None, produces: Sequence[DatasetRow]) -> list[str]:
    """The data sets the task needs: a consumer's own, and the inputs of the data sets it
    produces (a producing task gets them placed as a consumer does), each once."""
    uses = list(row.data_sets) if row is not None else []
    for data_set in produces:
        uses += [name for name in data_set.inputs if name not in uses]
    return uses


def _when(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def _latest(row: TaskRow | None, producing: Sequence[RunRecord]) -> TaskRow | RunRecord | None:
    """The run that started last: the consumer's (its row) or a producing one."""
    last = max(producing, key=lambda r: r.seq, default=None)
    consumed_at = row.started_at if row is not None else None
    if last is None or last.started_at is None:
        return row if consumed_at is not None else last
    if consumed_at is not None and consumed_at > parse_time(last.started_at):
        return row
    return last


def task_views(reader: StateReader) -> list[dict[str, object]]:
    """Every task the state knows: consumers from the tasks table, and each data set's
    producing task (a project task, or one written inline under the data set)."""
    rows = {r.key: r for r in reader.tasks()}
    producers: dict[tuple[str, str], list[DatasetRow]] = {}
    for data_set in reader.datasets():
        producers.setdefault((data_set.project, data_set.task), []).append(data_set)
    views = []
    for key in sorted(set(rows) | set(producers)):
        produces = producers.get(key, [])
        producing = [r for d in produces for r in reader.producing_runs(d.project, d.name)]
        views.append(task_json(key, rows.get(key), produces, producing))
    return views


@task.command("list")
@ame_state_option
@click.option("--json", "as_json", is_flag=True)
def task_list(config_file: Path | None, state_dir: Path | None, as_json: bool) -> int:
    """One row per task: its state, and its last run of either kind."""
    found = state_dir_for(config_file, state_dir)
    reader = StateReader.in_dir(found)
    try:
        views = task_views(reader)
    finally:
        reader.close()
    if as_json:
        click.echo(json.dumps(views, indent=2))
        return EXIT_OK
    if not views:
        click.echo(f"no tasks recorded in {found}", err=True)
        return EXIT_OK
    moment = now()

    def ago(text: object) -> str:
        return age(parse_time(text), moment) if isinstance(text, str) else "-"

    columns: tuple[str, ...] = (
        "NAME", "STATUS", "USES", "PRODUCES", "SCHEDULE", "LAST RUN", "ENDED", "ERROR",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [
        (
            str(v["name"]),
            str(v["status"]),
            ",".join(v["data_sets"]) or "-",  # type: ignore[arg-type]
            ",".join(v["produces"]) or "-",  # type: ignore[arg-type]
            str(v["schedule"] or "-"),
            str(v["last_run_id"] or "-"),
            ago(v["finished_at"]),
            one_line(str(v["error"] or "")),
        )
        for v in views
    ]
    if several_projects(str(v["project"]) for v in views):
        columns = ("PROJECT", *columns)
        rows = [(str(v["project"]), *cells) for v, cells in zip(views, rows, strict=True)]
    print_table(columns, rows)
    return EXIT_OK


@task.command("run")
@ame_state_option
@project_option
@click.option("--wait", is_flag=True, help="Wait for the run to end; exit 0 if it succeeded.")
@click.option("--quiet", "-q", is_flag=True, help="Only the run's id, and errors.")
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=task_names)
def task_run(
    config_file: Path | None,
    state_dir: Path | None,
    project_dir: Path | None,
    wait: bool,
    quiet: bool,
    name: str,
) -> int:
    """Ask the daemon to run a task once its data sets are ready; print the run's id."""
    from amed.daemon.spec_file import spec_path
    from spec import SpecError, load_project

    # The request may be the state's first event: no database yet is no error here.
    settings = ame_settings(config_file, state_dir, must_exist=False, project_dir=project_dir)
    try:
        project = load_project(spec_path(settings.project_dir), max_bytes=settings.spec_max_bytes)
    except SpecError:
        project = None
    reader = StateReader.in_dir(settings.state_dir)
    known = {(r.project, r.name) for r in reader.tasks()}
    mark = reader.last_event_id()
    reader.close()
    if project is not None:
        known |= {(project.name, t.name) for t in project.tasks}
    where = f"ame.yaml or {settings.state_dir}" if project is not None else settings.state_dir
    project_name, name = pick(name, known, what="task", where=where)
    from state.events import TaskRequested

    request_id = manual_request_id(name)
    run_id = consumer_run_id(request_id)
    append(
        settings.state_dir,
        [
            TaskRequested(
                at=now(), project=project_name, task=name, request_id=request_id, reason="manual"
            )
        ],
    )
    click.echo(run_id)
    if not quiet:
        click.echo(
            f"requested: {name} runs once its data sets are ready, as run {run_id} "
            f"(`ame task logs {name} --run {run_id} --follow`)",
            err=True,
        )
    if not daemon_alive(settings.state_dir):
        hint = no_daemon_hint(settings.state_dir)
        if wait:
            click.echo(f"error: the request is recorded, but {hint}", err=True)
            return EXIT_FAILED
        click.echo(f"warning: {hint}", err=True)
        return EXIT_OK
    if not wait:
        return EXIT_OK
    return _wait_for_request(settings.state_dir, project_name, name, request_id, mark, quiet)


def _wait_for_request(
    state_dir: Path, project: str, name: str, request_id: str, after_id: int, quiet: bool
) -> int:
    """Until the request's run ends (as the event log tells it), or the daemon stops."""
    reader = StateReader.in_dir(state_dir)
    try:
        while True:
            ended = [
                r
                for r in reader.task_runs(project, name, after_id=after_id)
                if r.request_id == request_id and r.ok is not None
            ]
            if ended:
                run = ended[-1]
                outcome = "succeeded" if run.ok else f"failed: {run.reason or 'failed'}"
                if not quiet or not run.ok:
                    click.echo(f"{run.run_id or request_id}: {outcome}", err=True)
                return EXIT_OK if run.ok else EXIT_FAILED
            daemon = reader.daemon()
            if daemon is None or not daemon.alive_at(now()):
                click.echo(
                    f"error: {request_id} has not ended and {no_daemon_hint(state_dir)}", err=True
                )
                return EXIT_FAILED
            time.sleep(POLL_SECONDS)
    finally:
        reader.close()


@task.command("logs")
@ame_state_option
@click.option("--run", "run_id", help="This run's output (default: the current or last run).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.argument("name", metavar="[PROJECT/]NAME", shell_complete=task_names)
def task_logs(
    config_file: Path | None, state_dir: Path | None, run_id: str | None, follow: bool, name: str
) -> int:
    """The output of the task's current or last run, consuming or producing."""
    found = state_dir_for(config_file, state_dir)
    reader = StateReader.in_dir(found)
    try:
        every = reader.datasets(include_removed=True)
        keys = {r.key for r in reader.tasks()} | {(d.project, d.task) for d in every}
        project, name = pick(name, keys, what="task", where=found)
        rows = [r for r in reader.tasks() if r.key == (project, name)]
        produced = [d for d in every if (d.project, d.task) == (project, name)]
        runs = [r for row in rows for r in reader.task_runs(row.project, name)]
        runs += [r for d in produced for r in reader.producing_runs(d.project, d.name)]
    finally:
        reader.close()
    runs.sort(key=lambda r: r.seq)
    current = next(
        (r for r in [*(t.run_id for t in rows), *(d.run_id for d in produced)] if r), None
    )
    run = pick_run(runs, run_id, current=current, what=f"task {name!r}")
    if run is None:
        return EXIT_FAILED

    def refresh(reader: StateReader) -> RunRecord | None:
        if run.dataset is not None:
            again = reader.producing_runs(project, run.dataset)
        else:
            again = reader.task_runs(project, name)
        return next((r for r in again if r.seq == run.seq), None)

    return print_run_log(found, run, refresh if follow else None)
