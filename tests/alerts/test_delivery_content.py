"""What channels receive, on real receivers on 127.0.0.1: plain text that stays text (task
output full of HTML arrives escaped, line breaks kept), labels as json:// payload fields,
and a refusal's real cause."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from structlog.testing import capture_logs

from amed.alerts.channels import AlertChannels, Delivery, Outcome
from amed.alerts.heartbeat import Heartbeat
from amed.alerts.sender import AlertSender
from tests.receivers import free_port, smtp_server, webhook

OUTPUT = "Traceback (most recent call last):\n<b>x</b> <img src=x>\nValueError: a & b"
DELIVERY = Delivery(
    "failed:demo/big",
    "alert",
    "critical",
    "amed@gpu-3: data set big failed 3 times",
    f"Last error:\n{OUTPUT}",
    labels={"host": "gpu-3", "project": "demo", "data set": "big"},
    link="http://127.0.0.1:8321/datasets/demo/big",
)


def parts(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode()
    return found


def test_email_is_plain_text_with_task_output_as_printed_and_line_breaks_kept() -> None:
    with smtp_server() as mailbox:
        outcome = AlertChannels([mailbox.url]).send(DELIVERY)
        assert outcome.delivered, outcome.failed
        (message,) = mailbox.wait_for(1)
    assert parts(message) == {
        "text/plain": (
            "Last error:\r\nTraceback (most recent call last):\r\n<b>x</b> <img src=x>\r\n"
            "ValueError: a & b\r\n"
        )
    }


def test_email_asked_for_as_html_gets_the_output_escaped_and_its_line_breaks_as_br() -> None:
    with smtp_server() as mailbox:
        outcome = AlertChannels([mailbox.url + "&format=html"]).send(DELIVERY)
        assert outcome.delivered, outcome.failed
        (message,) = mailbox.wait_for(1)
    html = parts(message)["text/html"]
    assert "<b>" not in html and "<img" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;img" in html and "&amp;" in html
    assert html.count("<br/>") == 3


def test_a_json_payload_carries_key_severity_labels_and_link_as_fields() -> None:
    with webhook() as hook:
        outcome = AlertChannels([hook.url]).send(DELIVERY)
        assert outcome.delivered, outcome.failed
        (payload,) = hook.wait_for(1)
    assert payload["key"] == "failed:demo/big"
    assert payload["severity"] == "critical" and payload["notice"] == "alert"
    assert payload["labels"] == {"host": "gpu-3", "project": "demo", "data set": "big"}
    assert payload["link"] == "http://127.0.0.1:8321/datasets/demo/big"
    assert payload["type"] == "failure" and payload["message"].endswith("a & b")


def test_the_urls_own_payload_fields_win_and_stay_for_the_next_alert() -> None:
    with webhook() as hook:
        channels = AlertChannels([hook.url + "?:key=mine&:team=ops"])
        channels.send(DELIVERY)
        channels.send(Delivery("low_space", "alert", "warning", "t", "b"))
        first, second = hook.wait_for(2)
    assert first["key"] == "mine" and first["team"] == "ops" and first["labels"]["host"]
    assert second["key"] == "mine" and second["labels"] == {} and "link" not in second


def test_a_refusal_records_the_servers_reason_without_the_password() -> None:
    with smtp_server() as mailbox:
        url = (
            f"mailto://ops:hunter2secret@127.0.0.1:{mailbox.port}"
            "?mode=insecure&from=a@example.org&to=b@example.org"
        )
        outcome = AlertChannels([url]).send(DELIVERY)
    ((_, reason),) = outcome.failed
    assert "SMTP AUTH extension not supported by server" in reason, reason
    assert "127.0.0.1" in reason and "hunter2secret" not in reason


def test_a_refused_webhook_records_its_http_status() -> None:
    with webhook() as hook:
        hook.fail_next = 1
        outcome = AlertChannels([hook.url]).send(DELIVERY)
    ((_, reason),) = outcome.failed
    assert "error=500" in reason, reason


def test_apprise_debug_lines_reach_no_other_handler_and_its_logger_is_restored() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    keep = Keep(logging.DEBUG)
    root.addHandler(keep)
    apprise_log = logging.getLogger("apprise")
    dead = f"json://127.0.0.1:{free_port()}/hook/s3cr3tPath"
    try:
        channels = AlertChannels([dead])
        before = (apprise_log.level, apprise_log.propagate, list(apprise_log.handlers))
        outcome = channels.send(DELIVERY)
        after = (apprise_log.level, apprise_log.propagate, list(apprise_log.handlers))
    finally:
        root.removeHandler(keep)
    assert outcome.failed and before == after and before[0] >= logging.INFO
    assert not [r for r in seen if r.name.startswith("apprise") and r.levelno < logging.INFO]
    assert "s3cr3tPath" not in outcome.failed[0][1]


@contextmanager
def pinged() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/uuid-t0k3n", hits
    finally:
        server.shutdown()
        server.server_close()


def test_the_heartbeat_is_pinged_on_the_alert_worker() -> None:
    with pinged() as (url, hits):
        outcomes: list[Outcome] = []
        sender = AlertSender(AlertChannels(), outcomes.append, heartbeat_url=url)
        assert sender.ping()
        sender.close()
    assert hits == ["/ping/uuid-t0k3n"]


def test_a_failing_heartbeat_is_named_without_its_token() -> None:
    beat = Heartbeat(f"http://127.0.0.1:{free_port()}/ping/uuid-t0k3n")
    assert beat.name.endswith("/…") and "t0k3n" not in beat.name
    assert beat.ping() is False


def test_a_refusal_whose_reason_is_cut_short_keeps_no_part_of_the_token() -> None:
    """The server's answer echoes the URL's token; wherever the reason's length limit
    falls, not even the token's first characters are kept."""
    token = "Zq7TokenSecretValue4242"
    pad: list[int] = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"e" * pad[0] + self.path.encode())

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        channels = AlertChannels([f"json://127.0.0.1:{server.server_address[1]}/hook/{token}"])
        reasons = []
        for n in range(200, 320, 3):
            pad[0] = n
            ((_, reason),) = channels.send(DELIVERY).failed
            reasons.append(reason)
    finally:
        server.shutdown()
        server.server_close()
    assert any("***" in r for r in reasons), reasons
    assert not [r for r in reasons if token[:6] in r], reasons


