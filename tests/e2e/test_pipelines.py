"""Pipelines end to end, with the real `amed` and `ame`: data sets made from data sets are
produced inputs first, each run sees exactly its inputs, new bytes upstream produce new
versions downstream and the same bytes do not, a failed input fails its dependants without
running them, and the project's code is part of every data set's identity."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Workspace, command_path

SEES = "find raw features report -type f 2>/dev/null | sort > seen.lst"
"""What of the data sets a run finds in its working copy, listed before it writes any."""
RAW = 'sh make_raw.sh && echo raw >> "$RUNS_LOG"'
FEATURES = (
    f'touch "$RUNS_LOG.features-ran" && {SEES} && mkdir -p features && '
    "mv seen.lst features/seen.txt && tr a-z A-Z < raw/x.txt > features/f.txt && "
    'echo features >> "$RUNS_LOG"'
)
REPORT = (
    f"{SEES} && mkdir -p report && mv seen.lst report/seen.txt && "
    'wc -c < features/f.txt > report/r.txt && echo report >> "$RUNS_LOG"'
)
CONSUME = f'{SEES} && mv seen.lst "$RUNS_LOG.train" && echo train >> "$RUNS_LOG"'
SCRIPT = "mkdir -p raw && echo {text} > raw/x.txt{extra}\n"


def spec(raw: str = RAW) -> str:
    return f"""
projectname: demo
tasks:
  - name: train
    executor: !custom
      command: {json.dumps(CONSUME)}
    dataSets: [report]
dataSets:
  - name: raw
    path: raw
    task:
      executor: !custom
        command: {json.dumps(raw)}
  - name: features
    path: features
    task:
      executor: !custom
        command: {json.dumps(FEATURES)}
      dataSets: [raw]
  - name: report
    path: report
    task:
      executor: !custom
        command: {json.dumps(REPORT)}
      dataSets: [features]
