"""`/metrics` at many data sets: the exposition from SQL sums (`amed.web.metrics.scrape`)
against the same exposition with the bytes held and reserved added up from the full tables
loaded as rows (`usage_of(reader.observed())`, as the scrape did before).

Both build the same text (a test holds them to it, line for line) from the same state, in
the same process, each sample with a fresh read-only reader, interleaved sample by sample
(the order reversed every round) after a `sync`. The log is given a realistic length with
filler events, which both read alike (the counters and the run histogram are counted by
SQLite in both).

`python -m bench` runs it as question 13 (`--only metrics`); `python -m bench.metrics_scrape
[--quick]` alone prints its figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections import Counter
from functools import partial
from pathlib import Path

from amed.plan.capacity import usage_of
from amed.web.metrics import RUN_SECONDS_BOUNDS, Detail, RunSeconds, metrics_text, scrape
from bench import many
from bench.common import Result, in_turn, runs_for, scratch, timed
from state.read import StateReader

QUESTION = "13 metrics scrape"
CAPACITY_BYTES = 2**40


def run(quick: bool) -> list[Result]:
    count, events = (1_000, 10_000) if quick else (10_000, 200_000)
    runs = runs_for(quick)
    with scratch("metrics") as root:
        state = root / "state"
        project = many.build(root / "project", state, count)
        many.add_filler(state / "state.db", project, events - many.event_count(state / "state.db"))
        assert _sql(state) == _full_tables(state)
        assert _usage_sql(state) == _usage_rows(state)
        ours: list[float] = []
        before: list[float] = []
        sums: list[float] = []
        rows: list[float] = []
        steps = (
            (ours, partial(_sql, state)),
            (before, partial(_full_tables, state)),
            (sums, partial(_usage_sql, state)),
            (rows, partial(_usage_rows, state)),
        )
        for index in range(runs):
            for into, step in in_turn(steps, index):
                os.sync()
                into.append(timed(step))
    return [
        Result(
            QUESTION,
            f"/metrics text, {count:,} data sets, {events:,} events",
            "s",
            tuple(ours),
            baseline_name="usage from the full tables",
            baseline=tuple(before),
            speed=True,
            target="faster than the full tables",
            met=None if quick else statistics.median(ours) < statistics.median(before),
        ),
        Result(
            QUESTION,
            f"bytes held and reserved alone, {count:,} data sets",
            "s",
            tuple(sums),
            baseline_name="usage_of(reader.observed())",
            baseline=tuple(rows),
            speed=True,
        ),
    ]


def _usage_sql(state: Path) -> tuple[int, int]:
    reader = StateReader.in_dir(state)
    try:
        return reader.usage_bytes()
    finally:
        reader.close()


def _usage_rows(state: Path) -> tuple[int, int]:
    reader = StateReader.in_dir(state)
    try:
        usage = usage_of(reader.observed(), capacity_bytes=None, disk_free_bytes=None)
        return usage.held_bytes, usage.reserved_bytes
    finally:
        reader.close()


def _sql(state: Path) -> str:
    reader = StateReader.in_dir(state)
    try:
        return scrape(reader, capacity_bytes=CAPACITY_BYTES, disk_free_bytes=None)
    finally:
        reader.close()


def _full_tables(state: Path) -> str:
    reader = StateReader.in_dir(state)
    try:
        datasets = reader.dataset_states()
        cumulative, count, total = reader.run_seconds_histogram(RUN_SECONDS_BOUNDS)
        usage = usage_of(reader.observed(), capacity_bytes=CAPACITY_BYTES, disk_free_bytes=None)
        return metrics_text(
            status_counts=Counter(d.status for d in datasets),
            usage=usage,
            event_counts=reader.event_counts(),
            alerts_firing=sum(1 for a in reader.alerts() if a.firing),
            detail=Detail(
                datasets=datasets,
                channels=reader.channels(),
                daemon=reader.daemon(),
                run_seconds=RunSeconds(cumulative, count, total),
            ),
        )
    finally:
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_scrape", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for result in run(args.quick):
        print(json.dumps(result.as_json(), indent=2))


if __name__ == "__main__":
    main()
