"""Handing alerts to their channels, and recording how each delivery went.

Delivery runs on the alert worker (amed.alerts.channels.AlertSender) and its outcome comes
back there, to be appended as events. The project a delivery is for travels with it
(`Delivery.project`), so the worker reads nothing the pass thread writes. With no channel
configured, an alert is only logged, and recorded as delivered to no channel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from amed import logs
from amed.act.journal import Journal
from amed.alerts.channels import AlertChannels, AlertSender, Delivery, Outcome
from amed.plan.alerts import Deliver
from state.events import AlertDelivered, AlertDeliveryFailed, Event


class Deliveries:
    def __init__(
        self,
        channels: AlertChannels,
        journal: Journal,
        clock: Callable[[], datetime],
        changed: threading.Event,
    ) -> None:
        self.journal = journal
        self.clock = clock
        self.changed = changed
        self.sender = AlertSender(channels, self._record) if channels else None
        self._log = logs.get()

    def deliver(self, action: Deliver, project: str) -> None:
        row = self.journal.alert(action.key)
        if row is None or row.pending != action.notice:
            return  # delivered (or superseded) since the pass was planned
        title = row.title if action.notice == "alert" else f"RESOLVED: {row.title}"
        if self.sender is None:
            self._log.warning(
                "alert", key=row.key, severity=row.severity, title=title, body=row.body
            )
            self.journal.append(
                [
                    AlertDelivered(
                        at=self.clock(),
                        project=project,
                        key=row.key,
                        notice="resolved" if action.notice == "resolved" else "alert",
                        channels=(),
                    )
                ]
            )
            return
        body = row.body if action.notice == "alert" else f"Resolved. It was:\n{row.body}"
        self.sender.submit(
            Delivery(row.key, action.notice, row.severity, title, body, action.channels, project)
        )

    def idle(self) -> bool:
        return self.sender is None or self.sender.idle()

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()

    def _record(self, outcome: Outcome) -> None:
        """On the alert worker: append the outcome, say when a channel turned unhealthy."""
        now = self.clock()
        notice = "resolved" if outcome.notice == "resolved" else "alert"
        events: list[Event] = []
        if outcome.delivered:
            events.append(
                AlertDelivered(
                    at=now,
                    project=outcome.project,
                    key=outcome.key,
                    notice=notice,
                    channels=outcome.delivered,
                )
            )
        for channel, error in outcome.failed:
            events.append(
                AlertDeliveryFailed(
                    at=now,
                    project=outcome.project,
                    key=outcome.key,
                    notice=notice,
                    channel=channel,
                    error=error,
                )
            )
            self._log.warning(
                "alert_delivery_failed", key=outcome.key, channel=channel, error=error
            )
        if outcome.delivered:
            self._log.info("alert_delivered", key=outcome.key, channels=list(outcome.delivered))
        self.journal.append(events)
        for channel, _ in outcome.failed:
            row = self.journal.channel(channel)
            if row is not None and not row.healthy:
                self._log.error("alert_channel_unhealthy", channel=channel, failures=row.failures)
        self.changed.set()
