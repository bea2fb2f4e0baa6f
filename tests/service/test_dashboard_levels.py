"""The daemon's dashboard draws the watermarks the daemon acts on, from its own settings."""

from __future__ import annotations

import urllib.request

from tests.conftest import Workspace
from tests.receivers import free_port
from tests.service.conftest import StartDaemon
from tests.service.daemon import row_of, wait_for

SPEC = """
projectname: demo
dataSets:
  - name: small
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && echo hi > data/a.txt
"""


def test_the_storage_plot_shows_the_daemons_own_watermarks(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC)
    port = free_port()
    start_daemon(
        "--interval",
        "3600",
        "--http",
        f"127.0.0.1:{port}",
        env={
            "AME_CAPACITY": "1Gi",
            "AME_EVICTION_HIGH_PERCENT": "77",
            "AME_EVICTION_LOW_PERCENT": "55",
            "AME_LOW_SPACE_PERCENT": "66",
        },
    )
    wait_for(lambda: row_of(ws, "small").get("status") == "ready")
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read().decode()
    for label in ("evict above 77%", "warn above 66%", "evict down to 55%"):
        assert label in page, label
