"""The dashboard over real HTTP on loopback: routes, the API contract, escaping, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from amed.cli.ame_cmd import cli as ame
from amed.web.server import Dashboard, start_dashboard
from tests.dashboard.conftest import (
    HOSTILE_NAME,
    fetch,
    without_our_script,
)


def ame_json(*args: str) -> object:
    result = CliRunner().invoke(ame, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_api_datasets_is_exactly_what_ame_ds_list_json_prints(
    dashboard: Dashboard, state_dir: Path
) -> None:
    reply = fetch(dashboard.url + "api/datasets")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    served = json.loads(reply.body)
    assert served == ame_json("ds", "list", "--json", "--state-dir", str(state_dir))
    assert {row["name"] for row in served} == {"mnist", "broken", "old", HOSTILE_NAME}


def test_api_datasets_with_all_includes_removed_ones_like_ame_ds_list_all(
    dashboard: Dashboard, state_dir: Path
) -> None:
    served = json.loads(fetch(dashboard.url + "api/datasets?all=1").body)
    assert served == ame_json("ds", "list", "--json", "--all", "--state-dir", str(state_dir))
    assert {(row["name"], row["status"]) for row in served} >= {("gone", "removed")}


def test_api_of_one_data_set_is_what_ame_ds_show_json_prints(
    dashboard: Dashboard, state_dir: Path
) -> None:
    served = json.loads(fetch(dashboard.url + "api/datasets/demo/old").body)
    assert served == ame_json("ds", "show", "old", "--json", "--state-dir", str(state_dir))
    assert [e["type"] for e in served["history"]] == [
        "dataset_declared",
        "run_started",
        "run_succeeded",
        "version_stored",
        "dataset_evicted",
        "version_deleted",
    ]


def test_index_lists_every_data_set_with_status_size_and_capacity(dashboard: Dashboard) -> None:
    reply = fetch(dashboard.url)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    page = reply.body
    assert '<tr id="ds-demo-mnist">' in page
    assert 'href="/datasets/demo/mnist"' in page
    assert ">3.0 MiB<" in page and ">8.0 MiB<" in page  # stored and declared size of mnist
    assert "s-failed" in page and "s-evicted" in page
    assert "of 64.0 MiB (5%)" in page  # 3 MiB of 64 MiB
    assert 'http-equiv="refresh"' not in page  # live updates swap parts instead
    assert "/api/live" in page
    assert "gone" not in page
    assert 'id="ds-demo-gone"' in fetch(dashboard.url + "?all=1").body


def test_every_hostile_value_is_escaped_on_every_page(dashboard: Dashboard) -> None:
    hostile_href = "/datasets/demo/%3Ci%3Eodd%3C%2Fi%3E"
    pages = {
        "index": fetch(dashboard.url).body,
        "broken": fetch(dashboard.url + "datasets/demo/broken").body,
        "odd": fetch(dashboard.url.rstrip("/") + hostile_href).body,
    }
    for page in pages.values():
        page = without_our_script(page)
        for raw in ("<script>", "<img", "<i>odd", "<b>broken"):
            assert raw not in page
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;"
        in (pages["broken"])
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages["broken"]
    assert "&lt;b&gt;broken&lt;/b&gt; keeps failing" in pages["index"]
    assert f'href="{hostile_href}"' in pages["index"]
    assert "&lt;i&gt;odd&lt;/i&gt;" in pages["odd"]


def test_data_set_page_shows_details_versions_and_history_newest_first(
    dashboard: Dashboard,
) -> None:
    page = fetch(dashboard.url + "datasets/demo/old").body
    order = [page.index(f"<b>{kind}</b>") for kind in ("version deleted", "dataset evicted")]
    assert order == sorted(order)
    assert page.index("<b>dataset evicted</b>") < page.index("<b>dataset declared</b>")
    assert "making room for big" in page
    assert "2026-05-01 12:05:00 UTC" in page
    mnist = fetch(dashboard.url + "datasets/demo/mnist").body
    assert 'id="versions"' in mnist and '<td data-label="State" class="">current</td>' in mnist


def test_metrics_health_and_head_answer(dashboard: Dashboard) -> None:
    assert (fetch(dashboard.url + "healthz").status, fetch(dashboard.url + "healthz").body) == (
        200,
        "ok",
    )
    head = fetch(dashboard.url + "metrics", method="HEAD")
    assert head.status == 200 and head.body == ""
    assert int(head.headers["Content-Length"]) == len(fetch(dashboard.url + "metrics").body)


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "datasets/demo/unknown",
        "api/datasets/demo/unknown",
        "api/datasets/other/mnist",
        "datasets/demo",
        "datasets/demo/mnist/extra",
        "healthz/",
    ],
)
def test_unknown_paths_and_data_sets_are_404(dashboard: Dashboard, path: str) -> None:
    reply = fetch(dashboard.url + path)
    assert reply.status == 404
    assert len(reply.body.strip().splitlines()) == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_anything_but_get_and_head_is_405(dashboard: Dashboard, method: str) -> None:
    reply = fetch(dashboard.url + "api/datasets", method=method, data=b"{}")
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET, HEAD"


def test_an_unreadable_state_database_is_a_short_500_without_traceback(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "state.db").write_bytes(b"this is not a SQLite database, not at all" * 100)
    with start_dashboard(
        state_dir, "127.0.0.1:0", capacity_bytes=None, storage_url="memory://"
    ) as running:
        reply = fetch(running.url + "api/datasets")
        assert fetch(running.url + "healthz").status == 200
    assert reply.status == 500
    assert reply.body == "internal error: see amed's log\n"
    assert "Traceback" not in reply.body


def test_an_empty_state_dir_serves_empty_pages(tmp_path: Path) -> None:
    with start_dashboard(
        tmp_path / "never-ran", "127.0.0.1:0", capacity_bytes=None, storage_url="memory://"
    ) as running:
        assert json.loads(fetch(running.url + "api/datasets").body) == []
        index = fetch(running.url).body
        others = {path: fetch(running.url + path) for path in ("lineage", "events", "api/live")}
        assert fetch(running.url + "runs/r-1").status == 404
        assert fetch(running.url + "tasks/demo/make").status == 404
    assert {path: reply.status for path, reply in others.items()} == dict.fromkeys(others, 200)
    assert "No data set recorded yet." in others["lineage"].body
    assert "no amed has run with this state" in index
    assert "No data sets recorded yet." in index
    assert "capacity unknown" in index
    assert not (tmp_path / "never-ran").exists()
