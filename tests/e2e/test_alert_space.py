"""Space alerts a person on call can act on, end to end: a real `amed` daemon with a small
file:// budget, apprise delivering to a real webhook (json://) and a real SMTP server on
127.0.0.1. A blocked data set and a growing one each alert with the host, key, labels and
dashboard link, and each says in its resolved notice what fixed it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.e2e.test_oncall_alerts import daemon, text_of, wait_until
from tests.receivers import free_port, smtp_server, webhook

WAIT_SECONDS = 300.0  # a bound against a hang, not a measure: the receivers are waited for
pytestmark = pytest.mark.timeout(900)  # two cores shared with other suites: runs may queue

BLOCKED = """
projectname: demo
dataSets:
  - name: big
    path: out
    size: {size}
    task:
      executor: !custom
        command: mkdir -p out && head -c 5M /dev/zero > out/blob
"""

GROWING = """
projectname: demo
dataSets:
  - name: logs
    path: out
    task:
      executor: !custom
        command: sh make.sh
"""
# Writes as many MiB as size.txt says: each edit of size.txt is a new version.
MAKE = 'mkdir -p out && head -c "$(cat size.txt)M" /dev/zero > out/blob\n'


def version_of(ws: Workspace, name: str) -> int | None:
    return next((row["version"] for row in ws.datasets() if row["name"] == name), None)


def with_notice(received: list[dict[str, Any]], key: str, notice: str) -> list[dict[str, Any]]:
    return [m for m in received if m.get("key") == key and m.get("notice") == notice]


def test_a_blocked_data_set_alerts_with_host_key_labels_and_link_and_resolves_once_it_fits(
    ws: Workspace,
) -> None:
    ws.write_spec(BLOCKED.format(size="50Mi"))
    port = free_port()
    key = "blocked:demo/big"
    with webhook() as hook, smtp_server() as mailbox:
        ws.env.update(
            AME_ALERT_URLS=f"{hook.url} {mailbox.url}",
            AME_ALERT_INSTANCE="e2e-host",
            AME_CAPACITY="20Mi",
        )
        with daemon(ws, "--http", f"127.0.0.1:{port}"):
            alert = wait_until(lambda: with_notice(hook.received, key, "alert")[:1], WAIT_SECONDS)
            mail = wait_until(lambda: mailbox.messages[:1], WAIT_SECONDS)[0]
            ws.write_spec(BLOCKED.format(size="10Mi"))
            resolved = wait_until(
                lambda: with_notice(hook.received, key, "resolved")[:1], WAIT_SECONDS
            )
        assert ws.dataset("big")["status"] == "ready"

    first = alert[0]
    link = f"http://127.0.0.1:{port}/datasets/demo/big"
    assert first["type"] == "failure" and first["severity"] == "critical"
    assert first["labels"] == {
        "host": "e2e-host",
        "project": "demo",
        "data set": "big",
        "severity": "critical",
        "key": key,
    }
    assert first["link"] == link
    assert first["title"].startswith("amed@e2e-host: data set big is blocked")
    assert "50.0 MiB" in first["message"], first["message"]
    assert f"dashboard: {link}" in first["message"]

    assert str(mail["Subject"]).startswith("amed@e2e-host: data set big is blocked")
    body = text_of(mail)
    assert f"key: {key}" in body and "host: e2e-host" in body and link in body

    notice = resolved[0]
    assert notice["title"] == "RESOLVED: amed@e2e-host: data set big fits now"
    assert notice["type"] == "success" and notice["link"] == link
    # Written when sent: the data set may be running already, or stored.
    assert re.match(
        r"What resolved it: (version 1 stored at |big fits in the store now \((running|"
        r"uploading|ready)\))",
        notice["message"],
    ), notice["message"]
    assert "the alert fired for " in notice["message"]


def test_a_growing_data_set_warns_before_its_next_version_will_not_fit_and_resolves(
    ws: Workspace,
) -> None:
    ws.write_spec(GROWING)
    ws.write("make.sh", MAKE)
    ws.write("size.txt", "4\n")
    port = free_port()
    key = "wont_fit:demo/logs"
    with webhook() as hook, smtp_server() as mailbox:
        ws.env.update(
            AME_ALERT_URLS=f"{hook.url} {mailbox.url}",
            AME_ALERT_INSTANCE="e2e-host",
            AME_CAPACITY="18Mi",
        )
        with daemon(ws, "--http", f"127.0.0.1:{port}"):
            wait_until(lambda: version_of(ws, "logs") == 1, WAIT_SECONDS)
            assert not with_notice(hook.received, key, "alert")  # one version: no trend yet
            ws.write("size.txt", "8\n")  # 4 MiB more: the next, 12 MiB, will not fit in 10
            alert = wait_until(lambda: with_notice(hook.received, key, "alert")[:1], WAIT_SECONDS)
            mail = wait_until(
                lambda: [m for m in mailbox.messages if key in text_of(m)][:1], WAIT_SECONDS
            )[0]
            ws.write("size.txt", "2\n")  # it shrank: no growth left to forecast
            resolved = wait_until(
                lambda: with_notice(hook.received, key, "resolved")[:1], WAIT_SECONDS
            )

    first = alert[0]
    link = f"http://127.0.0.1:{port}/datasets/demo/logs"
    assert first["type"] == "warning" and first["severity"] == "warning"
    assert first["labels"] == {
        "host": "e2e-host",
        "project": "demo",
        "data set": "logs",
        "severity": "warning",
        "key": key,
    }
    assert first["link"] == link
    assert first["title"].startswith("amed@e2e-host: data set logs is growing")
    assert "(12.0 MiB expected, " in first["title"]
    assert "held 4.0 MiB and 8.0 MiB" in first["message"], first["message"]
    assert "Declare `size: 15Mi` in ame.yaml" in first["message"]

    assert str(mail["Subject"]).startswith("amed@e2e-host: data set logs is growing")
    assert "host: e2e-host" in text_of(mail) and link in text_of(mail)

    notice = resolved[0]
    assert notice["title"] == "RESOLVED: amed@e2e-host: data set logs has room again"
    assert notice["message"].startswith("What resolved it: version 3 was stored at ")
    assert len(with_notice(hook.received, key, "alert")) == 1  # a warning is told once
