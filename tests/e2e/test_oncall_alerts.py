"""Alerts a person on call can act on, end to end: a real `amed` daemon, apprise delivering
to a real webhook (json://) and a real SMTP server on 127.0.0.1, and a heartbeat receiver."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from tests.conftest import Workspace, command_path
from tests.receivers import free_port, smtp_server, webhook

T = TypeVar("T")

FLAKY = """
projectname: demo
dataSets:
  - name: flaky
    path: out
    task:
      executor: !custom
        command: sh make.sh
"""
# Fails, printing HTML, until the file "$RUNS_LOG.ok" exists (RUNS_LOG is passed to tasks).
MAKE = """
if [ -f "$RUNS_LOG.ok" ]; then mkdir -p out && echo ok > out/x; exit 0; fi
echo '<b>x</b> <img src=x>'
echo 'second line'
exit 1
"""


def wait_until(find: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout} s")


@contextmanager
def daemon(ws: Workspace, *extra: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [command_path("amed"), "run", "--interval", "0.3", *extra],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no text/plain part")


def test_a_failing_data_set_alerts_with_labels_and_link_repeats_its_count_and_resolves(
    ws: Workspace,
) -> None:
    ws.write_spec(FLAKY)
    ws.write("make.sh", MAKE)
    port = free_port()
    with webhook() as hook, smtp_server() as mailbox:
        ws.env.update(
            AME_ALERT_URLS=f"{hook.url} {mailbox.url}",
            AME_ALERT_INSTANCE="e2e-host",
            AME_ALERT_AFTER_FAILURES="2",
            AME_ALERT_REPEAT_SECONDS="1",
            AME_RETRY_BASE_SECONDS="0.3",
        )
        with daemon(ws, "--http", f"127.0.0.1:{port}"):

            def alerts() -> list[dict[str, Any]]:
                return [m for m in hook.received if m.get("notice") == "alert"]

            first = wait_until(lambda: alerts()[:1])[0]
            repeat = wait_until(lambda: [m for m in alerts() if m["title"] != first["title"]][:1])[
                0
            ]
            (ws.root / "runs.log.ok").touch()
            resolved = wait_until(
                lambda: [m for m in hook.received if m.get("notice") == "resolved"][:1]
            )[0]
            mails = wait_until(lambda: mailbox.messages[:1])

    assert first["key"] == "failed:demo/flaky" and first["type"] == "failure"
    assert first["labels"] == {
        "host": "e2e-host",
        "project": "demo",
        "data set": "flaky",
        "severity": "critical",
        "key": "failed:demo/flaky",
    }
    assert first["link"] == f"http://127.0.0.1:{port}/datasets/demo/flaky"
    assert first["title"].startswith("amed@e2e-host: data set flaky failed ")
    assert "<b>x</b> <img src=x>\nsecond line" in first["message"]
    assert f"dashboard: http://127.0.0.1:{port}/datasets/demo/flaky" in first["message"]

    def count(title: str) -> int:
        words = title.rsplit(" failed ", 1)[1]
        return {"once": 1, "twice": 2}.get(words) or int(words.split()[0])

    assert count(repeat["title"]) > count(first["title"]) >= 2
    assert f"has failed {repeat['title'].rsplit(' failed ', 1)[1]} in a row" in repeat["message"]

    assert resolved["title"] == "RESOLVED: amed@e2e-host: data set flaky is ready again"
    assert resolved["type"] == "success" and resolved["key"] == "failed:demo/flaky"
    assert re.match(r"What resolved it: version \d+ stored at ", resolved["message"])
    assert "after the alert was raised" in resolved["message"]
    assert "the alert fired for " in resolved["message"]

    mail = mails[0]
    assert str(mail["Subject"]).startswith("amed@e2e-host: data set flaky failed ")
    body = text_of(mail)
    assert "<b>x</b> <img src=x>\r\nsecond line\r\n" in body
    assert "key: failed:demo/flaky" in body


CONSUMER = """
projectname: demo
tasks:
  - name: train
    executor: !custom
      command: sh train.sh
    dataSets: [mnist]
dataSets:
  - name: mnist
    path: data
    task:
      executor: !custom
        command: mkdir -p data && echo hi > data/x
