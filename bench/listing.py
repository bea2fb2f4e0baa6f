"""4. Listing: `ame ds list --json` over many data sets and a long event log, against the floor.

The floor is the fastest fair way to do the same work: one Python process that imports
`sqlite3`, has SQLite build the same columns as JSON (the query `ame` runs) and writes each
row to stdout as it comes. Both are run by the same interpreter, to a pipe, interleaved
sample by sample (the order swapped every round), after a `sync`. The log's length must not
matter: the listing reads the projection table, never the log.

Peak memory is the listing's own (the child's `ru_maxrss`) at ten times the data sets:
the listing streams, so it must not grow with them. That state's rows are copies, made
inside SQLite, of the recorded ones under new names; the listing reads only that table.
"""

from __future__ import annotations

import os
import sqlite3
from functools import partial
from pathlib import Path

from amed.cli.list_json import listing_sql
from bench import many
from bench.common import Result, clean_env, command, execute, in_turn, runs_for, scratch, timed

QUESTION = "4 listing"
TARGET_RATIO = 1.5
TARGET_PEAK_MB = 60.0
MEMORY_SCALE = 10

# The floor: Python's start-up, `import sqlite3`, the same query, rows written as they come.
FLOOR_CODE = """
import sqlite3, sys
out = sys.stdout
conn = sqlite3.connect(sys.argv[1], uri=True)
opening = "[\\n"
for (text,) in conn.execute(sys.argv[2]):
    out.write(opening)
    out.write(text)
    opening = ",\\n"
out.write("[]\\n" if opening == "[\\n" else "\\n]\\n")
"""

# `ame` itself, as its console script starts it.
AME_CODE = "from amed.cli.ame_entry import main\nmain()\n"


def run(quick: bool) -> list[Result]:
    count, events = (1_000, 100_000) if quick else (10_000, 1_000_000)
    runs = runs_for(quick)
    with scratch("listing") as root:
        state = root / "state"
        project = many.build(root / "project", state, count)
        db = state / "state.db"
        many.add_filler(db, project, events - many.event_count(db))
        total = many.event_count(db)
        listing, floor = _interleaved(state, count, runs)
        copies = root / "copies"
        _copy_state(state, copies, MEMORY_SCALE)
        peaks = tuple(_peak_mb(copies, AME_CODE, "ds", "list", "--json") for _ in range(runs))
        floor_peaks = tuple(
            _peak_mb(copies, FLOOR_CODE, *_floor(copies)[0][3:]) for _ in range(runs)
        )
    timing = Result(
        QUESTION,
        f"`ame ds list --json`, {count:,} data sets, {total:,} events",
        "s",
        listing,
        "python + sqlite3, same columns as JSON, one process",
        floor,
        target=f"≤ {TARGET_RATIO:g}× floor",
    )
    memory = Result(
        QUESTION,
        f"`ame ds list --json`, {count * MEMORY_SCALE:,} data sets: peak RSS",
        "MB",
        peaks,
        "the same floor",
        floor_peaks,
        target=f"≤ {TARGET_PEAK_MB:g} MB",
        met=max(peaks) <= TARGET_PEAK_MB,
    )
    ratio = timing.ratio
    return [
        Result(**{**timing.__dict__, "met": ratio is not None and ratio <= TARGET_RATIO}),
        memory,
    ]


def _ame(state: Path) -> tuple[list[str], dict[str, str]]:
    return [command("ame"), "ds", "list", "--json"], clean_env(AME_STATE_DIR=str(state))


def _floor(state: Path) -> tuple[list[str], dict[str, str]]:
    uri = f"{(state / 'state.db').resolve().as_uri()}?mode=ro"
    argv = [command("python"), "-c", FLOOR_CODE, uri, listing_sql(include_removed=False)]
    return argv, clean_env()


def _interleaved(state: Path, count: int, runs: int) -> tuple[tuple[float, ...], ...]:
    """amed's samples and the floor's, one of each in turn, the order swapped every round;
    both checked to list every data set first."""
    for argv, env in (_ame(state), _floor(state)):
        listed = execute(argv, env=env).stdout.count('"name"')
        if listed != count:
            raise RuntimeError(f"{argv[0]} listed {listed} data sets, not {count}")
    listing: list[float] = []
    floor: list[float] = []
    sides = ((listing, _ame(state)), (floor, _floor(state)))
    for round_ in range(runs):
        for samples, (argv, env) in in_turn(sides, round_):
            os.sync()
            samples.append(timed(partial(execute, argv, env=env)))
    return tuple(listing), tuple(floor)


def _peak_mb(state: Path, code: str, *args: str) -> float:
    """The peak resident set (VmHWM) of a Python process running `code`, read by the
    process itself as it exits: the kernel's rusage of a child would also count what the
    parent held when it forked."""
    report = (
        "import atexit, sys\n"
        "def _report():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            sys.stderr.write(line)\n"
        "atexit.register(_report)\n"
    )
    argv = [command("python"), "-c", report + code, *args]
    proc = execute(argv, env=clean_env(AME_STATE_DIR=str(state)))
    kib = next(int(x.split()[1]) for x in proc.stderr.splitlines() if x.startswith("VmHWM:"))
    return kib / 1024


def _copy_state(source: Path, target: Path, scale: int) -> None:
    """A state with `scale` times the data sets: the rows of `source`, copied under new
    names (`<name>-c<k>`), in one transaction."""
    target.mkdir()
    conn = sqlite3.connect(source / "state.db")
    try:
        conn.execute("VACUUM INTO ?", (str(target / "state.db"),))
    finally:
        conn.close()
    conn = sqlite3.connect(target / "state.db", isolation_level=None)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(datasets)")]
        conn.execute("BEGIN IMMEDIATE")
        for k in range(1, scale):
            picked = ", ".join(f"name || '-c{k}'" if c == "name" else c for c in columns)
            conn.execute(
                f"INSERT INTO datasets ({', '.join(columns)}) "
                f"SELECT {picked} FROM datasets WHERE name NOT LIKE '%-c%'"
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
