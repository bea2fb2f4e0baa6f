"""`ame events`: the event log, oldest first, filtered in SQLite.

Every filter (`--type`, `--since`, `--dataset`, `-n`) is part of the log's one query
(`StateReader.events`, state.history), so only the events shown are decoded.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import click

from amed.cli.complete import dataset_names
from amed.cli.event_lines import event_json, event_line
from amed.cli.exits import EXIT_OK
from amed.cli.names import find_dataset
from amed.cli.options import ame_state_option, state_dir_for
from state.read import StateReader

FOLLOW_POLL_SECONDS = 0.5
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def event_types() -> list[str]:
    """Every type the log may hold, from the event models themselves."""
    from state.events import Event

    union = get_args(Event)[0]
    return sorted(model.model_fields["type"].default for model in get_args(union))


def parse_since(text: str, now: datetime) -> datetime:
    """A duration back from `now` (`90s`, `10m`, `1h30m`, `2d`, `1w`) or a time in ISO 8601
    (`2026-05-01`, `2026-05-01T12:00`, `...Z`, `...+02:00`; without an offset, UTC, as
    every time amed shows). ValueError says what is accepted."""
    compact = text.strip().replace(" ", "")
    if compact and _DURATION_PART.sub("", compact) == "":
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(compact))
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(compact)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90s, 10m, 1h30m, 2d, 1w) nor a time "
            "(2026-05-01, 2026-05-01T12:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    except OverflowError:  # a duration or a time beyond what a date can hold
        raise click.BadParameter(
            f"{value!r} reaches past the dates amed can read", ctx, param
        ) from None


def _types(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Each one of the log's types; the known ones are listed on a mistake."""
    known = event_types() if value else []
    for name in value:
        if name not in known:
            message = f"{name!r} is not an event type (one of: {', '.join(known)})"
            raise click.BadParameter(message, ctx, param)
    return value


def _complete_types(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [name for name in event_types() if name.startswith(incomplete)]


@click.command("events")
@ame_state_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they come.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.option(
    "--dataset",
    metavar="[PROJECT/]NAME",
    help="Only this data set's events.",
    shell_complete=dataset_names,
)
@click.option(
    "--type",
    "types",
    metavar="TYPE",
    multiple=True,
    callback=_types,
    shell_complete=_complete_types,
    help="Only events of this type (repeat for several), e.g. run_failed.",
)
@click.option(
    "--since",
    metavar="DURATION|TIME",
    callback=_since,
    help="Only events from this long ago (10m, 2h, 1d) or since this time (ISO 8601, UTC "
    "unless it says otherwise).",
)
@click.option(
    "-n",
    "--lines",
    "last",
    type=click.IntRange(min=0),
    metavar="N",
    help="Only the last N that match.",
)
def events(
    config_file: Path | None,
    state_dir: Path | None,
    follow: bool,
    as_json: bool,
    dataset: str | None,
    types: tuple[str, ...],
    since: datetime | None,
    last: int | None,
) -> int:
    """The event log, oldest first."""
    # Following may start before the daemon has made the database: it then waits for it.
    found = state_dir_for(config_file, state_dir, must_exist=not follow)
    project = None
    if dataset is not None:
        # A name the state does not know is a mistake to say, not an empty log to show
        # (unless following a state not made yet: its names are still to come).
        reader = StateReader.in_dir(found)
        try:
            if reader.exists:
                row = find_dataset(reader, dataset, found)
                project, dataset = row.project, row.name
        finally:
            reader.close()
    seen = 0
    first = True
    while True:
        reader = StateReader.in_dir(found)
        if reader.exists:
            try:
                # Up to the log's end as it is now, shown or not; the next pass starts there.
                top = reader.last_event_id()
                logged = reader.events(
                    after_id=seen,
                    until_id=top,
                    dataset=dataset,
                    project=project,
                    types=types,
                    since=since,
                    last=last if first else None,
                )
                for item in logged:
                    line = event_json(item.id, item.event)
                    click.echo(json.dumps(line) if as_json else event_line(line))
                seen = top
            finally:
                reader.close()
            first = False
        if not follow:
            return EXIT_OK
        sys.stdout.flush()
        time.sleep(FOLLOW_POLL_SECONDS)
