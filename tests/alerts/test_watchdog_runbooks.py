"""The always-firing `watchdog` alert (switched on by `alerts.watchdog`) and runbook URLs
per alert key prefix (`alerts.runbooks`): the planner's side, the text, the json:// payload
on a real receiver, and the settings' refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amed.alerts.channels import AlertChannels, Delivery
from amed.alerts.message import render, runbook_for
from amed.alerts.seen import Seen
from amed.alerts.subject import subject_of
from amed.config import resolve
from amed.errors import ConfigError
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import decide
from amed.plan.facts import Facts, Policy
from spec import load_text
from state.events import AlertDelivered, Event
from state.rows import AlertRow
from state.tables import replay
from tests.receivers import webhook

NOW = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
SPEC = load_text("projectname: demo\ndataSets: []\n")
WATCHING = Policy(watchdog=True, alert_repeat_seconds=600)
RUNBOOKS = (
    ("failed", "https://wiki.lan/amed#failed"),
    ("failed:demo/big", "https://wiki.lan/big"),
    ("watchdog", "https://wiki.lan/amed#watchdog"),
)


def passes(*moments: tuple[timedelta, Policy]) -> list[list[str]]:
    """What each pass decides, its alerts delivered at once, told as `kind key`."""
    events: list[Event] = []
    told = []
    for offset, policy in moments:
        now = NOW + offset
        actions = decide(SPEC, replay(events).observed(), Facts(now=now, policy=policy))
        told.append([f"{type(a).__name__} {a_key(a)}" for a in actions])
        for action in actions:
            if isinstance(action, RaiseAlert | ClearAlert):
                events.append(action.event)
            elif isinstance(action, Deliver):
                notice = "resolved" if action.notice == "resolved" else "alert"
                events.append(
                    AlertDelivered(
                        at=now, project="demo", key=action.key, notice=notice, channels=("x",)
                    )
                )
    return told


def a_key(action: object) -> str:
    if isinstance(action, RaiseAlert | ClearAlert):
        return action.event.key
    assert isinstance(action, Deliver)
    return f"{action.key} ({action.notice})"


def test_the_watchdog_fires_while_switched_on_repeats_and_resolves_when_switched_off() -> None:
    told = passes(
        (timedelta(0), WATCHING),
        (timedelta(minutes=5), WATCHING),
        (timedelta(minutes=11), WATCHING),
        (timedelta(minutes=12), Policy()),
    )
    assert told == [
        ["RaiseAlert watchdog", "Deliver watchdog (alert)"],
        [],  # within the repeat interval
        ["RaiseAlert watchdog", "Deliver watchdog (alert)"],
        ["ClearAlert watchdog", "Deliver watchdog (resolved)"],
    ]


def test_no_watchdog_unless_switched_on() -> None:
    assert passes((timedelta(0), Policy())) == [[]]


def test_the_watchdog_says_what_it_is_for() -> None:
    actions = decide(SPEC, replay([]).observed(), Facts(now=NOW, policy=WATCHING))
    (raised,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert raised.severity == "info" and raised.resolvable
    assert "dead man's switch" in raised.body and "every 600 s" in raised.body


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("failed:demo/big", "https://wiki.lan/big"),
        ("failed:demo/small", "https://wiki.lan/amed#failed"),
        ("watchdog", "https://wiki.lan/amed#watchdog"),
        ("blocked:demo/big", None),
    ],
)
def test_an_alert_links_the_runbook_of_the_longest_prefix_of_its_key(
    key: str, url: str | None
) -> None:
    assert runbook_for(key, RUNBOOKS) == url


def alert(key: str) -> AlertRow:
    return AlertRow(
        key=key,
        severity="info",
        title="amed: watchdog: amed and its alert path are working",
        body="It always fires.",
        resolvable=True,
        firing=True,
        raised_at=NOW,
        last_raised_at=NOW,
        updated_at=NOW,
        pending="alert",
    )


def test_the_runbook_is_in_the_text_and_in_the_json_payload() -> None:
    seen = Seen(
        now=NOW,
        host="gpu-3",
        alert=alert("watchdog"),
        subject=subject_of("watchdog", "demo"),
        runbooks=RUNBOOKS,
    )
    message = render("alert", seen)
    assert message.runbook == "https://wiki.lan/amed#watchdog"
    assert message.body.endswith("key: watchdog\nrunbook: https://wiki.lan/amed#watchdog")
    assert render("alert", replace(seen, runbooks=())).runbook is None
    delivery = Delivery(
        message.key,
        "alert",
        message.severity,
        message.title,
        message.body,
        labels=message.labels,
        runbook=message.runbook,
    )
    with webhook() as hook:
        outcome = AlertChannels([hook.url]).send(delivery)
        assert outcome.delivered, outcome.failed
        (payload,) = hook.wait_for(1)
    assert payload["runbook"] == "https://wiki.lan/amed#watchdog"
    assert payload["key"] == "watchdog" and payload["labels"]["host"] == "gpu-3"


def test_the_resolved_watchdog_says_it_was_switched_off() -> None:
    seen = Seen(
        now=NOW + timedelta(hours=1),
        host="gpu-3",
        alert=replace(alert("watchdog"), firing=False, pending="resolved"),
        subject=subject_of("watchdog", "demo"),
        cleared_at=NOW + timedelta(hours=1),
    )
    assert "What resolved it: the watchdog was switched off (alerts.watchdog)." in (
        render("resolved", seen).body
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("failed", "AME_ALERT_RUNBOOKS: must be PREFIX=URL pairs"),
        ("failed=ftp://wiki.lan/x", "must be an http:// or https:// URL"),
        ("failed=https://me:pw@wiki.lan/x", "failed: must not carry credentials"),
    ],
)
def test_a_bad_runbook_setting_is_one_line_naming_its_source(
    tmp_path: Path, text: str, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve({}, {"HOME": str(tmp_path), "AME_ALERT_RUNBOOKS": text})
    message = str(raised.value)
    assert "\n" not in message and said in message, message
    assert "pw" not in message.replace("https", "")
