"""Capacity and alerts end to end: real `amed` processes, a file:// store with a small
budget, and apprise delivering to a real webhook and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json

from tests.conftest import Workspace
from tests.receivers import smtp_server, webhook

MiB = 2**20


def spec(data_sets: dict[str, tuple[int, str | None]]) -> str:
    """{name: (MiB the task writes, declared size or None)}"""
    lines = ["projectname: demo", "dataSets:" if data_sets else "dataSets: []"]
    for name, (mib, size) in data_sets.items():
        lines += [
            f"  - name: {name}",
            f"    path: {name}",
            "    task:",
            "      executor: !custom",
            f"        command: mkdir -p {name} && head -c {mib}M /dev/zero > {name}/blob",
        ]
        if size:
            lines.append(f"    size: {size}")
    return "\n".join(lines) + "\n"


def statuses(ws: Workspace) -> dict[str, str]:
    return {row["name"]: row["status"] for row in ws.datasets()}


def events(ws: Workspace, kind: str) -> list[dict[str, object]]:
    out = ws.run("ame", "events", "--json", check=True).stdout.splitlines()
    return [e for e in map(json.loads, out) if e["type"] == kind]


def test_a_declared_size_that_fits_only_after_evicting_evicts_the_two_least_recently_used(
    ws: Workspace,
) -> None:
    ws.env.update(AME_CAPACITY="100Mi", AME_MAX_PARALLEL="1")
    four = {name: (20, "20Mi") for name in ("a", "b", "c", "d")}
    ws.write_spec(spec(four))
    assert ws.once().returncode == 0
    with webhook() as hook:
        ws.env["AME_ALERT_URLS"] = hook.url
        ws.write_spec(spec({**four, "new": (50, "50Mi")}))
        proc = ws.once()
        assert proc.returncode == 0, proc.stderr
        assert statuses(ws) == {
            "a": "evicted",
            "b": "evicted",
            "c": "ready",
            "d": "ready",
            "new": "ready",
        }
        keys = ws.store_keys()
        assert not any(k.startswith(("datasets/demo/a/", "datasets/demo/b/")) for k in keys)
        evictions = events(ws, "dataset_evicted")
        assert [(e["dataset"], e["bytes_freed"]) for e in evictions] == [
            ("a", 20 * MiB),
            ("b", 20 * MiB),
        ]
        titles = [m["title"] for m in hook.wait_for(1)]
        assert any("evicted 2 data sets, 40.0 MiB freed" in t for t in titles), titles


def test_a_size_that_cannot_fit_is_blocked_with_one_alert_even_across_restarts(
    ws: Workspace,
) -> None:
    ws.env.update(AME_CAPACITY="100Mi")
    ws.write_spec(spec({"a": (20, "20Mi")}))
    assert ws.once().returncode == 0
    with webhook() as hook:
        ws.env["AME_ALERT_URLS"] = hook.url
        ws.write_spec(spec({"a": (20, "20Mi"), "huge": (1, "500Mi")}))
        proc = ws.once()
        assert proc.returncode == 1
        assert statuses(ws) == {"a": "ready", "huge": "blocked"}
        row = ws.dataset("huge")
        assert "needs 500.0 MiB but only 80.0 MiB of 100.0 MiB is free" in row["error"]
        assert events(ws, "dataset_evicted") == []
        (alert,) = hook.wait_for(1)
        assert "huge is blocked" in alert["title"] and "nothing was evicted" in alert["message"]
        assert ws.once().returncode == 1  # a restart neither re-sends nor forgets
        assert ws.once().returncode == 1
        assert len(hook.wait_for(2, timeout=2)) == 1
        assert len(events(ws, "alert_raised")) == 1


def test_an_undeclared_size_that_overflows_is_rolled_back_failed_and_alerted(
    ws: Workspace,
) -> None:
    with webhook() as hook:
        ws.env.update(AME_CAPACITY="10Mi", AME_ALERT_URLS=hook.url)
        ws.write_spec(spec({"big": (20, None)}))
        proc = ws.once()
        assert proc.returncode == 1
        row = ws.dataset("big")
        assert row["status"] == "failed" and row["version"] is None
        assert "10.0 MiB" in row["error"] or "budget" in row["error"]
        assert ws.store_keys() == []
        (alert,) = hook.wait_for(1)
        assert "big failed" in alert["title"]


def test_above_the_high_watermark_unused_data_is_evicted_down_to_the_low_one(
    ws: Workspace,
) -> None:
    ws.env.update(
        AME_CAPACITY="100Mi",
        AME_MAX_PARALLEL="1",
        AME_EVICTION_HIGH_PERCENT="80",
        AME_EVICTION_LOW_PERCENT="50",
    )
    ws.write_spec(spec({"a": (30, None), "b": (30, None), "c": (30, None)}))
    assert ws.once().returncode == 0
    assert statuses(ws) == {"a": "evicted", "b": "evicted", "c": "ready"}
    assert all(k.startswith("datasets/demo/c/") for k in ws.store_keys())
    reasons = {e["reason"] for e in events(ws, "dataset_evicted")}
    assert reasons == {"storage 90% full, above the 80% high watermark; evicting down to 50%"}


def test_low_space_alerts_once_and_sends_one_resolved_notice_when_it_clears(
    ws: Workspace,
) -> None:
    with webhook() as hook:
        ws.env.update(
            AME_CAPACITY="100Mi",
            AME_ALERT_URLS=hook.url,
            AME_DELETION_GRACE_SECONDS="0",
            AME_DELETION_MAX_PERCENT="100",
        )
        ws.write_spec(spec({"a": (88, None)}))
        assert ws.once().returncode == 0
        (alert,) = hook.wait_for(1)
        assert "88% full" in alert["title"] and alert["type"] == "warning"
        ws.write_spec(spec({}))
        assert ws.once().returncode == 0
        alert, resolved = hook.wait_for(2)
        assert resolved["title"].startswith("RESOLVED: ") and resolved["type"] == "success"
        assert ws.once().returncode == 0
        assert len(hook.wait_for(3, timeout=2)) == 2


def test_alerts_reach_an_smtp_server(ws: Workspace) -> None:
    with smtp_server() as mailbox:
        ws.env.update(AME_CAPACITY="10Mi", AME_ALERT_URLS=mailbox.url)
        ws.write_spec(spec({"huge": (1, "1Gi")}))
        assert ws.once().returncode == 1
        (message,) = mailbox.wait_for(1)
        assert "huge is blocked" in str(message["Subject"])
        assert message["To"] == "ops@example.org"


def test_a_failing_channel_is_recorded_and_never_stops_the_daemon(ws: Workspace) -> None:
    with webhook() as hook:
        hook.fail_next = 100
        hook.path = "/hook/SeCrEtToKeN123"
        ws.env.update(AME_CAPACITY="10Mi", AME_ALERT_URLS=hook.url)
        ws.write_spec(spec({"huge": (1, "1Gi"), "small": (1, None)}))
        proc = ws.once()
        assert proc.returncode == 1
        assert statuses(ws) == {"huge": "blocked", "small": "ready"}
        (failure,) = events(ws, "alert_delivery_failed")
        assert failure["channel"] == f"json://127.0.0.1:{hook.port}/…"
        log = proc.stderr + ws.run("ame", "events", "--json", check=True).stdout
        db = (ws.state / "state.db").read_bytes()
        assert "SeCrEtToKeN123" not in log and b"SeCrEtToKeN123" not in db
        assert "alert_delivery_failed" in proc.stderr


def test_without_alert_urls_alerts_are_only_logged(ws: Workspace) -> None:
    ws.env.update(AME_CAPACITY="10Mi")
    ws.write_spec(spec({"huge": (1, "1Gi")}))
    proc = ws.once()
    assert proc.returncode == 1
    logged = [json.loads(line) for line in proc.stderr.splitlines()]
    alerts = [e for e in logged if e["event"] == "alert"]
    assert len(alerts) == 1 and "huge is blocked" in alerts[0]["title"]


def test_dry_run_says_what_would_happen_and_changes_nothing(ws: Workspace) -> None:
    ws.env.update(AME_CAPACITY="100Mi", AME_MAX_PARALLEL="1")
    four = {name: (20, "20Mi") for name in ("a", "b", "c", "d")}
    ws.write_spec(spec(four))
    assert ws.once().returncode == 0
    ws.write_spec(spec({**four, "new": (50, "50Mi"), "huge": (1, "1Gi")}))
    before = ((ws.state / "state.db").read_bytes(), ws.store_keys())
    ws.env["AME_MAX_PARALLEL"] = "2"
    proc = ws.run("amed", "run", "--once", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    verbs = [(line.split()[0], line.split()[1]) for line in lines]
    assert ("evict", "a") in verbs and ("evict", "b") in verbs and ("produce", "new") in verbs
    assert ("block", "huge") in verbs
    assert any("to make room for new" in line for line in lines)
    assert ((ws.state / "state.db").read_bytes(), ws.store_keys()) == before
