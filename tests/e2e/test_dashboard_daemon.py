"""`amed run --http`: the running daemon serves the dashboard and its API."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request

from tests.conftest import Workspace, command_path
from tests.receivers import free_port

SPEC = """
projectname: demo
dataSets:
  - name: mnist
    path: data
    task:
      executor: !custom
        command: mkdir -p data && echo hi > data/x
"""


def test_the_daemon_serves_the_same_json_as_ame_ds_list(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    port = free_port()
    daemon = subprocess.Popen(
        [command_path("amed"), "run", "--interval", "0.3", "--http", f"127.0.0.1:{port}"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = b"[]"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/datasets") as r:
                    body = r.read()
                if b'"ready"' in body:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert json.loads(body) == ws.datasets()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
            assert 'amed_datasets{status="ready"} 1' in r.read().decode()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    assert daemon.returncode == 0


def test_a_bad_http_address_is_invalid_input(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    proc = ws.run("amed", "run", "--http", "8321")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --http: invalid dashboard address '8321'")
