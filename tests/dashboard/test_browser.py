"""The dashboard in a real headless Chromium at a phone's and a desktop's size, over a state
dir that a real `amed run --once` built: every page renders with no injected script, live
updates keep an opened `<details>` open, the storage plot has one point per change the
log records, and screenshots of every page are kept for a person to look at.

Screenshots go to `build/screenshots/` (or `$AME_SCREENSHOT_DIR`), named
`<size>-<page>.png`. Skipped where Debian's `chromium` package is not installed."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amed.web.plots import Levels
from amed.web.server import Dashboard, start_dashboard
from state.db import StateStore
from state.events import DatasetDeclared
from state.read import StateReader
from tests.conftest import Workspace
from tests.dashboard.browser import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs a headless Chromium: apt-get install -y chromium"
)
SIZES = {"phone": (412, 915, True), "desktop": (1280, 900, False)}
SCREENSHOTS = Path(
    os.environ.get("AME_SCREENSHOT_DIR")
    or Path(__file__).resolve().parents[2] / "build/screenshots"
)
LONG_NAME = "broken-with-a-rather-long-name"

SPEC = f"""
projectname: demo
tasks:
  - name: make
    executor: !custom
      command: sh -c 'mkdir -p data && head -c 150000 /dev/zero > data/a && echo hi > data/b'
  - name: bad
    executor: !custom
      command: sh -c 'echo "<script>document.title=1</script> boom" >&2; exit 3'
  - name: train
    executor: !custom
      command: sh -c 'ls features > /dev/null'
    dataSets: [features]
dataSets:
  - name: mnist
    path: data
    size: 1Mi
    task: {{taskRef: make}}
  - name: features
    path: features
    task:
      executor: !custom
        command: sh -c 'mkdir -p features && head -c 1000 data/a > features/f'
      dataSets: [mnist]
  - name: {LONG_NAME}
    path: out
    task: {{taskRef: bad}}
"""


@pytest.fixture
def served(ws: Workspace) -> Iterator[Dashboard]:
    ws.write_spec(SPEC)
    ws.once()
    statuses = {row["name"]: row["status"] for row in ws.datasets()}
    assert statuses == {"mnist": "ready", "features": "ready", LONG_NAME: "failed"}
    with start_dashboard(
        ws.state,
        "127.0.0.1:0",
        capacity_bytes=8 * 2**20,
        storage_url=ws.storage_url,
        levels=Levels(high_percent=90, low_percent=80, warn_percent=85),
    ) as running:
        yield running


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def _storage_changes(state_dir: Path) -> int:
    """Versions stored and deleted, as the log says: each changes the bytes held."""
    reader = StateReader.in_dir(state_dir)
    try:
        return sum(
            1 for e in reader.events() if e.event.type in ("version_stored", "version_deleted")
        )
    finally:
        reader.close()


def _run_of(state_dir: Path, dataset: str) -> str:
    reader = StateReader.in_dir(state_dir)
    try:
        runs = reader.producing_runs("demo", dataset)
    finally:
        reader.close()
    assert runs and runs[-1].run_id
    return runs[-1].run_id


@pytest.mark.parametrize("size", sorted(SIZES))
def test_every_page_renders_in_chromium_with_no_injected_script(
    served: Dashboard, ws: Workspace, tmp_path: Path, size: str
) -> None:
    width, height, mobile = SIZES[size]
    bad_run = _run_of(ws.state, LONG_NAME)
    pages = {
        "index": "",
        "dataset": f"datasets/demo/{LONG_NAME}",
        "pipeline": "datasets/demo/features",
        "task": "tasks/demo/make",
        "run": f"runs/{bad_run}",
        "lineage": "lineage",
        "events": "events",
    }
    with Browser(tmp_path / "profile", width=width, height=height, mobile=mobile) as browser:
        for name, path in pages.items():
            browser.open(served.url + path)
            # The page's own script ran (the CSP let it), and no other script exists.
            assert browser.evaluate("document.getElementById('live-toggle').hidden") is False
            assert browser.evaluate("document.scripts.length") == 1
            assert browser.evaluate("document.title") != "1"  # the task's <script> stayed text
            shot = browser.screenshot(SCREENSHOTS / f"{size}-{name}.png")
            assert png_size(shot) == (width, height)
            browser.screenshot(SCREENSHOTS / f"{size}-{name}-full.png", full_page=True)

        browser.open(served.url)
        assert browser.evaluate("document.querySelectorAll('#datasets tbody tr').length") == 3
        assert browser.evaluate(
            "document.querySelectorAll('#storage-plot circle.pt').length"
        ) == _storage_changes(ws.state)

        browser.open(served.url + f"runs/{bad_run}")
        log = browser.evaluate("document.getElementById('log').textContent")
        assert "<script>document.title=1</script> boom" in log

        browser.open(served.url + "lineage")
        nodes = browser.evaluate(
            "[...document.querySelectorAll('#lineage a.node')].map(a => a.getAttribute('href'))"
        )
        assert {"/datasets/demo/mnist", "/tasks/demo/train", "/tasks/demo/make"} <= set(nodes)


def test_an_opened_details_stays_open_when_the_next_update_changes_its_part(
    served: Dashboard, ws: Workspace, tmp_path: Path
) -> None:
    width, height, mobile = SIZES["phone"]
    with Browser(tmp_path / "profile", width=width, height=height, mobile=mobile) as browser:
        browser.open(served.url)
        error = f"#datasets tr[id='ds-demo-{LONG_NAME}'] details"
        browser.evaluate(f"document.querySelector({error!r}).querySelector('summary').click()")
        assert browser.evaluate(f"document.querySelector({error!r}).open") is True
        before = browser.evaluate("document.getElementById('listing').getAttribute('data-digest')")

        with StateStore.in_dir(ws.state) as store:  # the listing changes: one more data set
            store.append(
                [
                    DatasetDeclared(
                        at=datetime.now(UTC),
                        project="demo",
                        dataset="arrived-later",
                        spec_hash="h",
                        path="later",
                        task="make",
                    )
                ]
            )
        while not browser.evaluate("!!document.getElementById('ds-demo-arrived-later')"):
            browser.next_update()

        after = browser.evaluate("document.getElementById('listing').getAttribute('data-digest')")
        assert after != before  # the part holding the details was swapped
        assert browser.evaluate(f"document.querySelector({error!r}).open") is True
        browser.screenshot(SCREENSHOTS / "phone-index-details-open.png")

        browser.evaluate("document.getElementById('live-toggle').click()")
        assert browser.evaluate("document.getElementById('live-toggle').textContent") == "Resume"
        assert browser.evaluate("document.getElementById('live-state').textContent") == "paused"


def test_without_script_the_page_is_a_static_snapshot(served: Dashboard, tmp_path: Path) -> None:
    width, height, mobile = SIZES["desktop"]
    with Browser(tmp_path / "profile", width=width, height=height, mobile=mobile) as browser:
        browser.call("Emulation.setScriptExecutionDisabled", {"value": True})
        browser.open(served.url)
        assert browser.evaluate("document.querySelectorAll('#datasets tbody tr').length") == 3
        assert browser.evaluate("document.getElementById('live-toggle').hidden") is True
        assert browser.evaluate("document.documentElement.hasAttribute('data-updates')") is False
