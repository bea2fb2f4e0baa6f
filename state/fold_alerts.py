"""The alert tables as pure folds over the event log: each alert key's state, and each
channel's health. `state.fold.FOLD_VERSION` covers these folds too."""

from __future__ import annotations

from state.events import AlertCleared, AlertDelivered, AlertDeliveryFailed, AlertRaised, Event
from state.rows import AlertRow, ChannelRow, replace_row


def apply_alert(row: AlertRow | None, event: Event) -> AlertRow | None:
    """An alert key after `event`."""
    at = event.at
    match event:
        case AlertRaised():
            still_firing = row is not None and row.firing
            return AlertRow(
                key=event.key,
                severity=event.severity,
                title=event.title,
                body=event.body,
                resolvable=event.resolvable,
                firing=True,
                raised_at=row.raised_at if row is not None and still_firing else at,
                last_raised_at=at,
                updated_at=at,
                delivered_at=row.delivered_at if row is not None else None,
                pending="alert",
                failures=0,
                last_error=None,
                undelivered=(),
            )
    if row is None:
        return None
    match event:
        case AlertCleared():
            notice = "resolved" if row.resolvable and row.delivered_at is not None else None
            return replace_row(
                row, firing=False, pending=notice, failures=0, undelivered=(), updated_at=at
            )
        case AlertDelivered():
            if (event.notice == "alert") != row.firing:
                return row  # about an earlier state of the key
            undelivered = tuple(c for c in row.undelivered if c not in event.channels)
            return replace_row(
                row,
                pending=row.pending if undelivered else None,
                undelivered=undelivered,
                delivered_at=at if event.notice == "alert" else row.delivered_at,
                failures=row.failures if undelivered else 0,
                last_error=row.last_error if undelivered else None,
                updated_at=at,
            )
        case AlertDeliveryFailed():
            if (event.notice == "alert") != row.firing:
                return row  # about an earlier state of the key
            return replace_row(
                row,
                pending=event.notice,
                undelivered=tuple(sorted({*row.undelivered, event.channel})),
                failures=row.failures + 1,
                last_error=event.error,
                updated_at=at,
            )
    return row


def apply_channel(row: ChannelRow | None, channel: str, event: Event) -> ChannelRow | None:
    """A channel's health after `event`. Whether refusals in a row make it unhealthy is the
    alert policy's call, recorded with each refusal (`AlertDeliveryFailed.unhealthy_after`)."""
    at = event.at
    match event:
        case AlertDelivered():
            return ChannelRow(
                channel=channel,
                healthy=True,
                failures=0,
                updated_at=at,
                last_ok_at=at,
                last_error=row.last_error if row else None,
                last_failed_at=row.last_failed_at if row else None,
            )
        case AlertDeliveryFailed():
            failures = (row.failures if row else 0) + 1
            return ChannelRow(
                channel=channel,
                healthy=failures < event.unhealthy_after,
                failures=failures,
                updated_at=at,
                last_ok_at=row.last_ok_at if row else None,
                last_error=event.error,
                last_failed_at=at,
            )
    return row
