"""`/metrics` in Prometheus' text format: every line parses, and the numbers are the log's."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from amed.web.server import Dashboard, start_dashboard
from state.db import StateStore
from state.events import RunFailed, RunStarted
from tests.dashboard.conftest import CAPACITY_BYTES, MNIST_BYTES, T0, fetch

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?P<labels>\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})?'
    r" (?P<value>-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)$"
)


def samples(text: str) -> dict[str, float]:
    """`name{labels}` → value; fails on any line that is neither a comment nor a sample."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        key = match["name"] + (match["labels"] or "")
        assert key not in found, f"duplicate sample {key}"
        found[key] = float(match["value"])
    return found


def test_every_line_parses_and_the_numbers_are_the_state_databases(dashboard: Dashboard) -> None:
    reply = fetch(dashboard.url + "metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(reply.body)
    assert {k: v for k, v in found.items() if k.startswith("amed_datasets{")} == {
        'amed_datasets{status="pending"}': 1,
        'amed_datasets{status="running"}': 0,
        'amed_datasets{status="uploading"}': 0,
        'amed_datasets{status="ready"}': 1,
        'amed_datasets{status="failed"}': 1,
        'amed_datasets{status="blocked"}': 0,
        'amed_datasets{status="evicted"}': 1,
        'amed_datasets{status="deleting"}': 0,
        'amed_datasets{status="removed"}': 1,
    }
    assert found["amed_stored_bytes"] == MNIST_BYTES
    assert found["amed_capacity_bytes"] == CAPACITY_BYTES
    assert found["amed_free_bytes"] == CAPACITY_BYTES - MNIST_BYTES
    assert found["amed_evictions_total"] == 1
    assert found["amed_runs_total"] == 3
    assert found["amed_run_failures_total"] == 1
    assert found['amed_alert_deliveries_total{result="ok"}'] == 1
    assert found['amed_alert_deliveries_total{result="failed"}'] == 1
    assert found["amed_alerts_firing"] == 1
    assert "# TYPE amed_runs_total counter" in reply.body
    assert "# TYPE amed_datasets gauge" in reply.body


def test_counters_follow_the_log_while_the_dashboard_runs(
    dashboard: Dashboard, state_dir: Path
) -> None:
    before = samples(fetch(dashboard.url + "metrics").body)
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                RunStarted(
                    at=T0 + timedelta(hours=1),
                    project="demo",
                    dataset="broken",
                    run_id="broken-2",
                    version=1,
                    spec_hash="hash-broken",
                    task="make",
                    attempt=2,
                ),
                RunFailed(
                    at=T0 + timedelta(hours=1),
                    project="demo",
                    dataset="broken",
                    run_id="broken-2",
                    stage="task",
                    reason="exited with code 1",
                ),
            ]
        )
    after = samples(fetch(dashboard.url + "metrics").body)
    assert after["amed_runs_total"] == before["amed_runs_total"] + 1
    assert after["amed_run_failures_total"] == before["amed_run_failures_total"] + 1


def test_unknown_capacity_and_free_space_are_left_out(state_dir: Path) -> None:
    with start_dashboard(
        state_dir, "127.0.0.1:0", capacity_bytes=None, storage_url="memory://"
    ) as running:
        found = samples(fetch(running.url + "metrics").body)
    assert "amed_capacity_bytes" not in found and "amed_free_bytes" not in found
    assert found["amed_stored_bytes"] == MNIST_BYTES
