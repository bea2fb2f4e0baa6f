"""A task that puts a symbolic link in its own log's place, pointing at its secret's file:
the masking its output went through must not be bypassed by whoever reads the log next
(the error kept in the state, the alert, `ame ds logs`, the dashboard's run page)."""

from __future__ import annotations

import json
import urllib.request

from tests.conftest import Workspace
from tests.receivers import free_port, webhook
from tests.service.conftest import StartDaemon
from tests.service.daemon import row_of, wait_for
from tests.service.test_secrets import write_secret

DB_PASSWORD = "hunter2-Linked-Pa55word-4410"
SPEC = """
projectname: demo
dataSets:
  - name: linker
    path: ./data
    task:
      executor: !custom
        command: >-
          echo "connecting with $DB_PASSWORD";
          ln -s {secret} ../planted &&
          mv -fT ../planted ../output.log &&
          echo "the log is now a link";
          exit 3
      secrets:
        - !ame {{key: db_password, injectAs: DB_PASSWORD}}
"""


def test_a_link_over_the_run_log_shows_no_reader_the_secret(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    secret_file = write_secret(ws.state / "secrets", "db_password", DB_PASSWORD.encode())
    ws.write_spec(SPEC.format(secret=secret_file))
    port = free_port()
    with webhook() as hook:
        start_daemon(
            "--interval",
            "3600",
            "--http",
            f"127.0.0.1:{port}",
            env={"AME_ALERT_URLS": hook.url, "AME_ALERT_AFTER_FAILURES": "1"},
        )
        wait_for(lambda: row_of(ws, "linker").get("status") == "failed")
        alerts = hook.wait_for(1)
        assert alerts, "no alert was delivered"
        run_ids = sorted(p.name for p in (ws.state / "runs").iterdir())
        assert run_ids and all((ws.state / "runs" / r / "output.log").is_symlink() for r in run_ids)
        pages = [
            urllib.request.urlopen(f"http://127.0.0.1:{port}/runs/{run_id}", timeout=60).read()
            for run_id in run_ids
        ]

    row = row_of(ws, "linker")
    logs = ws.run("ame", "ds", "logs", "linker")
    outputs = {
        "the data set's error": row["error"],
        "the alert": json.dumps(alerts),
        "ame ds logs": logs.stdout + logs.stderr,
        "the run pages": b"".join(pages).decode(),
    }
    for where, text in outputs.items():
        assert DB_PASSWORD not in text, where
    assert "exit" in row["error"] or "3" in row["error"]