def test_a_heartbeat_answered_with_garbage_is_a_failed_ping_and_alerts_still_go() -> None:
    """An endpoint that does not speak HTTP (it echoes the request line) fails the ping:
    logged without the URL's token, and the alert worker lives on to deliver."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.recv(4096).split(b"\r\n")[0] + b"\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ping/uuid-t0k3n"
    try:
        with webhook() as hook, capture_logs() as logged:
            outcomes: list[Outcome] = []
            sender = AlertSender(AlertChannels([hook.url]), outcomes.append, heartbeat_url=url)
            assert sender.ping()
            sender.submit(DELIVERY)
            sender.close()
    finally:
        listener.close()
    assert [o.delivered for o in outcomes] == [("json://127.0.0.1:" + str(hook.port) + "/…",)]
    (failed,) = [e for e in logged if e["event"] == "heartbeat_failed"]
    assert "BadStatusLine" in failed["error"] and "t0k3n" not in str(logged)


@pytest.mark.parametrize("token", ["Zq7Token%20Secret4242", "Zq7Token%2FSecret4242"])
def test_a_refusal_that_echoes_the_token_as_sent_does_not_show_it(token: str) -> None:
    """A token with a character that is percent-encoded on the wire is scrubbed in that
    form too, when the server's answer echoes the path it was sent."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b"no such hook: " + self.path.encode())

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/hook/{token}"
        ((_, reason),) = AlertChannels([url]).send(DELIVERY).failed
    finally:
        server.shutdown()
        server.server_close()
    assert "error=404" in reason and "no such" in reason, reason
    assert "Zq7Token" not in reason and "Secret4242" not in reason, reason
