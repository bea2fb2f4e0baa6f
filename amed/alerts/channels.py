"""The one door to apprise: alert channels, and delivery off the reconcile path.

A hung SMTP server blocks for ~15 s and a hung HTTP target for ~4 s per URL, so delivery
runs in a worker thread fed by a queue: a dead channel never stalls the loop. Each channel
is its own apprise object, so one failing channel neither hides nor blocks the others.
Channels are named by their redacted URL (apprise's privacy form, without the query), and
apprise's own error text is scrubbed of every credential-like part of the URL before it is
logged or recorded.

apprise is imported only when a channel is configured: it is the daemon's largest import
(~1 MB of source, ~6 MB resident), and most machines run without alerts. amed's own lines
go through structlog (amed.logs); the stdlib `logging` here only holds apprise's logger down.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from amed import logs
from amed.errors import AlertConfigError as AlertConfigError  # re-exported

if TYPE_CHECKING:
    import apprise

_NOTIFY_TYPE = {  # apprise.NotifyType's member names
    "critical": "FAILURE",
    "warning": "WARNING",
    "info": "INFO",
    "resolved": "SUCCESS",
}
_MIN_SECRET_CHARS = 4
_TASK_MASK_CHARS = 8


@dataclass(frozen=True)
class Delivery:
    """`project`: whose alert it is, handed back in the outcome; apprise never sees it."""

    key: str
    notice: str
    severity: str
    title: str
    body: str
    channels: tuple[str, ...] = ()
    project: str = ""


@dataclass(frozen=True)
class Outcome:
    key: str
    notice: str
    delivered: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    project: str = ""


@dataclass(frozen=True)
class _Channel:
    name: str
    target: apprise.Apprise
    secrets: tuple[str, ...]


class AlertChannels:
    def __init__(self, urls: Sequence[str] = (), config_file: Path | None = None) -> None:
        self._channels: list[_Channel] = []
        if not urls and config_file is None:
            return
        import apprise

        _quiet_apprise()
        for index, url in enumerate(urls):
            target = apprise.Apprise()
            if not target.add(url):
                raise AlertConfigError(
                    f"alerts.urls[{index}]: not an apprise URL amed can use "
                    f"(scheme {urlsplit(url).scheme or 'missing'!r})"
                )
            for service in target:
                self._add(_channel(service, _secrets_of(url)))
        if config_file is not None:
            config = apprise.AppriseConfig()
            if not config.add(str(config_file)):
                raise AlertConfigError(f"{config_file}: cannot read this apprise config file")
            target = apprise.Apprise()
            target.add(config)
            services = list(target)
            if not services:
                raise AlertConfigError(f"{config_file}: no usable notification URL in it")
            for service in services:
                self._add(_channel(service, _secrets_of(_full_url(service))))

    def _add(self, channel: _Channel) -> None:
        taken = {c.name for c in self._channels}
        name, n = channel.name, 1
        while name in taken:
            n += 1
            name = f"{channel.name} ({n})"
        self._channels.append(_Channel(name, channel.target, channel.secrets))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._channels]

    @property
    def credentials(self) -> tuple[str, ...]:
        """The channels' tokens and passwords, to mask in what tasks print; short URL parts
        (a port, a word of a path) are left out, or task output would be masked to shreds."""
        return tuple(s for c in self._channels for s in c.secrets if len(s) >= _TASK_MASK_CHARS)

    def __bool__(self) -> bool:
        return bool(self._channels)

    def send(self, delivery: Delivery) -> Outcome:
        """Blocking: tries each channel once (only `delivery.channels`, when it names some)."""
        if not self._channels:
            return Outcome(delivery.key, delivery.notice, (), (), delivery.project)
        import apprise

        delivered: list[str] = []
        failed: list[tuple[str, str]] = []
        notify_type = getattr(  # an Enum in newer apprise, a class of constants in older
            apprise.NotifyType,
            _NOTIFY_TYPE["resolved" if delivery.notice == "resolved" else delivery.severity],
        )
        for channel in self._channels:
            if delivery.channels and channel.name not in delivery.channels:
                continue
            with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
                try:
                    ok = bool(
                        channel.target.notify(
                            title=delivery.title, body=delivery.body, notify_type=notify_type
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the others
                    ok = False
                    captured.write(f"{type(exc).__name__}: {exc}")
                text = captured.getvalue()
            if ok:
                delivered.append(channel.name)
            else:
                failed.append((channel.name, _scrub(_last_line(text), channel.secrets)))
        return Outcome(
            delivery.key, delivery.notice, tuple(delivered), tuple(failed), delivery.project
        )


class AlertSender:
    """Delivers in a background thread; reports each outcome through `on_outcome`."""

    def __init__(self, channels: AlertChannels, on_outcome: Callable[[Outcome], None]) -> None:
        self.channels = channels
        self._on_outcome = on_outcome
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="alerts", daemon=True)
        self._thread.start()

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
        while (delivery := self._queue.get()) is not None:
            try:
                outcome = self.channels.send(delivery)
                self._on_outcome(outcome)
            except Exception:  # noqa: BLE001 - the worker must outlive any one delivery
                logs.get(key=delivery.key).exception("alert_delivery_crashed")
            finally:
                with self._lock:
                    self._in_flight.discard((delivery.key, delivery.notice))


def _quiet_apprise() -> None:
    """At DEBUG apprise logs URLs with their tokens: its logger is raised to INFO if it was
    below (as by default), never lowered."""
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(max(apprise_log.level, logging.INFO))


def _channel(service: object, secrets: tuple[str, ...]) -> _Channel:
    return _Channel(name=_public_name(service), target=_single(service), secrets=secrets)


def _public_name(service: object) -> str:
    """Scheme, host and port only: paths and user names can be tokens (webhook URLs carry
    theirs in the path), and apprise's privacy form masks passwords, not paths."""
    parts = urlsplit(str(service.url(privacy=True)))  # type: ignore[attr-defined]
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    path = "/…" if parts.path.strip("/") else ""
    return f"{parts.scheme}://{host}{port}{path}"


def _single(service: object) -> apprise.Apprise:
    import apprise

    target = apprise.Apprise()
    target.add(service)  # type: ignore[arg-type]
    return target


def _secrets_of(url: str) -> tuple[str, ...]:
    """Every part of a URL that might be a credential: user, password, path segments and
    query values (Slack and Discord carry their tokens in the path)."""
    parts = urlsplit(url)
    found = {parts.username or "", parts.password or ""}
    found.update(unquote(seg) for seg in parts.path.split("/"))
    found.update(value for _, value in parse_qsl(parts.query))
    found.update(unquote(seg) for seg in parts.netloc.split("@")[0].split(":"))
    return tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text or "the channel did not accept the notification"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _full_url(service: object) -> str:
    return str(service.url())  # type: ignore[attr-defined]
