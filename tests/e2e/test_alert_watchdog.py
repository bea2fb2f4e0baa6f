"""The always-firing watchdog alert end to end: a real `amed` daemon sends it to a real
webhook (json://) again every repeat interval, with its runbook link, so that a receiver
elsewhere can tell a silent amed from a healthy one."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace
from tests.e2e.test_oncall_alerts import daemon, wait_until
from tests.receivers import webhook

WAIT_SECONDS = 300.0  # a bound against a hang, not a measure: the receiver is waited for
pytestmark = pytest.mark.timeout(900)
RUNBOOK = "https://wiki.example.org/amed#watchdog"


def test_the_watchdog_alert_is_sent_again_every_repeat_interval_with_its_runbook(
    ws: Workspace,
) -> None:
    ws.write_spec("projectname: demo\ndataSets: []\n")
    with webhook() as hook:
        ws.env.update(
            AME_ALERT_URLS=hook.url,
            AME_ALERT_INSTANCE="e2e-host",
            AME_ALERT_WATCHDOG="on",
            AME_ALERT_REPEAT_SECONDS="1",
            AME_ALERT_RUNBOOKS=f"watchdog={RUNBOOK} failed=https://wiki.example.org/f",
        )
        with daemon(ws):
            sent = wait_until(
                lambda: [m for m in hook.received if m.get("key") == "watchdog"][1:2],
                WAIT_SECONDS,
            )
    first = next(m for m in hook.received if m.get("key") == "watchdog")
    assert first["notice"] == "alert" and first["severity"] == "info"
    assert first["runbook"] == RUNBOOK
    assert first["labels"]["host"] == "e2e-host"
    assert first["title"] == "amed@e2e-host: watchdog: amed and its alert path are working"
    assert f"runbook: {RUNBOOK}" in first["message"]
    assert sent[0]["notice"] == "alert"  # sent again, not resolved
