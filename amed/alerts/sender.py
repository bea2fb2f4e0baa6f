"""Delivery off the reconcile path: a worker thread fed by a queue.

A hung SMTP server blocks for ~15 s and a hung HTTP target for ~4 s per URL, so a dead
channel must never stall the loop. The same worker pings `alerts.heartbeat_url` after each
successful pass: an HTTP GET that a hung endpoint can only delay, never the pass.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from amed import logs
from amed.alerts.channels import AlertChannels, Delivery, Outcome
from amed.alerts.heartbeat import Heartbeat


class _Ping:
    """A heartbeat ping waiting in the queue."""


class AlertSender:
    """Delivers in a background thread; reports each outcome through `on_outcome`.

    `prepare` runs on the worker just before a delivery is sent and writes its content
    (None: it is no longer owed). `heartbeat_url`: pinged by `ping()`, on the same worker."""

    def __init__(
        self,
        channels: AlertChannels,
        on_outcome: Callable[[Outcome], None],
        *,
        prepare: Callable[[Delivery], Delivery | None] | None = None,
        heartbeat_url: str | None = None,
    ) -> None:
        self.channels = channels
        self._on_outcome = on_outcome
        self._prepare = prepare
        self._heartbeat = Heartbeat(heartbeat_url) if heartbeat_url else None
        self._queue: queue.Queue[Delivery | _Ping | None] = queue.Queue()
        self._in_flight: set[tuple[str, str]] = set()
        self._ping_queued = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="alerts", daemon=True)
        self._thread.start()

    def ping(self) -> bool:
        """Queue a heartbeat ping, unless one is already waiting (a slow endpoint makes the
        pings fewer, never the queue longer)."""
        if self._heartbeat is None:
            return False
        with self._lock:
            if self._ping_queued:
                return False
            self._ping_queued = True
        self._queue.put(_Ping())
        return True

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery unless the same one is already on its way."""
        ident = (delivery.key, delivery.notice)
        with self._lock:
            if ident in self._in_flight:
                return False
            self._in_flight.add(ident)
        self._queue.put(delivery)
        return True

    def idle(self) -> bool:
        with self._lock:
            return not self._in_flight

    def close(self, timeout_seconds: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_seconds)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Ping):
                with self._lock:
                    self._ping_queued = False
                if self._heartbeat is not None:
                    try:
                        self._heartbeat.ping()
                    except Exception:  # noqa: BLE001 - the worker must outlive any one ping
                        logs.get().warning("heartbeat_failed", url=self._heartbeat.name)
                continue
            try:
                delivery = self._prepare(item) if self._prepare is not None else item
                if delivery is not None:
                    self._on_outcome(self.channels.send(delivery))
            except Exception:  # noqa: BLE001 - the worker must outlive any one delivery
                logs.get(key=item.key).exception("alert_delivery_crashed")
            finally:
                with self._lock:
                    self._in_flight.discard((item.key, item.notice))
