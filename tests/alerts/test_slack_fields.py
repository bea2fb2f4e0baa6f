"""Slack through apprise's own plugin, its webhook endpoint pointed at a receiver on
127.0.0.1: the alert arrives as a Block Kit attachment with the labels as fields, the text
as plain text (never markup) and the dashboard and runbook links."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apprise.plugins.slack import NotifySlack

from amed.alerts.channels import AlertChannels, Delivery

TOKENS = "T1AAAAAAA/B2BBBBBBB/c3CCCCCCCCCCCCCCCCCCCCCC"
OUTPUT = '<b>x</b> <img src=x> *bold* {{app_body}} "quoted"\nsecond line'
DELIVERY = Delivery(
    "failed:demo/big",
    "alert",
    "critical",
    "amed@gpu-3: data set big failed 3 times",
    f"Last error:\n{OUTPUT}\n\n--\nhost: gpu-3\nkey: failed:demo/big",
    labels={"host": "gpu-3", "project": "demo", "data set": "big", "key": "failed:demo/big"},
    link="http://127.0.0.1:8321/datasets/demo/big",
    runbook="https://wiki.example.org/amed?a=1&b=2#failed",
)


@contextmanager
def slack_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Slack's incoming webhooks answer `ok`; apprise's plugin is pointed here."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{port}/services")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()


def blocks_of(payload: dict[str, Any]) -> dict[str, Any]:
    (attachment,) = payload["attachments"]
    return {block["type"]: block for block in attachment["blocks"]} | {"color": attachment["color"]}


def test_slack_gets_the_labels_as_fields_the_text_as_plain_text_and_the_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with slack_receiver(monkeypatch) as received:
        outcome = AlertChannels([f"slack://{TOKENS}"]).send(DELIVERY)
    assert outcome.delivered, outcome.failed
    (payload,) = received
    blocks = blocks_of(payload)
    assert blocks["header"]["text"] == {
        "type": "plain_text",
        "text": "amed@gpu-3: data set big failed 3 times",
    }
    section = next(
        b for b in payload["attachments"][0]["blocks"] if b["type"] == "section" and "text" in b
    )
    assert section["text"] == {"type": "plain_text", "text": f"Last error:\n{OUTPUT}"}
    fields = next(b for b in payload["attachments"][0]["blocks"] if "fields" in b)["fields"]
    assert [f["text"] for f in fields] == [
        "host: gpu-3",
        "project: demo",
        "data set: big",
        "key: failed:demo/big",
    ]
    assert all(f["type"] == "plain_text" for f in fields)
    assert blocks["context"]["elements"][0]["text"] == (
        "<http://127.0.0.1:8321/datasets/demo/big|dashboard> · "
        "<https://wiki.example.org/amed?a=1&amp;b=2#failed|runbook>"
    )
    assert blocks["color"].startswith("#")


def test_a_long_text_is_cut_to_what_slack_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    long = Delivery("low_space", "alert", "warning", "t" * 400, "x" * 10_000)
    with slack_receiver(monkeypatch) as received:
        outcome = AlertChannels([f"slack://{TOKENS}"]).send(long)
    assert outcome.delivered, outcome.failed
    blocks = blocks_of(received[0])
    assert len(blocks["header"]["text"]["text"]) == 150
    section = received[0]["attachments"][0]["blocks"][1]
    assert len(section["text"]["text"]) == 2900 and section["text"]["text"].endswith("…")


def test_a_url_with_its_own_template_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    own = tmp_path / "own.json"
    own.write_text(
        json.dumps(
            {
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "mine: {{app_title}}"}}
                ]
            }
        )
    )
    with slack_receiver(monkeypatch) as received:
        outcome = AlertChannels([f"slack://{TOKENS}?template={own}"]).send(DELIVERY)
    assert outcome.delivered, outcome.failed
    (attachment,) = received[0]["attachments"]
    assert attachment["blocks"][0]["text"]["text"] == (
        "mine: amed@gpu-3: data set big failed 3 times"
    )


def test_no_template_file_is_left_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with slack_receiver(monkeypatch):
        AlertChannels([f"slack://{TOKENS}"]).send(DELIVERY)
    assert list(tmp_path.iterdir()) == []
