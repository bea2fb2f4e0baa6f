"""4. Listing: `ame ds list --json` over many data sets and a long event log, against the floor.

The floor is what no Python listing can beat: Python's start-up with `import sqlite3`, plus
the `sqlite3` CLI reading the same rows (`-json`). The log's length must not matter: the
listing reads the projection table, never the log.
"""

from __future__ import annotations

from bench import many
from bench.common import Result, clean_env, command, execute, runs_for, sample, scratch, timed
from bench.noop_pass import floor_seconds

QUESTION = "4 listing"
TARGET_RATIO = 2.0


def run(quick: bool) -> list[Result]:
    count, events = (1_000, 100_000) if quick else (10_000, 1_000_000)
    with scratch("listing") as root:
        project = many.build(root / "project", root / "state", count)
        db = root / "state" / "state.db"
        many.add_filler(db, project, events - many.event_count(db))
        total = many.event_count(db)
        env = clean_env(AME_STATE_DIR=str(root / "state"))
        argv = [command("ame"), "ds", "list", "--json"]
        rows = execute(argv, env=env).stdout.count('"name"')
        if rows != count:
            raise RuntimeError(f"ame ds list --json listed {rows} data sets, not {count}")
        listing = sample(lambda: timed(lambda: execute(argv, env=env)), runs_for(quick))
        floor = sample(lambda: floor_seconds(db), runs_for(quick))
    result = Result(
        QUESTION,
        f"`ame ds list --json`, {count:,} data sets, {total:,} events",
        "s",
        listing,
        "python+sqlite3 floor",
        floor,
        target=f"≤ {TARGET_RATIO:.0f}× floor",
    )
    ratio = result.ratio
    return [
        Result(**{**result.__dict__, "met": ratio is not None and ratio <= TARGET_RATIO}),
    ]
