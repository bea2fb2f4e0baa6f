"""A task that prints its secret, and a store credential it finds on the machine, then fails:
neither value reaches any output amed makes, and the task never sees amed's environment."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.conftest import Workspace
from tests.receivers import free_port, webhook
from tests.service.conftest import StartDaemon
from tests.service.daemon import row_of, wait_for
from tests.service.test_secrets import write_secret

DB_PASSWORD = "hunter2-Db-Pa55word-7731"
STORE_KEY = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
SPEC = """
projectname: demo
dataSets:
  - name: leaky
    path: ./data
    task:
      executor: !custom
        command: >-
          echo "connecting with $DB_PASSWORD";
          echo "aws=${AWS_SECRET_ACCESS_KEY-unset}";
          cat found-on-disk.txt;
          exit 3
      secrets:
        - !ame {key: db_password, injectAs: DB_PASSWORD}
"""


def everything_under(directory: Path) -> bytes:
    """Every byte of every file below `directory` (the state DB, its WAL, the run logs) but
    the secrets directory, where the secret is kept."""
    secrets = directory / "secrets"
    return b"".join(
        p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_relative_to(secrets)
    )


def test_a_printed_secret_and_a_store_key_reach_no_output(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC)
    ws.write("found-on-disk.txt", f"aws_secret_access_key = {STORE_KEY}\n")
    write_secret(ws.state / "secrets", "db_password", DB_PASSWORD.encode())
    port = free_port()
    with webhook() as hook:
        daemon = start_daemon(
            "--interval",
            "3600",
            "--http",
            f"127.0.0.1:{port}",
            env={
                "AWS_SECRET_ACCESS_KEY": STORE_KEY,
                "AME_ALERT_URLS": hook.url,
                "AME_ALERT_AFTER_FAILURES": "1",
            },
        )
        wait_for(lambda: row_of(ws, "leaky").get("status") == "failed")
        alerts = hook.wait_for(1)
        assert alerts, "no alert was delivered"

        row = row_of(ws, "leaky")
        assert "connecting with ***" in row["error"]
        assert "aws=unset" in row["error"]  # the daemon's environment never reached the task
        assert "aws_secret_access_key = ***" in row["error"]

        base = f"http://127.0.0.1:{port}"
        pages = [
            urllib.request.urlopen(f"{base}{path}", timeout=60).read()
            for path in ("/", "/datasets/demo/leaky", "/api/datasets/demo/leaky", "/metrics")
        ]
        assert b"connecting with ***" in pages[1]

        outputs = {
            "ame ds list": ws.run("ame", "ds", "list", "--json", check=True).stdout,
            "ame ds list table": ws.run("ame", "ds", "list", check=True).stdout,
            "ame ds show": ws.run("ame", "ds", "show", "leaky", check=True).stdout,
            "ame events": ws.run("ame", "events", "--json", check=True).stdout,
            "alerts": json.dumps(alerts),
            "dashboard": b"".join(pages).decode(),
            "daemon log": daemon.log_path.read_text(),
            "state dir": everything_under(ws.state).decode(errors="replace"),
        }
        daemon.stop()
    for where, text in outputs.items():
        assert DB_PASSWORD not in text, where
        assert STORE_KEY not in text, where
    assert "***" in outputs["alerts"]