"""


def pipeline(ws: Workspace, text: str = "hello", raw: str = RAW) -> None:
    ws.write("make_raw.sh", SCRIPT.format(text=text, extra=""))
    ws.write_spec(spec(raw))


def runs(ws: Workspace) -> list[str]:
    log = ws.root / "runs.log"
    return log.read_text().split() if log.exists() else []


def versions(ws: Workspace) -> dict[str, int | None]:
    return {row["name"]: row["version"] for row in ws.datasets()}


def events(ws: Workspace, after: int = 0) -> list[dict[str, Any]]:
    lines = ws.run("ame", "events", "--json", check=True).stdout.splitlines()
    return [e for e in map(json.loads, lines) if e["id"] > after]


def last_id(ws: Workspace) -> int:
    found = events(ws)
    return found[-1]["id"] if found else 0


def stored_file(ws: Workspace, name: str, version: int, relative: str) -> str:
    return (ws.objects / f"datasets/demo/{name}/{version}/files/{relative}").read_text()


def test_a_changed_input_produces_its_dependants_again_in_order_each_from_its_inputs(
    ws: Workspace,
) -> None:
    pipeline(ws)
    dry = ws.once("--dry-run")
    assert dry.returncode == 0, dry.stderr
    planned = [line.split()[:2] for line in dry.stdout.splitlines()]
    assert ["produce", "raw"] in planned
    assert planned.index(["wait", "features"]) < planned.index(["wait", "report"])
    assert ws.once().returncode == 0
    assert runs(ws) == ["raw", "features", "report"]
    assert versions(ws) == {"raw": 1, "features": 1, "report": 1}
    assert stored_file(ws, "features", 1, "seen.txt") == "raw/x.txt\n"
    assert stored_file(ws, "report", 1, "seen.txt") == "features/f.txt\nfeatures/seen.txt\n"
    show = json.loads(ws.run("ame", "ds", "show", "features", "--json", check=True).stdout)
    assert (show["inputs"], show["dependants"]) == (["raw"], ["report"])

    mark = last_id(ws)
    pipeline(ws, raw=RAW + " && true")  # another command, and other bytes from the script
    ws.write("make_raw.sh", SCRIPT.format(text="world", extra=""))
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 2, "features": 2, "report": 2}
    order = [
        (e["type"], e["dataset"])
        for e in events(ws, mark)
        if e["type"] in ("run_started", "version_stored")
    ]
    assert order == [
        ("run_started", "raw"),
        ("version_stored", "raw"),
        ("run_started", "features"),
        ("version_stored", "features"),
        ("run_started", "report"),
        ("version_stored", "report"),
    ]
    assert stored_file(ws, "features", 2, "f.txt") == "WORLD\n"
    assert stored_file(ws, "features", 2, "seen.txt") == "raw/x.txt\n"
    assert stored_file(ws, "report", 2, "seen.txt") == "features/f.txt\nfeatures/seen.txt\n"

    assert ws.run("ame", "task", "run", "train").returncode == 0
    assert ws.once().returncode == 0
    seen_by_train = Path(f"{ws.root}/runs.log.train").read_text()
    assert seen_by_train == "report/r.txt\nreport/seen.txt\n"

    mark = last_id(ws)
    pipeline(ws, text="world", raw=RAW + " && true && true")  # the same bytes again
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 3, "features": 2, "report": 2}
    started = [e["dataset"] for e in events(ws, mark) if e["type"] == "run_started"]
    assert started == ["raw"]


def test_a_failing_input_fails_its_dependants_without_running_them(ws: Workspace) -> None:
    pipeline(ws, raw='echo "no network" >&2; exit 3')
    assert ws.once().returncode == 1
    rows = {row["name"]: row for row in ws.datasets()}
    assert rows["raw"]["status"] == "failed"
    assert rows["features"]["status"] == "failed"
    assert rows["features"]["error"] == "input raw failed: exited with code 3"
    assert rows["report"]["error"] == (
        "input features failed: input raw failed: exited with code 3"
    )
    assert not Path(f"{ws.root}/runs.log.features-ran").exists()
    assert rows["features"]["attempts"] == 0, "not an attempt of its own"


def test_an_edit_the_task_can_see_produces_a_new_version_and_others_do_not(
    ws: Workspace,
) -> None:
    pipeline(ws)
    ws.write(".ameignore", "notes/\n")
    ws.write("notes/todo.md", "later\n")
    ws.write("features/stale.txt", "not what features is made of\n")
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 1, "features": 1, "report": 1}

    for relative in ("notes/todo.md", "features/stale.txt", ".ameignore", "ame.yaml"):
        path = ws.project / relative
        path.write_text(path.read_text() + "# an edit the tasks cannot see\n")
        count = len(events(ws))
        assert ws.once().returncode == 0
        assert len(events(ws)) == count, relative
    assert versions(ws) == {"raw": 1, "features": 1, "report": 1}

    ws.write("make_raw.sh", SCRIPT.format(text="hello", extra=" && touch raw/more"))
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 2, "features": 2, "report": 2}
    assert stored_file(ws, "raw", 2, "more") == ""


def test_ame_ds_rebuild_makes_a_new_version_and_the_same_bytes_go_no_further(
    ws: Workspace,
) -> None:
    pipeline(ws)
    assert ws.once().returncode == 0
    proc = ws.run("ame", "ds", "rebuild", "raw")
    assert proc.returncode == 0, proc.stderr
    assert ws.run("ame", "ds", "rebuild", "nope").returncode == 2
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 2, "features": 1, "report": 1}
    assert runs(ws) == ["raw", "features", "report", "raw"]


def test_three_failed_attempts_then_a_success_store_version_1(ws: Workspace) -> None:
    ws.env["AME_RETRY_BASE_SECONDS"] = "0.001"
    flaky = (
        'n=$(cat "$RUNS_LOG.tries" 2>/dev/null || echo 0); n=$((n + 1)); '
        'echo $n > "$RUNS_LOG.tries"; [ $n -gt 3 ] || exit 1; sh make_raw.sh'
    )
    pipeline(ws, raw=flaky)
    for _ in range(3):
        assert ws.once().returncode == 1
    assert ws.dataset("raw")["attempts"] == 3
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 1, "features": 1, "report": 1}
    raw_keys = [k.split("/") for k in ws.store_keys() if k.startswith("datasets/demo/raw/")]
    assert {parts[3] for parts in raw_keys if len(parts) > 4} == {"1"}, "no version but 1"
    started = [e for e in events(ws) if e["type"] == "run_started" and e["dataset"] == "raw"]
    assert [(e["version"], e["attempt"]) for e in started] == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert all(e["run_id"].startswith("raw-v1-") for e in started)


def test_an_input_is_in_use_while_its_dependant_runs_and_is_not_evicted(ws: Workspace) -> None:
    """The dependant's task says it started, then waits for a file the test writes only
    after looking, so no timing decides what the test sees."""
    started, looked = Path(f"{ws.root}/runs.log.started"), Path(f"{ws.root}/runs.log.looked")
    waits = 'touch "$RUNS_LOG.started"; while [ ! -e "$RUNS_LOG.looked" ]; do sleep 0.05; done'
    ws.write("make_raw.sh", SCRIPT.format(text="hello", extra=""))
    ws.write_spec(spec().replace(json.dumps(FEATURES), json.dumps(f"{waits}; {FEATURES}")))
    daemon = subprocess.Popen(
        [command_path("amed"), "--interval", "0.3"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(started.exists, "features started")
        assert ws.dataset("raw")["in_use_by"] == ["features"]
        squeezed = dict(
            AME_CAPACITY="1", AME_EVICTION_HIGH_PERCENT="50", AME_EVICTION_LOW_PERCENT="10"
        )
        ws.env.update(squeezed)
        plan = ws.run("amed", "run", "--once", "--dry-run")
        for key in squeezed:
            del ws.env[key]
        assert plan.returncode == 0, plan.stderr
        assert not [line for line in plan.stdout.splitlines() if line.startswith("evict")]
        looked.touch()
        wait_until(lambda: ws.dataset("report")["status"] == "ready", "the pipeline converged")
        assert ws.dataset("raw")["in_use_by"] == []
    finally:
        looked.touch()  # a task still waiting must not hold the daemon's stop
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)


def test_evicted_inputs_are_produced_again_when_a_dependant_needs_them(ws: Workspace) -> None:
    pipeline(ws)
    assert ws.once().returncode == 0
    ws.env.update(AME_CAPACITY="1", AME_EVICTION_HIGH_PERCENT="50", AME_EVICTION_LOW_PERCENT="10")
    assert ws.once().returncode == 0
    assert {row["status"] for row in ws.datasets()} == {"evicted"}
    for key in ("AME_CAPACITY", "AME_EVICTION_HIGH_PERCENT", "AME_EVICTION_LOW_PERCENT"):
        del ws.env[key]
    assert ws.run("ame", "ds", "rebuild", "report").returncode == 0
    mark = last_id(ws)
    assert ws.once().returncode == 0
    assert versions(ws) == {"raw": 2, "features": 2, "report": 2}
    started = [e["dataset"] for e in events(ws, mark) if e["type"] == "run_started"]
    assert started == ["raw", "features", "report"]


def wait_until(condition: Callable[[], bool], what: str, timeout_seconds: float = 60) -> None:
    """Wait for an event, polling; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_seconds:.0f} s"
        time.sleep(0.05)
