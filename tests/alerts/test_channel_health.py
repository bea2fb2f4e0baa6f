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
