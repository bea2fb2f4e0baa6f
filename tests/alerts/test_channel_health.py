"""A channel's health as the log tells it: its last refusal and why are kept after it
delivers again, so that `ame status` can say both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from state.events import AlertDelivered, AlertDeliveryFailed
from state.fold_alerts import apply_channel

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
NAME = "mailto://127.0.0.1:25/…"
REASON = 'Connection error while submitting email to "127.0.0.1": SMTP AUTH extension not supported'


def refused(at: datetime) -> AlertDeliveryFailed:
    return AlertDeliveryFailed(
        at=at, project="demo", key="k", notice="alert", channel=NAME, error=REASON
    )


def delivered(at: datetime) -> AlertDelivered:
    return AlertDelivered(at=at, project="demo", key="k", notice="alert", channels=(NAME,))


def test_a_refusal_is_remembered_with_its_time_and_reason_after_a_delivery() -> None:
    row = apply_channel(None, NAME, refused(T0))
    row = apply_channel(row, NAME, delivered(T0 + timedelta(minutes=1)))
    assert row is not None and row.healthy and row.failures == 0
    assert row.last_ok_at == T0 + timedelta(minutes=1)
    assert (row.last_failed_at, row.last_error) == (T0, REASON)


def test_a_channel_that_never_refused_has_no_refusal() -> None:
    row = apply_channel(None, NAME, delivered(T0))
    assert row is not None and row.last_failed_at is None and row.last_error is None


def after_refusals(count: int, **recorded: int) -> bool:
    row = None
    for n in range(count):
        event = refused(T0 + timedelta(minutes=n)).model_copy(update=recorded)
        row = apply_channel(row, NAME, event)
    assert row is not None and row.failures == count
    return row.healthy


def test_a_channel_turns_unhealthy_at_the_threshold_recorded_with_its_refusals() -> None:
    assert after_refusals(2) and not after_refusals(3)  # the rule of logs that predate it
    assert after_refusals(4, unhealthy_after=5) and not after_refusals(5, unhealthy_after=5)


def test_the_threshold_recorded_is_the_alert_policys() -> None:
    from amed.plan.alerts import CHANNEL_UNHEALTHY_AFTER_FAILURES

    old = AlertDeliveryFailed.model_validate_json(refused(T0).model_dump_json())
    assert old.unhealthy_after == CHANNEL_UNHEALTHY_AFTER_FAILURES == 3