"""
# Fails like a GPU job out of memory until "$RUNS_LOG.ok" exists.
TRAIN = """
if [ -f "$RUNS_LOG.ok" ]; then echo trained; exit 0; fi
echo 'epoch 1 <loss>0.3</loss>'
echo 'RuntimeError: CUDA out of memory' >&2
exit 1
"""


def test_a_failing_consumer_task_alerts_after_its_failures_repeats_and_resolves(
    ws: Workspace,
) -> None:
    ws.write_spec(CONSUMER)
    ws.write("train.sh", TRAIN)
    with webhook() as hook, smtp_server() as mailbox:
        ws.env.update(
            AME_ALERT_URLS=f"{hook.url} {mailbox.url}",
            AME_ALERT_INSTANCE="e2e-host",
            AME_ALERT_AFTER_FAILURES="2",
            AME_ALERT_REPEAT_SECONDS="1",
            AME_DASHBOARD_URL="https://amed.example.org/",
        )
        with daemon(ws):

            def finished() -> int | None:
                """Runs of train that ended; None until the daemon has declared it."""
                listed = ws.run("ame", "task", "list", "--json")
                if listed.returncode != 0:  # no state database yet: amed is starting
                    return None
                tasks = json.loads(listed.stdout)
                row = next((t for t in tasks if t["name"] == "train"), None)
                return None if row is None else int(row["runs"])

            def run_once_more() -> None:
                before = wait_until(lambda: (finished(),) if finished() is not None else None)[0]
                ws.run("ame", "task", "run", "train", check=True)
                wait_until(lambda: (finished() or 0) > before)

            def of_task(notice: str) -> list[dict[str, Any]]:
                return [
                    m
                    for m in hook.received
                    if m.get("key") == "task_failed:demo/train" and m.get("notice") == notice
                ]

            run_once_more()
            run_once_more()
            first = wait_until(lambda: of_task("alert")[:1])[0]
            run_once_more()
            repeat = wait_until(lambda: [m for m in of_task("alert") if "3 times" in m["title"]])[0]
            (ws.root / "runs.log.ok").touch()
            run_once_more()
            resolved = wait_until(lambda: of_task("resolved")[:1])[0]
            mail = wait_until(
                lambda: [m for m in mailbox.messages if "task train" in str(m["Subject"])][:1]
            )[0]

    assert first["title"] == "amed@e2e-host: task train failed twice"
    assert first["labels"] == {
        "host": "e2e-host",
        "project": "demo",
        "task": "train",
        "severity": "critical",
        "key": "task_failed:demo/train",
    }
    assert first["link"] == "https://amed.example.org/"
    assert "RuntimeError: CUDA out of memory" in first["message"]
    assert "has failed twice in a row" in first["message"]
    assert repeat["title"] == "amed@e2e-host: task train failed 3 times"
    assert resolved["title"] == "RESOLVED: amed@e2e-host: task train succeeded"
    assert re.match(r"What resolved it: run \S+ succeeded at ", resolved["message"])
    body = text_of(mail)
    assert "epoch 1 <loss>0.3</loss>\r\nRuntimeError: CUDA out of memory" in body


@contextmanager
def heartbeat_receiver() -> Iterator[tuple[str, list[float]]]:
    pings: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            pings.append(time.monotonic())
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/5e0c7a1d-t0k3n", pings
    finally:
        server.shutdown()
        server.server_close()


def test_the_heartbeat_is_pinged_while_the_daemon_runs_and_not_once_it_stopped(
    ws: Workspace,
) -> None:
    ws.write_spec("projectname: demo\ndataSets: []\n")
    with heartbeat_receiver() as (url, pings):
        ws.env["AME_ALERT_HEARTBEAT_URL"] = url
        with daemon(ws) as proc:
            wait_until(lambda: len(pings) >= 3)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        stopped = len(pings)
        time.sleep(1.0)  # an absence: three passes' worth of time with nothing arriving
        assert len(pings) == stopped
    assert proc.returncode == 0
    assert "heartbeat_ok" in stderr and "t0k3n" not in stderr


def test_a_refusing_channel_records_its_reason_and_ame_status_shows_each_channel(
    ws: Workspace,
) -> None:
    ws.write_spec(
        "projectname: demo\ndataSets:\n  - name: huge\n    path: d\n    size: 1Gi\n"
        "    task:\n      executor: !custom\n        command: 'true'\n"
    )
    with webhook() as hook, smtp_server() as mailbox:
        refusing = (
            f"mailto://ops:hunter2secret@127.0.0.1:{mailbox.port}"
            "?mode=insecure&from=a@example.org&to=b@example.org"
        )
        ws.env.update(AME_CAPACITY="10Mi", AME_ALERT_URLS=f"{hook.url} {refusing}")
        assert ws.once().returncode == 1
        hook.wait_for(1)
    events = [json.loads(line) for line in ws.run("ame", "events", "--json").stdout.splitlines()]
    (failure,) = [e for e in events if e["type"] == "alert_delivery_failed"]
    assert failure["error"] == (
        'Connection error while submitting email to "127.0.0.1": '
        "SMTP AUTH extension not supported by server."
    )
    status = ws.run("ame", "status")
    lines = [line for line in status.stdout.splitlines() if line.startswith("alerts:")]
    assert len(lines) == 2, status.stdout
    mail_line = next(line for line in lines if "mailto://" in line)
    hook_line = next(line for line in lines if "json://" in line)
    assert "last sent never; last refused 20" in mail_line
    assert mail_line.endswith("SMTP AUTH extension not supported by server.")
    assert "last sent 20" in hook_line and hook_line.endswith("never refused")
    report = json.loads(ws.run("ame", "status", "--json").stdout)
    assert {c["channel"]: c["last_error"] for c in report["channels"]}[
        f"mailto://127.0.0.1:{mailbox.port}/…"
    ] == failure["error"]
    assert "hunter2secret" not in status.stdout + json.dumps(events)
