"""Which alerts to raise, repeat, clear and deliver: a pure function of the conditions that
hold now and the alert rows the log keeps.

Each condition has a key. A key is raised once, raised again only after the repeat interval
while it still holds, and cleared (with one resolved notice) when it stops holding. Keys that
are one-off notices (an eviction summary, a size warning for one version) are not resolvable:
they are told once and forgotten quietly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from state.events import AlertCleared, AlertRaised, Severity
from state.rows import AlertRow

DELIVERY_RETRY_BASE_SECONDS = 30.0
DELIVERY_RETRY_MAX_SECONDS = 3600.0
CHANNEL_UNHEALTHY_AFTER_FAILURES = 3
"""Refusals in a row after which an alert channel counts as unhealthy (logged as an error,
shown by `ame status`, the dashboard and `/metrics`); recorded with each refusal, so that
the state's fold applies it without holding a policy of its own."""


@dataclass(frozen=True)
class Condition:
    key: str
    severity: Severity
    title: str
    body: str
    resolvable: bool = True
    repeat: bool = True


@dataclass(frozen=True)
class RaiseAlert:
    event: AlertRaised


@dataclass(frozen=True)
class ClearAlert:
    event: AlertCleared


@dataclass(frozen=True)
class Deliver:
    """Send what `key` still owes: the alert, or its resolved notice; to `channels` only
    when some already took it (empty: every channel). `cleared_at`: when a resolved
    notice's condition stopped holding, for its text, when known (a notice retried after a
    refusal no longer knows it: the row's time is then the refusal's)."""

    key: str
    notice: str
    channels: tuple[str, ...] = ()
    cleared_at: datetime | None = None


AlertAction = RaiseAlert | ClearAlert | Deliver


def alert_actions(
    project: str,
    conditions: Iterable[Condition],
    alerts: Mapping[str, AlertRow],
    now: datetime,
    repeat_seconds: float,
) -> list[AlertAction]:
    actions: list[AlertAction] = []
    holding: set[str] = set()
    raised: set[str] = set()
    for condition in conditions:
        holding.add(condition.key)
        row = alerts.get(condition.key)
        if row is not None and row.firing:
            if not condition.resolvable or not condition.repeat:
                continue
            if now - row.last_raised_at < timedelta(seconds=repeat_seconds):
                continue
        raised.add(condition.key)
        actions.append(
            RaiseAlert(
                AlertRaised(
                    at=now,
                    project=project,
                    key=condition.key,
                    severity=condition.severity,
                    title=condition.title,
                    body=condition.body,
                    resolvable=condition.resolvable,
                )
            )
        )
    cleared: set[str] = set()
    for key, row in sorted(alerts.items()):
        if row.firing and key not in holding:
            cleared.add(key)
            actions.append(ClearAlert(AlertCleared(at=now, project=project, key=key)))
            if row.resolvable and row.delivered_at is not None:
                actions.append(Deliver(key, "resolved", cleared_at=now))
    actions.extend(Deliver(key, "alert") for key in sorted(raised))
    for key, row in sorted(alerts.items()):
        if key in raised or key in cleared or row.pending is None:
            continue
        if row.failures and now < row.updated_at + timedelta(seconds=retry_seconds(row.failures)):
            continue
        cleared_at = row.updated_at if row.pending == "resolved" and not row.failures else None
        actions.append(Deliver(key, row.pending, row.undelivered, cleared_at))
    return actions


def retry_seconds(failures: int) -> float:
    return min(
        DELIVERY_RETRY_BASE_SECONDS * 2.0 ** min(failures - 1, 20), DELIVERY_RETRY_MAX_SECONDS
    )
