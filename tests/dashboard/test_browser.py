"""The page in a real headless Chromium on a phone-sized screen, over a state dir that a real
`amed run --once` built. Skipped where Debian's `chromium` package is not installed."""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from amed.web.server import Dashboard, start_dashboard
from tests.conftest import Workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs a headless Chromium: apt-get install -y chromium"
)
PHONE_WIDTH, PHONE_HEIGHT = 412, 915
BROWSER_TIMEOUT_SECONDS = 90

SPEC = """
projectname: demo
tasks:
  - name: make
    executor: !custom
      command: sh -c 'mkdir -p data && head -c 150000 /dev/zero > data/a && echo hi > data/b'
  - name: bad
    executor: !custom
      command: sh -c 'echo "<script>document.title=1</script> boom" >&2; exit 3'
dataSets:
  - name: mnist
    path: data
    size: 1Mi
    task: {taskRef: make}
  - name: broken-with-a-rather-long-name
    path: out
    task: {taskRef: bad}
"""


@pytest.fixture
def served(ws: Workspace) -> Iterator[Dashboard]:
    ws.write_spec(SPEC)
    ws.once()
    statuses = {row["name"]: row["status"] for row in ws.datasets()}
    assert statuses == {"mnist": "ready", "broken-with-a-rather-long-name": "failed"}
    with start_dashboard(
        ws.state, "127.0.0.1:0", capacity_bytes=8 * 2**20, storage_url=ws.storage_url
    ) as running:
        yield running


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={PHONE_WIDTH},{PHONE_HEIGHT}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_a_phone_sized_chromium_renders_every_data_set_and_no_injected_script(
    served: Dashboard, tmp_path: Path
) -> None:
    dom = chromium(tmp_path / "profile", "--dump-dom", served.url).stdout
    assert '<tr id="ds-demo-mnist"' in dom
    assert '<tr id="ds-demo-broken-with-a-rather-long-name"' in dom
    assert "<title>amed: data sets</title>" in dom
    assert "<script" not in dom
    assert "146.5 KiB" in dom  # mnist's stored size

    screenshot = tmp_path / "page.png"
    chromium(tmp_path / "profile", f"--screenshot={screenshot}", served.url)
    assert png_size(screenshot) == (PHONE_WIDTH, PHONE_HEIGHT)


def test_a_data_set_page_renders_its_history_in_chromium(served: Dashboard, tmp_path: Path) -> None:
    url = served.url + "datasets/demo/broken-with-a-rather-long-name"
    dom = chromium(tmp_path / "profile", "--dump-dom", url).stdout
    assert '<ol class="history" id="history">' in dom
    assert "<b>run failed</b>" in dom
    assert "&lt;script&gt;document.title=1&lt;/script&gt; boom" in dom
    assert "<script" not in dom
    chromium(tmp_path / "profile", f"--screenshot={tmp_path / 'dataset.png'}", url)
    assert png_size(tmp_path / "dataset.png") == (PHONE_WIDTH, PHONE_HEIGHT)
