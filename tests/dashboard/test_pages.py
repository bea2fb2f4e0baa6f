"""The pages beyond the overview's table, over HTTP: task and run pages (a big log paged),
lineage, the event history filtered and paged, the overview's filters, the storage plot,
and `/api/live`, the parts a page's script swaps in."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from amed.web.history import HISTORY_PAGE
from amed.web.runs import LOG_PAGE_BYTES
from amed.web.server import Dashboard
from state.db import StateStore
from state.events import DatasetDeclared, DatasetPulled, RunFailed, RunStarted
from state.read import StateReader
from tests.dashboard.conftest import HOSTILE_OUTPUT, T0, fetch, without_our_script


def _ids(page: str, pattern: str) -> list[str]:
    return re.findall(pattern, page)


def test_the_storage_plot_has_one_point_per_version_stored_or_deleted(
    dashboard: Dashboard, state_dir: Path
) -> None:
    reader = StateReader.in_dir(state_dir)
    try:
        changes = [
            e for e in reader.events() if e.event.type in ("version_stored", "version_deleted")
        ]
    finally:
        reader.close()
    plot = re.search(r'<svg class="plot" id="storage-plot".*?</svg>', fetch(dashboard.url).body)
    assert plot, "no storage plot on the overview"
    assert len(changes) == 3  # mnist and old stored, old deleted
    assert plot.group(0).count('<circle class="pt"') == len(changes)
    # The last point is what the store holds now: mnist's 3 MiB.
    assert "3.0 MiB held" in plot.group(0).rsplit("<circle", 1)[1]


def test_a_task_page_lists_the_runs_of_its_data_sets_each_linked(dashboard: Dashboard) -> None:
    page = fetch(dashboard.url + "tasks/demo/make").body
    assert "task demo / make" in page
    for run in ("mnist-1", "old-1", "broken-1"):
        dataset = run.removesuffix("-1")
        assert f'href="/runs/{run}?project=demo&amp;dataset={dataset}"' in page
    assert page.count('<circle class="pt"') == 3  # one point per run on the timeline
    runs = re.search(r'<table class="cards" id="runs">.*?</table>', page, re.S)
    assert runs and 'href="/datasets/demo/broken"' in runs.group(0)
    assert fetch(dashboard.url + "tasks/demo/no-such-task").status == 404


def test_a_run_page_shows_its_output_escaped_and_pages_a_big_log(
    dashboard: Dashboard, state_dir: Path
) -> None:
    log = state_dir / "runs" / "broken-1" / "output.log"
    log.parent.mkdir(parents=True)
    first, last = "FIRST-LINE <b>x</b>\n", "LAST-LINE " + HOSTILE_OUTPUT
    log.write_text(first + "y" * (2 * LOG_PAGE_BYTES) + last)
    page = fetch(dashboard.url + "runs/broken-1").body
    assert "page 3 of 3" in page and "LAST-LINE &lt;img src=x onerror=alert(1)&gt;" in page
    assert "FIRST-LINE" not in page  # the last page first: where a failure shows
    assert 'href="/datasets/demo/broken"' in page and 'href="/tasks/demo/make"' in page
    assert "<img" not in without_our_script(page)
    earliest = fetch(dashboard.url + "runs/broken-1?page=1").body
    assert "FIRST-LINE &lt;b&gt;x&lt;/b&gt;" in earliest and "LAST-LINE" not in earliest
    assert '<span class="badge s-failed">failed</span>' in page
    stored = fetch(dashboard.url + "runs/mnist-1")  # no log kept: still a page
    assert (
        stored.status == 200 and '<span class="badge s-succeeded">succeeded</span>' in stored.body
    )
    assert "No output was kept for this run." in stored.body
    for missing in ("runs/nope", "runs/..", "runs/%2e%2e%2fstate.db", "runs/a%2Fb"):
        assert fetch(dashboard.url + missing).status == 404, missing


def test_the_history_filters_by_event_type_and_pages_by_id(
    dashboard: Dashboard, state_dir: Path
) -> None:
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                DatasetDeclared(
                    at=T0 + timedelta(seconds=i),
                    project="demo",
                    dataset="mnist",
                    spec_hash=f"hash-{i}",
                    path="data/mnist",
                    task="make",
                )
                for i in range(HISTORY_PAGE + 5)
            ]
        )
    first = fetch(dashboard.url + "datasets/demo/mnist?type=dataset_declared").body
    shown = _ids(first, r'<li id="event-(\d+)"')
    assert len(shown) == HISTORY_PAGE and shown == sorted(shown, key=int, reverse=True)
    assert "<b>version stored</b>" not in first
    older = re.search(r'href="(/datasets/demo/mnist\?type=dataset_declared&amp;before=\d+)"', first)
    assert older, "no link to older events"
    second = fetch(dashboard.url.rstrip("/") + older.group(1).replace("&amp;", "&")).body
    rest = _ids(second, r'<li id="event-(\d+)"')
    assert len(rest) == 6 and int(rest[0]) < int(shown[-1])  # 105 + the first declaration
    events = fetch(dashboard.url + "events?type=run_failed").body
    assert _ids(events, r"<b>(run failed)</b>") == ["run failed"]
    assert 'href="/runs/broken-1?project=demo&amp;dataset=broken"' in events
    assert 'href="/datasets/demo/broken"' in events


def test_the_overview_filters_by_status_and_name(dashboard: Dashboard) -> None:
    failed = fetch(dashboard.url + "?status=failed").body
    assert _ids(failed, r'<tr id="ds-demo-([^"]+)"') == ["broken"]
    by_name = fetch(dashboard.url + "?q=NIS").body  # case does not matter
    assert _ids(by_name, r'<tr id="ds-demo-([^"]+)"') == ["mnist"]
    assert 'value="NIS"' in by_name
    wildcard = fetch(dashboard.url + "?q=%25").body  # a LIKE wildcard is a plain character
    assert "No data sets match." in wildcard
    unknown = fetch(dashboard.url + "?status=%3Cb%3Ebogus").body  # said, escaped, not dropped
    assert 'No status is called "&lt;b&gt;bogus"; showing every status' in unknown
    assert {"broken", "mnist"} <= set(_ids(unknown, r'<tr id="ds-demo-([^"]+)"'))
    assert "No status is called" not in failed
    events = fetch(dashboard.url + "events?type=bogus").body
    assert 'No event type is called "bogus"; showing every type.' in events


def test_api_live_sends_the_parts_of_the_page_it_names(dashboard: Dashboard) -> None:
    reply = fetch(dashboard.url + "api/live?path=" + "/datasets/demo/broken")
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/json"
    parts = json.loads(reply.body)["parts"]
    assert {"health", "summary", "history-part"} <= set(parts)
    page = fetch(dashboard.url + "datasets/demo/broken").body
    for part_id, part in parts.items():  # the page carries the same parts, digests included
        assert f'id="{part_id}" data-live data-digest="{part["digest"]}"' in page
    assert (
        "&lt;script&gt;" in parts["summary"]["html"] and "<script>" not in parts["summary"]["html"]
    )
    assert fetch(dashboard.url + "api/live?path=/nowhere").status == 404
    assert fetch(dashboard.url + "api/live?path=/api/datasets").status == 400
    assert fetch(dashboard.url + "api/live?path=//elsewhere/x").status == 404
    assert fetch(dashboard.url + "/elsewhere").status == 404  # GET //elsewhere


def test_the_header_says_what_ame_status_knows(dashboard: Dashboard) -> None:
    page = fetch(dashboard.url).body
    health = re.search(r'<div id="health" data-live[^>]*>(.*?)</div>', page, re.S)
    assert health, "no health line in the header"
    line = health.group(1)
    assert "unhealthy" in line and "no amed has run with this state" in line and "1 failed" in line
    assert "project demo" in line and "json://b" in line


def test_a_firing_alert_links_the_data_set_its_key_names(dashboard: Dashboard) -> None:
    page = fetch(dashboard.url).body
    assert '(<a href="/datasets/demo/broken">failed:demo/broken</a>)' in page


def test_the_storage_changes_shown_start_from_the_bytes_held_before_them(state_dir: Path) -> None:
    reader = StateReader.in_dir(state_dir)
    try:
        every_baseline, every_change = reader.storage_changes()
        baseline, newest = reader.storage_changes(limit=1)
        held = sum(v.size_bytes for d in ("mnist", "old") for v in reader.versions("demo", d))
    finally:
        reader.close()
    assert every_baseline == 0
    assert [c.delta_bytes for c in every_change] == [3 * 2**20, 7 * 2**20, -7 * 2**20]
    assert [c.type for c in newest] == ["version_deleted"]
    assert baseline == 10 * 2**20  # mnist and old, before old was deleted
    assert baseline + newest[0].delta_bytes == held == 3 * 2**20


def test_the_overview_draws_the_newest_runs_each_linked_to_its_page(dashboard: Dashboard) -> None:
    page = fetch(dashboard.url).body
    plot = re.search(r'<svg class="plot" id="runs-plot".*?</svg>', page)
    assert plot, "no runs timeline on the overview"
    assert _ids(
        plot.group(0), r'<a href="/runs/([^"?]+)\?project=demo[^"]*"><circle class="pt"'
    ) == [
        "mnist-1",
        "broken-1",
        "old-1",
    ]
    runs = re.search(r'<details id="recent-runs">.*?</details>', page, re.S)
    assert runs and 'href="/datasets/demo/broken"' in runs.group(0)


def test_recent_runs_come_from_the_tail_of_the_log_with_their_ends(state_dir: Path) -> None:
    reader = StateReader.in_dir(state_dir)
    try:
        newest = reader.recent_runs(limit=2)
        every = reader.recent_runs()
    finally:
        reader.close()
    assert [(r.run_id, r.ok, r.project) for r in every] == [
        ("mnist-1", True, "demo"),
        ("broken-1", False, "demo"),
        ("old-1", True, "demo"),
    ]
    assert [r.run_id for r in newest] == ["broken-1", "old-1"]
    assert newest[0].reason is not None and "exited with code 2" in newest[0].reason


def test_the_overview_shows_one_page_of_data_sets_and_links_the_next(tmp_path: Path) -> None:
    from amed.web.pages import INDEX_PAGE
    from amed.web.server import start_dashboard

    count = INDEX_PAGE + 7
    with StateStore.in_dir(tmp_path / "state") as store:
        store.append(
            [
                DatasetDeclared(
                    at=T0, project="p", dataset=f"d{i:04d}", spec_hash="h", path=f"d/{i}", task="t"
                )
                for i in range(count)
            ]
        )
    with start_dashboard(
        tmp_path / "state", "127.0.0.1:0", capacity_bytes=None, storage_url="memory://"
    ) as running:
        first = fetch(running.url).body
        second = fetch(running.url + "?page=2").body
        filtered = fetch(running.url + "?q=d01&page=1").body
    rows = _ids(first, r'<tr id="ds-p-(d\d+)"')
    assert rows == [f"d{i:04d}" for i in range(INDEX_PAGE)]
    assert f"showing 1–{INDEX_PAGE} of {count}" in first and 'href="/?page=2">next<' in first
    assert _ids(second, r'<tr id="ds-p-(d\d+)"') == [f"d{i:04d}" for i in range(INDEX_PAGE, count)]
    assert 'href="/">previous<' in second and ">next<" not in second
    assert len(_ids(filtered, r'<tr id="ds-p-(d\d+)"')) == 100  # d0100 … d0199


def test_a_run_is_found_with_its_index_hint_without_it_and_despite_a_wrong_one(
    dashboard: Dashboard,
) -> None:
    for query in ("?project=demo&dataset=broken", "", "?project=demo&dataset=mnist", "?project=x"):
        page = fetch(dashboard.url + "runs/broken-1" + query).body
        assert '<span class="badge s-failed">failed</span>' in page, query


def test_the_overview_reads_only_the_newest_events_and_still_says_what_is_held(
    state_dir: Path,
) -> None:
    from amed.web.plots import NO_LEVELS, storage_plot

    newest = 5
    with StateStore.in_dir(state_dir) as store:
        store.append([DatasetPulled(at=T0, project="demo", dataset="mnist", version=1)] * newest)
    reader = StateReader.in_dir(state_dir)
    try:
        baseline, changes = reader.storage_changes(scan_events=newest)
        assert (baseline, changes) == (3 * 2**20, [])
        assert reader.recent_runs(scan_events=newest) == []
        every = reader.storage_changes()[1]
        assert len(every) == 3  # the whole log still has them all
        reaching = reader.last_event_id() - every[-1].id + 1  # back to old's deletion
        assert reader.storage_changes(scan_events=reaching)[1] == every[-1:]
    finally:
        reader.close()
    plot = storage_plot(baseline, changes, capacity_bytes=None, levels=NO_LEVELS, now=T0)
    assert "3.0 MiB held; no version stored or deleted lately." in plot


def test_a_data_set_page_draws_its_newest_runs_however_many_it_had(
    dashboard: Dashboard, state_dir: Path
) -> None:
    from amed.web.routes import RUNS_SHOWN

    runs = RUNS_SHOWN + 3
    events: list[RunStarted | RunFailed] = []
    for attempt in range(2, runs + 1):  # broken-1 is the first
        at = T0 + timedelta(minutes=attempt)
        common = {"at": at, "project": "demo", "dataset": "broken", "run_id": f"broken-{attempt}"}
        events += [
            RunStarted(**common, version=1, spec_hash="hash-broken", task="make", attempt=attempt),
            RunFailed(**common, stage="task", reason="exited with code 1"),
        ]
    with StateStore.in_dir(state_dir) as store:
        store.append(events)
    page = fetch(dashboard.url + "datasets/demo/broken").body
    plot = re.search(r'<svg class="plot" id="runs-plot".*?</svg>', page)
    assert plot, "no runs timeline"
    linked = _ids(plot.group(0), r'<a href="/runs/(broken-\d+)\?')
    assert linked == [f"broken-{n}" for n in range(runs - RUNS_SHOWN + 1, runs + 1)]


def test_the_storage_plot_draws_the_capacity_and_the_levels_it_is_given(
    state_dir: Path, tmp_path: Path
) -> None:
    from amed.web.plots import Levels
    from amed.web.server import start_dashboard

    with start_dashboard(
        state_dir,
        "127.0.0.1:0",
        capacity_bytes=64 * 2**20,
        storage_url=(tmp_path / "objects").as_uri(),
        levels=Levels(high_percent=90, low_percent=70, warn_percent=85),
    ) as running:
        plot = re.search(r'<svg class="plot" id="storage-plot".*?</svg>', fetch(running.url).body)
    assert plot, "no storage plot"
    labels = _ids(plot.group(0), r'<line class="level"[^>]*/><text[^>]*>([^<]+)</text>')
    assert labels == ["capacity", "evict above 90%", "warn above 85%", "evict down to 70%"]


def test_a_link_in_place_of_a_run_log_shows_nothing_of_what_it_points_at(
    dashboard: Dashboard, state_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("hunter2-not-for-pages")
    run_dir = state_dir / "runs" / "broken-1"
    run_dir.mkdir(parents=True)
    (run_dir / "output.log").symlink_to(secret)
    page = fetch(dashboard.url + "runs/broken-1").body
    assert "No output was kept for this run." in page and "hunter2" not in page
    (run_dir / "output.log").unlink()
    run_dir.rmdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "output.log").write_text(secret.read_text())  # a plain file, but not ours
    run_dir.symlink_to(elsewhere)
    page = fetch(dashboard.url + "runs/broken-1").body
    assert "No output was kept for this run." in page and "hunter2" not in page
