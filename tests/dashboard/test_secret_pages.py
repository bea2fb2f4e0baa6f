"""A task that prints its secret and fails, run by the real `amed run --once`: the secret is
on no page and in no live part, the run's output page included (masked when written,
escaped when shown)."""

from __future__ import annotations

import json
from urllib.parse import quote

from amed.web.server import start_dashboard
from state.read import StateReader
from tests.conftest import Workspace
from tests.dashboard.conftest import fetch
from tests.service.test_secrets import write_secret

DB_PASSWORD = "hunter2-Db-Pa55word-7731"
SPEC = """
projectname: demo
dataSets:
  - name: leaky
    path: ./data
    task:
      executor: !custom
        command: >-
          echo "connecting with $DB_PASSWORD"; echo "<b>$DB_PASSWORD</b>" >&2; exit 3
      secrets:
        - !ame {key: db_password, injectAs: DB_PASSWORD}
"""


def test_a_printed_secret_is_on_no_page_and_in_no_live_part(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    write_secret(ws.state / "secrets", "db_password", DB_PASSWORD.encode())
    ws.once()
    reader = StateReader.in_dir(ws.state)
    try:
        (run,) = reader.producing_runs("demo", "leaky")
        task = reader.dataset("leaky", "demo")
    finally:
        reader.close()
    assert run.run_id and task is not None
    paths = [
        "/",
        "/datasets/demo/leaky",
        "/datasets/demo/leaky?type=run_failed",
        f"/tasks/demo/{quote(task.task, safe='')}",
        f"/runs/{run.run_id}",
        "/events",
        "/lineage",
    ]
    with start_dashboard(
        ws.state, "127.0.0.1:0", capacity_bytes=None, storage_url=ws.storage_url
    ) as dashboard:
        base = dashboard.url.rstrip("/")
        pages = {path: fetch(base + path) for path in paths}
        lives = {path: fetch(f"{base}/api/live?path={quote(path)}") for path in paths}
    for path, reply in [*pages.items(), *lives.items()]:
        assert reply.status == 200, path
        assert DB_PASSWORD not in reply.body, path
    run_page = pages[f"/runs/{run.run_id}"].body
    assert "connecting with ***" in run_page and "&lt;b&gt;***&lt;/b&gt;" in run_page
    output = json.loads(lives[f"/runs/{run.run_id}"].body)["parts"]["output"]["html"]
    assert "connecting with ***" in output
