"""`/metrics` in Prometheus' text format: every line parses, and the numbers are the log's."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from amed.web.server import Dashboard, start_dashboard
from state.db import StateStore
from state.events import RunFailed, RunStarted
from state.heartbeat import DaemonRow
from tests.dashboard.conftest import CAPACITY_BYTES, HOSTILE_NAME, MNIST_BYTES, T0, fetch

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


def parsed(text: str) -> dict[str, list[Sample]]:
    """Family name → samples, by prometheus_client's own parser (it raises on a bad line)."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def by_dataset(samples: list[Sample]) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels.values()): s.value for s in samples}


def heartbeat(*, pass_ok: bool) -> DaemonRow:
    return DaemonRow(
        pid=4242,
        host="box",
        state="running",
        started_at=T0,
        beat_at=T0 + timedelta(minutes=2),
        stale_after_seconds=30,
        store_url="memory://",
        spec_path="/srv/demo/ame.yaml",
        pass_at=T0 + timedelta(minutes=1),
        pass_seconds=0.25,
        pass_ok=pass_ok,
        pass_error=None if pass_ok else "store unavailable",
    )


def test_each_live_data_set_has_its_size_and_one_status_set_to_1(dashboard: Dashboard) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    assert by_dataset(families["amed_dataset_size_bytes"]) == {("demo", "mnist"): MNIST_BYTES}
    status = by_dataset(families["amed_dataset_status"])
    current = {key[:2]: key[2] for key, value in status.items() if value == 1}
    assert current == {
        ("demo", "mnist"): "ready",
        ("demo", "broken"): "failed",
        ("demo", "old"): "evicted",
        ("demo", HOSTILE_NAME): "pending",
    }
    statuses = {key[2] for key in status}
    assert "removed" not in statuses and {"pending", "running", "blocked"} <= statuses
    for name in ("mnist", "broken", "old", HOSTILE_NAME):
        mine = [v for key, v in status.items() if key[:2] == ("demo", name)]
        assert len(mine) == len(statuses) and sum(mine) == 1


def test_the_existing_series_are_still_there(dashboard: Dashboard) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    assert {
        "amed_datasets",
        "amed_stored_bytes",
        "amed_used_bytes",
        "amed_capacity_bytes",
        "amed_free_bytes",
        "amed_evictions",
        "amed_runs",
        "amed_run_failures",
        "amed_task_runs",
        "amed_task_failures",
        "amed_alert_deliveries",
        "amed_alerts_firing",
    } <= set(families)


def test_build_info_names_the_installed_version(dashboard: Dashboard) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    (info,) = families["amed_build_info"]
    assert info.labels == {"version": version("amed")} and info.value == 1


def test_run_seconds_is_a_histogram_of_the_successful_runs_in_the_log(
    dashboard: Dashboard,
) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    samples = families["amed_run_seconds"]
    buckets = {s.labels["le"]: s.value for s in samples if s.name == "amed_run_seconds_bucket"}
    assert buckets["1.0"] == 0 and buckets["10.0"] == 2 and buckets["+Inf"] == 2
    assert list(buckets.values()) == sorted(buckets.values())
    rest = {s.name: s.value for s in samples if s.name != "amed_run_seconds_bucket"}
    assert rest == {"amed_run_seconds_count": 2, "amed_run_seconds_sum": 5.0}


def test_each_alert_channel_reports_its_failures_in_a_row(dashboard: Dashboard) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    failures = by_dataset(families["amed_alert_channel_failures"])
    assert failures == {("json://a",): 0, ("json://b",): 1}
    assert by_dataset(families["amed_alert_channel_healthy"]) == {
        ("json://a",): 1,
        ("json://b",): 1,
    }


def test_a_successful_pass_gives_its_time_and_a_failed_one_leaves_it_out(
    dashboard: Dashboard, state_dir: Path
) -> None:
    families = parsed(fetch(dashboard.url + "metrics").body)
    assert "amed_last_successful_pass_timestamp_seconds" not in families  # no daemon yet
    with StateStore.in_dir(state_dir) as store:
        store.write_heartbeat(heartbeat(pass_ok=True))
    families = parsed(fetch(dashboard.url + "metrics").body)
    (when,) = families["amed_last_successful_pass_timestamp_seconds"]
    assert when.value == (T0 + timedelta(minutes=1)).timestamp()
    assert families["amed_last_pass_ok"][0].value == 1
    with StateStore.in_dir(state_dir) as store:
        store.write_heartbeat(heartbeat(pass_ok=False))
    families = parsed(fetch(dashboard.url + "metrics").body)
    assert "amed_last_successful_pass_timestamp_seconds" not in families
    assert families["amed_last_pass_ok"][0].value == 0
