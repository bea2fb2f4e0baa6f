"""Handing alerts to their channels, and recording how each delivery went.

Delivery runs on the alert worker (amed.alerts.sender.AlertSender) and its outcome comes
back there, to be appended as events. The project a delivery is for travels with it
(`Delivery.project`), so the worker reads nothing the pass thread writes but the state
store, which `Journal.lock` guards. With no channel configured, an alert is only logged,
and recorded as delivered to no channel.

What an alert says is written on the worker just before it is sent
(amed.alerts.message), from the rows as they are then, not from the text the planner
recorded when the alert was raised: the attempt count, the last error and the next try are
current, however long the delivery waited or was retried.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from amed import logs
from amed.act.journal import Journal
from amed.addresses import parse_address
from amed.alerts.channels import AlertChannels, Delivery, Outcome
from amed.alerts.message import Message, render
from amed.alerts.seen import Seen
from amed.alerts.sender import AlertSender
from amed.alerts.subject import subject_of
from amed.config import Settings
from amed.engine.run_logs import open_output_log
from amed.plan.alerts import CHANNEL_UNHEALTHY_AFTER_FAILURES, Deliver
from state.events import AlertDelivered, AlertDeliveryFailed, Event
from state.observed import Observed
from state.rows import AlertRow

_WILDCARDS = ("0.0.0.0", "::", "")
OUTPUT_TAIL_BYTES = 2000
"""How much of a failed task's output an alert quotes: its end, where the error is."""


class Deliveries:
    def __init__(
        self,
        channels: AlertChannels,
        journal: Journal,
        clock: Callable[[], datetime],
        changed: threading.Event,
        settings: Settings | None = None,
    ) -> None:
        self.journal = journal
        self.clock = clock
        self.changed = changed
        self.channels = channels
        self.runs_dir = settings.state_dir / "runs" if settings else None
        self.host = (settings.alert_instance if settings else None) or socket.gethostname()
        self.dashboard_url = dashboard_url(settings) if settings else None
        self.runbooks = settings.alert_runbooks if settings else ()
        heartbeat = settings.alert_heartbeat_url if settings else None
        self.sender = (
            AlertSender(channels, self._record, prepare=self._prepare, heartbeat_url=heartbeat)
            if channels or heartbeat
            else None
        )
        self._log = logs.get()

    def deliver(self, action: Deliver, project: str) -> None:
        row = self.journal.alert(action.key)
        if row is None or row.pending != action.notice:
            return  # delivered (or superseded) since the pass was planned
        notice = "resolved" if action.notice == "resolved" else "alert"
        delivery = Delivery(
            row.key,
            action.notice,
            row.severity,
            row.title,
            row.body,
            action.channels,
            project,
            cleared_at=action.cleared_at,
        )
        if self.sender is None or not self.channels:
            message = self._compose(delivery, self.journal.observed())
            if message is None:
                return
            self._log.warning(
                "alert",
                key=row.key,
                notice=notice,
                severity=row.severity,
                title=message.title,
                body=message.body,
                labels=dict(message.labels),
                link=message.link,
            )
            self.journal.append(
                [
                    AlertDelivered(
                        at=self.clock(), project=project, key=row.key, notice=notice, channels=()
                    )
                ]
            )
            return
        self.sender.submit(delivery)

    def pass_succeeded(self) -> None:
        """A pass ended well: ping the heartbeat URL, if one is set, off this thread."""
        if self.sender is not None:
            self.sender.ping()

    def idle(self) -> bool:
        return self.sender is None or self.sender.idle()

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()

    def _prepare(self, delivery: Delivery) -> Delivery | None:
        """On the alert worker, just before sending: the content, written from the rows as
        they are now; None when the notice is no longer owed."""
        message = self._compose(delivery, self.journal.observed())
        if message is None:
            return None
        return replace(
            delivery,
            severity=message.severity,
            title=message.title,
            body=message.body,
            labels=message.labels,
            link=message.link,
            runbook=message.runbook,
        )

    def _compose(self, delivery: Delivery, observed: Observed) -> Message | None:
        row = observed.alerts.get(delivery.key)
        if row is None or row.pending != delivery.notice:
            return None
        return render(delivery.notice, self._seen(row, delivery, observed))

    def _seen(self, row: AlertRow, delivery: Delivery, observed: Observed) -> Seen:
        subject = subject_of(row.key, delivery.project or None)
        now = self.clock()
        dataset = task = None
        if subject.project and subject.dataset:
            dataset = observed.datasets.get((subject.project, subject.dataset))
        if subject.project and subject.task:
            task = observed.tasks.get((subject.project, subject.task))
        return Seen(
            now=now,
            host=self.host,
            alert=row,
            subject=subject,
            dataset=dataset,
            task=task,
            task_next_run=_next_run(task.schedule, now) if task and task.schedule else None,
            task_output=self._output_tail(task.last_run_id) if task else None,
            cleared_at=delivery.cleared_at,
            dashboard_url=self.dashboard_url,
            runbooks=self.runbooks,
        )

    def _output_tail(self, run_id: str | None) -> str | None:
        """The end of a run's output log (masked as it was written), whole lines only."""
        if self.runs_dir is None or not run_id or "/" in run_id:
            return None
        opened = open_output_log(self.runs_dir, run_id)
        if opened is None:
            return None
        try:
            with opened as log:
                size = log.seek(0, 2)
                log.seek(max(size - OUTPUT_TAIL_BYTES, 0))
                tail = log.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        if len(tail.encode()) >= OUTPUT_TAIL_BYTES and "\n" in tail:
            tail = tail.split("\n", 1)[1]  # the first line is cut
        return tail.rstrip() or None

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
                    unhealthy_after=CHANNEL_UNHEALTHY_AFTER_FAILURES,
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


def dashboard_url(settings: Settings) -> str | None:
    """Where people reach the dashboard: `dashboard.url`, else the address `--http` serves
    when people can name it (not port 0, which is known only once bound; a wildcard address
    only through the first of `http.allowed_hosts`)."""
    if settings.dashboard_url:
        return settings.dashboard_url
    if not settings.http_address:
        return None
    host, port = parse_address(settings.http_address)
    if port == 0:
        return None
    if host in _WILDCARDS:
        if not settings.http_allowed_hosts:
            return None
        host = settings.http_allowed_hosts[0]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _next_run(schedule: str, now: datetime) -> datetime | None:
    """The next time a cron schedule fires after `now` (UTC, as the planner reads it)."""
    from cronsim import CronSim, CronSimError

    try:
        return next(CronSim(schedule, now))
    except (CronSimError, StopIteration, ValueError):
        return None
