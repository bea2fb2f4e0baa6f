from __future__ import annotations

import logging

import pytest
from structlog.testing import capture_logs

from amed.alerts.channels import AlertChannels, Delivery, Outcome
from amed.alerts.sender import AlertSender
from amed.errors import AlertConfigError
from tests.receivers import free_port, webhook

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
MAIL = "mailtos://ops:hunter2secret@127.0.0.1:2525?from=a@x.org&to=b@x.org"


def test_channel_names_carry_no_token_password_or_path() -> None:
    names = AlertChannels(
        [SLACK, MAIL, "json://127.0.0.1:9/hook/tok3n", "json://127.0.0.1:9/x"]
    ).names
    assert names == [
        "slack://T...2/…",
        "mailtos://127.0.0.1:2525/…",
        "json://127.0.0.1:9/…",
        "json://127.0.0.1:9/… (2)",
    ] or all(
        secret not in " ".join(names)
        for secret in ("TIiajkdnlazkcOXrIdevi7FQ", "hunter2secret", "tok3n", "A1BRTD4JD")
    )
    joined = " ".join(names)
    for secret in ("TIiajkdnlazkcOXrIdevi7FQ", "hunter2secret", "tok3n", "A1BRTD4JD", "ops"):
        assert secret not in joined


def test_an_unusable_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(AlertConfigError) as caught:
        AlertChannels(["nosuchscheme://user:pa55word@host/x"])
    assert (
        str(caught.value)
        == "alerts.urls, URL 1 of 1: not an apprise URL amed can use (scheme 'nosuchscheme')"
    )


@pytest.mark.parametrize(
    "value", ["xoxb-1234-s3cr3tTOKEN:rest", "ops:s3cr3tTOKEN@host/x", "s3cr3tTOKEN", ""]
)
def test_a_value_without_a_scheme_is_refused_without_what_precedes_its_colon(
    value: str,
) -> None:
    with pytest.raises(AlertConfigError) as caught:
        AlertChannels(["json://127.0.0.1:9/hook", value])
    message = str(caught.value)
    assert message == (
        "alerts.urls, URL 2 of 2: not an apprise URL amed can use (no scheme:// at its start)"
    )
    assert "s3cr3t" not in message


def test_one_refusing_channel_does_not_keep_the_alert_from_the_others() -> None:
    dead = f"json://127.0.0.1:{free_port()}/dead/s3cr3tPath"
    with webhook() as hook:
        channels = AlertChannels([dead, hook.url])
        outcome = channels.send(Delivery("k", "alert", "warning", "title", "body"))
        assert outcome.delivered == (f"json://127.0.0.1:{hook.port}/…",)
        ((channel, error),) = outcome.failed
        assert channel.endswith("/…") and "s3cr3tPath" not in error and error
        assert [m["title"] for m in hook.received] == ["title"]


def test_a_delivery_can_be_limited_to_the_channels_that_still_owe_it() -> None:
    with webhook() as first, webhook() as second:
        channels = AlertChannels([first.url, second.url])
        only = (f"json://127.0.0.1:{second.port}/…",)
        outcome = channels.send(Delivery("k", "alert", "info", "t", "b", only))
        assert outcome.delivered == only
        assert first.received == [] and len(second.received) == 1


def test_an_outcome_names_the_project_its_delivery_was_for() -> None:
    with webhook() as hook:
        channels = AlertChannels([hook.url])
        outcome = channels.send(Delivery("k", "alert", "info", "t", "b", project="mnist"))
        assert outcome.project == "mnist" and outcome.delivered


@pytest.mark.parametrize(("before", "after"), [(logging.NOTSET, logging.INFO), (40, 40)])
def test_apprise_logger_is_raised_to_info_and_never_lowered(before: int, after: int) -> None:
    apprise_log = logging.getLogger("apprise")
    saved = apprise_log.level
    apprise_log.setLevel(before)
    try:
        AlertChannels(["json://127.0.0.1:9/hook"])
        assert apprise_log.level == after
    finally:
        apprise_log.setLevel(saved)


def test_a_crash_recording_an_outcome_is_logged_and_the_next_delivery_still_goes() -> None:
    recorded: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        if not recorded:
            recorded.append(outcome)
            raise RuntimeError("database is locked")
        recorded.append(outcome)

    with webhook() as hook, capture_logs() as logged:
        sender = AlertSender(AlertChannels([hook.url]), record)
        sender.submit(Delivery("first", "alert", "info", "t", "b"))
        sender.submit(Delivery("second", "alert", "info", "t", "b"))
        sender.close()
    assert [o.key for o in recorded] == ["first", "second"]
    assert any(e["event"] == "alert_delivery_crashed" and e["key"] == "first" for e in logged)
