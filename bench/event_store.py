"""5. Event store: appends per second, one event per transaction, against raw sqlite3; and
the start after an unclean stop with a long log.

amed: `StateStore.append([event])` over a state of 1,000 ready data sets, with the events a
producing cycle appends (`run_started`, `run_succeeded`, `version_stored`, and the
`version_deleted` of the superseded version), built before the clock starts.
Baseline: the same number of transactions on a database of the same schema and pragmas,
each one `INSERT` into `events` and one `INSERT OR REPLACE` of the data set's row, with
statements and JSON prepared in advance: what SQLite itself can do here. Samples of the two
interleaved, the order swapped every round, `sync` before each.

Start after an unclean stop: a state of 1,000 ready data sets and 1,000,000 events, the
last checkpoint (state.checkpoint) as far behind as it can be (one event short of the next
one), and no clean stop recorded. Timed: opening the state and checking its tables, as the
daemon's start does (`why_check`, then `check`), `sync` before each sample. The target is
absolute: a replay of the whole log (`ame state check`, what every such start did before
checkpoints) is no faster way to do the same work, so it is no baseline; it is timed once,
for scale (five replays of a million events were most of this part's time).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

from bench import many
from bench.common import Result, drop_dirty_pages, in_turn, runs_for, scratch, timed
from state import checkpoint
from state.events import Event, RunStarted, RunSucceeded, VersionDeleted, VersionStored

QUESTION = "5 event store"
TARGET_RATIO = 0.5
DATA_SETS = 1_000
START_EVENTS = 1_000_000
START_EVENTS_QUICK = 30_000
START_TARGET_SECONDS = 1.0


def run(quick: bool) -> list[Result]:
    # One checkpoint's worth: every sample pays for one checkpoint, as a running daemon does.
    events_per_sample = 2_000 if quick else checkpoint.MIN_EVENTS_BETWEEN
    amed: list[float] = []
    raw: list[float] = []
    with scratch("events") as root:
        project = many.build(root / "project", root / "state", DATA_SETS)
        names = [d.name for d in project.data_sets]
        spec_hash = {d.name: d.spec_hash for d in project.data_sets}
        version = {name: 1 for name in names}
        for index in range(runs_for(quick)):
            events = _cycle_events(names, spec_hash, version, events_per_sample)
            for side in in_turn(("amed", "raw"), index):
                drop_dirty_pages()
                if side == "amed":
                    amed.append(_append_rate(root / "state", events))
                else:
                    raw.append(_raw_rate(root / f"raw{index}", events_per_sample))
    result = Result(
        QUESTION,
        f"appends, one event per transaction ({DATA_SETS:,} data sets in the state)",
        "events/s",
        tuple(amed),
        "raw sqlite3, same pragmas",
        tuple(raw),
        target=f"≥ {TARGET_RATIO}× raw",
    )
    appends = Result(**{**result.__dict__, "met": (result.ratio or 0) >= TARGET_RATIO})
    return [appends, _unclean_start(quick)]


def _unclean_start(quick: bool) -> Result:
    from state.connection import connect, immediate
    from state.db import StateStore

    total = START_EVENTS_QUICK if quick else START_EVENTS
    with scratch("unclean-start") as root:
        state_dir = root / "state"
        project = many.build(root / "project", state_dir, DATA_SETS)
        names = [d.name for d in project.data_sets]
        spec_hash = {d.name: d.spec_hash for d in project.data_sets}
        tail = checkpoint.MIN_EVENTS_BETWEEN - 1
        many.add_filler(state_dir / "state.db", project, total - tail - 4 * DATA_SETS)
        conn = connect(state_dir / "state.db")
        try:  # where the appends of a running daemon would have left the last checkpoint
            with immediate(conn):
                last_id = conn.execute("SELECT max(id) FROM events").fetchone()[0]
                checkpoint.take(conn, last_id)
        finally:
            conn.close()
        with StateStore.in_dir(state_dir) as state:
            events = _cycle_events(names, spec_hash, dict.fromkeys(names, 1), tail)
            for first in range(0, len(events), 1_000):
                state.append(events[first : first + 1_000])
        logged = many.event_count(state_dir / "state.db")

        def start(full: bool) -> None:
            with StateStore.in_dir(state_dir) as state:
                reason = state.why_check()
                assert reason is not None, "no clean stop was recorded"
                assert state.check(full=full) == []

        amed: list[float] = []
        for _ in range(runs_for(quick)):
            drop_dirty_pages()
            amed.append(timed(partial(start, False)))
        drop_dirty_pages()
        replay = timed(partial(start, True))
    median = statistics.median(amed)
    return Result(
        QUESTION,
        f"start after an unclean stop: tables checked ({logged:,} events, {DATA_SETS:,} "
        f"data sets, {tail:,} after the last checkpoint)",
        "s",
        tuple(amed),
        target=f"≤ {START_TARGET_SECONDS:g} s",
        met=None if quick else median <= START_TARGET_SECONDS,
        note=f"for scale only, not a baseline: one replay of the whole log {replay:.1f} s",
    )


def _cycle_events(
    names: list[str], spec_hash: dict[str, str], version: dict[str, int], count: int
) -> list[Event]:
    events: list[Event] = []
    index = 0
    while len(events) < count:
        name = names[index % len(names)]
        index += 1
        old = version[name]
        new = old + 1
        version[name] = new
        at = many.STARTED_AT + timedelta(days=2, milliseconds=len(events))
        run_id = f"{name}-v{new}-bench"
        common = {"at": at, "project": many.PROJECT, "dataset": name}
        events += [
            RunStarted(
                **common,
                run_id=run_id,
                version=new,
                spec_hash=spec_hash[name],
                task="produce",
                attempt=1,
            ),
            RunSucceeded(**common, run_id=run_id, seconds=0.1),
            VersionStored(
                **common,
                run_id=run_id,
                version=new,
                spec_hash=spec_hash[name],
                size_bytes=1024,
                files=1,
                seconds=0.1,
            ),
            VersionDeleted(**common, version=old, reason="superseded", objects=2),
        ]
    return events[:count]


def _append_rate(state_dir: Path, events: list[Event]) -> float:
    from state.db import StateStore

    with StateStore.in_dir(state_dir) as state:
        started = time.perf_counter()
        for event in events:
            state.append([event])
        seconds = time.perf_counter() - started
    return len(events) / seconds


def _raw_rate(state_dir: Path, count: int) -> float:
    from state.connection import connect
    from state.db import StateStore

    StateStore.in_dir(state_dir).close()  # the same schema, made by amed itself
    conn = connect(state_dir / "state.db")
    columns = (
        "project, name, status, path, task, spec_hash, declared_size_bytes, updated_at, "
        "version, size_bytes, files, last_version, attempts"
    )
    upsert = f"INSERT OR REPLACE INTO datasets ({columns}) VALUES ({', '.join('?' * 13)})"
    insert = "INSERT INTO events (at, type, project, dataset, data) VALUES (?, ?, ?, ?, ?)"
    data = json.dumps({"run_id": "d00001-v2-bench", "seconds": 0.1}, separators=(",", ":"))
    try:
        started = time.perf_counter()
        for index in range(count):
            name = f"d{index % DATA_SETS:05d}"
            at = f"2026-01-03T00:00:{index % 60:02d}.000Z"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(insert, (at, "run_succeeded", many.PROJECT, name, data))
            conn.execute(
                upsert,
                (
                    many.PROJECT,
                    name,
                    "uploading",
                    f"d/{name}",
                    "produce",
                    "0" * 64,
                    None,
                    at,
                    1,
                    1024,
                    1,
                    index,
                    0,
                ),
            )
            conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return count / seconds
