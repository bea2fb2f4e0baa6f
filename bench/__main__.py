"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print a markdown table.

The full run also rewrites bench/RESULTS.md (figures, machine, date). A benchmark that
crashes is reported as a row and makes the exit status 1, so CI notices a broken script;
a missed target does not (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

from bench.common import Result, not_measured
from bench.report import machine_lines, markdown_table, write_results

BENCHMARKS: dict[str, str] = {
    "storing": "bench.storing",
    "dvc": "bench.dvc_e2e",
    "noop": "bench.noop_pass",
    "listing": "bench.listing",
    "events": "bench.event_store",
    "memory": "bench.memory",
    "reaction": "bench.reaction",
    "produce_once": "bench.produce_once",
    "run_end": "bench.run_end",
    "datasets": "bench.datasets_read",
    "s3_upload": "bench.s3_upload",
    "ray": "bench.ray_overhead",
    "metrics": "bench.metrics_scrape",
}
RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small version of each")
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), help="run only this (repeatable)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    results: list[Result] = []
    crashed = False
    started = time.monotonic()
    for name in names:
        began = time.monotonic()
        sys.stderr.write(f"bench: {name} ...\n")
        sys.stderr.flush()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            found: list[Result] = module.run(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken script must not hide the others
            traceback.print_exc(file=sys.stderr)
            found = [not_measured(name, "(crashed)", f"error: {exc}")]
            crashed = True
        results.extend(found)
        sys.stderr.write(f"bench: {name} done in {time.monotonic() - began:.0f} s\n")
    seconds = time.monotonic() - started
    table = markdown_table(results)
    sys.stdout.write(table + "\n")
    sys.stdout.write(f"\n{len(results)} figures in {seconds:.0f} s\n")
    if args.json:
        args.json.write_text(json.dumps([r.as_json() for r in results], indent=1) + "\n")
    if not args.quick and args.only is None:
        write_results(RESULTS_FILE, table, machine_lines(), seconds)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
