"""A data set's inputs and dependants on the dashboard: links on its page, lists in its JSON,
the same facts `ame ds show` prints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from amed.cli.ame_cmd import cli as ame
from amed.web.server import Dashboard, start_dashboard
from state.db import StateStore
from state.events import DatasetDeclared, DatasetRemoved
from tests.dashboard.conftest import HOSTILE_NAME, T0, fetch, without_our_script


def _declared(name: str, *inputs: str) -> DatasetDeclared:
    return DatasetDeclared(
        at=T0,
        project="demo",
        dataset=name,
        spec_hash=f"hash-{name}",
        path=f"data/{name}",
        task="make",
        inputs=inputs,
    )


@pytest.fixture
def pipeline_state(tmp_path: Path) -> Path:
    """raw -> features, a hostile-named data set that features also needs, and a removed
    data set that once needed raw (it is no dependant any more)."""
    state_dir = tmp_path / "state"
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                _declared("raw"),
                _declared(HOSTILE_NAME),
                _declared("features", "raw", HOSTILE_NAME),
                _declared("gone", "raw"),
                DatasetRemoved(at=T0, project="demo", dataset="gone", reason="not declared"),
            ]
        )
    return state_dir


@pytest.fixture
def pipeline(pipeline_state: Path, tmp_path: Path) -> Iterator[Dashboard]:
    with start_dashboard(
        pipeline_state,
        "127.0.0.1:0",
        capacity_bytes=None,
        storage_url=(tmp_path / "objects").as_uri(),
    ) as running:
        yield running


def _list(page: str, list_id: str) -> str:
    found = re.search(rf'<ul class="links" id="{list_id}">(.*?)</ul>', page, re.S) or re.search(
        rf'<span class="muted" id="{list_id}">(none)</span>', page
    )
    assert found, f"no #{list_id} on the page"
    return found.group(1)


def test_a_dependant_links_to_its_input_and_the_input_lists_its_dependant(
    pipeline: Dashboard,
) -> None:
    features = fetch(pipeline.url + "datasets/demo/features")
    assert features.status == 200
    inputs = _list(features.body, "inputs")
    assert '<a href="/datasets/demo/raw">raw</a>' in inputs
    assert "none" in _list(features.body, "dependants")

    raw = fetch(pipeline.url + "datasets/demo/raw")
    assert raw.status == 200
    dependants = _list(raw.body, "dependants")
    assert '<a href="/datasets/demo/features">features</a>' in dependants
    assert "gone" not in dependants
    assert "none" in _list(raw.body, "inputs")


def test_the_links_lead_to_pages_that_exist(pipeline: Dashboard) -> None:
    page = fetch(pipeline.url + "datasets/demo/features").body
    for href in re.findall(r'href="(/datasets/[^"]+)"', _list(page, "inputs")):
        assert fetch(pipeline.url + href.lstrip("/")).status == 200


def test_an_input_with_a_hostile_name_is_escaped_in_its_text_and_its_link(
    pipeline: Dashboard,
) -> None:
    page = fetch(pipeline.url + "datasets/demo/features").body
    inputs = _list(page, "inputs")
    assert HOSTILE_NAME not in page
    assert '<a href="/datasets/demo/%3Ci%3Eodd%3C%2Fi%3E">&lt;i&gt;odd&lt;/i&gt;</a>' in inputs
    assert "<script" not in without_our_script(page)


def test_the_json_page_carries_inputs_and_dependants_as_ame_ds_show_does(
    pipeline: Dashboard, pipeline_state: Path
) -> None:
    for name in ("raw", "features"):
        served = json.loads(fetch(pipeline.url + f"api/datasets/demo/{name}").body)
        shown = CliRunner().invoke(
            ame, ["ds", "show", name, "--json", "--state-dir", str(pipeline_state)]
        )
        assert shown.exit_code == 0, shown.output
        printed = json.loads(shown.stdout)
        assert (served["inputs"], served["dependants"]) == (
            printed["inputs"],
            printed["dependants"],
        )
    raw = json.loads(fetch(pipeline.url + "api/datasets/demo/raw").body)
    features = json.loads(fetch(pipeline.url + "api/datasets/demo/features").body)
    assert (raw["inputs"], raw["dependants"]) == ([], ["features"])
    assert (features["inputs"], features["dependants"]) == (["raw", HOSTILE_NAME], [])


def test_the_lineage_links_every_data_set_and_task(pipeline: Dashboard) -> None:
    page = fetch(pipeline.url + "lineage").body
    svg = re.search(r'<svg class="graph" id="lineage".*?</svg>', page, re.S)
    assert svg, "no lineage graph"
    hrefs = set(re.findall(r'<a class="node \w+" href="([^"]+)"', svg.group(0)))
    assert hrefs == {
        "/datasets/demo/raw",
        "/datasets/demo/features",
        "/datasets/demo/%3Ci%3Eodd%3C%2Fi%3E",
        "/tasks/demo/make",
    }
    assert svg.group(0).count('class="edge"') == 5  # 3 data sets from make, 2 inputs into it
    assert HOSTILE_NAME not in page


def test_an_event_links_the_inputs_it_names(pipeline: Dashboard) -> None:
    page = fetch(pipeline.url + "datasets/demo/features").body
    history = re.search(r'<ol class="history" id="history">.*?</ol>', page, re.S)
    assert history, "no history"
    assert 'inputs <a href="/datasets/demo/raw">raw</a>, ' in history.group(0)
    assert '<a href="/datasets/demo/%3Ci%3Eodd%3C%2Fi%3E">&lt;i&gt;odd&lt;/i&gt;</a>' in (
        history.group(0)
    )


def test_the_lineage_narrows_to_the_data_sets_whose_name_holds_a_text(pipeline: Dashboard) -> None:
    page = fetch(pipeline.url + "lineage?q=feat").body
    svg = re.search(r'<svg class="graph" id="lineage".*?</svg>', page, re.S)
    assert svg, "no lineage graph"
    datasets = re.findall(r'<a class="node dataset" href="([^"]+)"', svg.group(0))
    # features, and its inputs as the ends of its edges
    assert sorted(datasets) == [
        "/datasets/demo/%3Ci%3Eodd%3C%2Fi%3E",
        "/datasets/demo/features",
        "/datasets/demo/raw",
    ]
    assert svg.group(0).count('class="edge"') == 3  # make -> features, and 2 inputs -> make
    assert 'value="feat"' in page
