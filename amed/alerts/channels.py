"""The one door to apprise: alert channels, and delivery off the reconcile path.

A hung SMTP server blocks for ~15 s and a hung HTTP target for ~4 s per URL, so delivery
runs in a worker thread fed by a queue: a dead channel never stalls the loop. Each channel
is its own apprise object, so one failing channel neither hides nor blocks the others.
Channels are named by their redacted URL (apprise's privacy form, without the query), and
apprise's own error text is scrubbed of every credential-like part of the URL before it is
logged or recorded.

Bodies go out as plain text on purpose (`body_format=TEXT`): apprise then escapes them for
channels that render HTML or Markdown, so task output (`<img src=x>`) arrives as it was
printed, line breaks kept, and never as markup. Email is sent as text/plain unless the URL
asks for `format=html`, which gets the escaped text. A json:// channel also gets the alert's
key, severity and labels as fields of its payload (apprise's payload extras, the same
mechanism as `:name=value` in its URL; the URL's own extras win).

A refused delivery records why: apprise returns only False and logs the cause (the SMTP
error, the HTTP status) at WARNING and the exception at DEBUG. Its logger is opened to DEBUG
for the one call, into an in-memory handler only (not propagated, so no other handler sees
its debug lines, which hold URLs), and the cause is kept, scrubbed of the URL's secrets.

The same worker pings `alerts.heartbeat_url` after each successful pass (a dead man's
switch): an HTTP GET that a hung endpoint can only delay, never the pass.

apprise is imported only when a channel is configured: it is the daemon's largest import
(~1 MB of source, ~6 MB resident), and most machines run without alerts. amed's own lines
go through structlog (amed.logs); the stdlib `logging` here only holds apprise's logger down.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

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
_REASON_CHARS = 300
HEARTBEAT_TIMEOUT_SECONDS = 10.0
"""A healthchecks-style endpoint answers in well under a second; a hung one delays only
the next ping, never a pass."""


@dataclass(frozen=True)
class Delivery:
    """`project`: whose alert it is, handed back in the outcome; apprise never sees it.
    `labels`, `link` and `runbook` go into the payload of channels with fields (json://).
    `cleared_at`: when a resolved notice's condition stopped holding, if known."""

    key: str
    notice: str
    severity: str
    title: str
    body: str
    channels: tuple[str, ...] = ()
    project: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    link: str | None = None
    cleared_at: datetime | None = None
    runbook: str | None = None


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
    service: object = None


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
        self._channels.append(replace(channel, name=name))

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
            with _capture() as captured, _payload_fields(channel.service, delivery):
                try:
                    ok = bool(
                        channel.target.notify(
                            title=delivery.title,
                            body=delivery.body,
                            notify_type=notify_type,
                            body_format=apprise.NotifyFormat.TEXT,
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the others
                    ok = False
                    captured.exception = f"{type(exc).__name__}: {exc}"
            if ok:
                delivered.append(channel.name)
            else:
                reason = _scrub(captured.reason(), channel.secrets)
                failed.append((channel.name, reason[:_REASON_CHARS]))
        return Outcome(
            delivery.key, delivery.notice, tuple(delivered), tuple(failed), delivery.project
        )


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


class Heartbeat:
    """A dead man's switch: an HTTP GET of a healthchecks-style URL after each good pass.
    The URL is its own credential: it is named by scheme and host only. Logged when it
    starts failing and when it works again, not at every ping."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        self.name = f"{parts.scheme}://{parts.hostname or ''}{port}/…"
        self._secrets = _secrets_of(url)
        self._ok: bool | None = None

    def ping(self) -> bool:
        request = urllib.request.Request(self.url, headers={"User-Agent": "amed"})
        try:
            with urllib.request.urlopen(request, timeout=HEARTBEAT_TIMEOUT_SECONDS) as answer:
                answer.read(1024)
            ok, error = True, ""
        except Exception as exc:  # noqa: BLE001 - OSErrors, and http.client's own (BadStatusLine)
            ok, error = False, _scrub(f"{type(exc).__name__}: {exc}", self._secrets)
        if ok and self._ok is not True:
            logs.get().info("heartbeat_ok", url=self.name)
        elif not ok:
            logs.get().warning("heartbeat_failed", url=self.name, error=error)
        self._ok = ok
        return ok


def _quiet_apprise() -> None:
    """At DEBUG apprise logs URLs with their tokens: its logger is raised to INFO if it was
    below (as by default), never lowered."""
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(max(apprise_log.level, logging.INFO))


def _channel(service: object, secrets: tuple[str, ...]) -> _Channel:
    return _Channel(
        name=_public_name(service), target=_single(service), secrets=secrets, service=service
    )


class _Captured(logging.Handler):
    """apprise's log records of one notify call, kept in memory."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.exception = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def reason(self) -> str:
        """What went wrong, in apprise's words: its last warning (what it tried), then the
        exception or the response it got, which it logs at DEBUG. Whole: it is cut to
        length only once scrubbed, or a token at the cut would keep its first characters."""
        said = [_one_line(r) for r in self.records if r.levelno >= logging.WARNING]
        detail = [
            _one_line(r).split(":", 1)[1].strip()
            for r in self.records
            if r.levelno < logging.WARNING and _DETAIL.search(r.getMessage())
        ]
        detail = [d for d in detail if d and d not in ("b''", "''")]
        parts = [said[-1].rstrip(".")] if said else []
        if detail:
            parts.append(_essence(detail[-1]))
        if self.exception:
            parts.append(self.exception)
        return ": ".join(parts)


_DETAIL = re.compile(r"^(Socket Exception|Response Details|\w*Exception):")
_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _essence(detail: str) -> str:
    """The operating system's words when a library wrapped them in its own (requests:
    `HTTPConnectionPool(...): Max retries exceeded ... [Errno 111] Connection refused`)."""
    found = _OS_ERROR.search(detail)
    return found.group(0).strip() if found else detail


def _one_line(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except (TypeError, ValueError):
        text = str(record.msg)
    return " ".join(text.split())


@contextmanager
def _capture() -> Iterator[_Captured]:
    """apprise's logger at DEBUG for one call, into `_Captured` only: not propagated, so
    no other handler sees its debug lines (they hold URLs with tokens)."""
    apprise_log = logging.getLogger("apprise")
    handler = _Captured()
    level, propagate = apprise_log.level, apprise_log.propagate
    others = list(apprise_log.handlers)
    for other in others:
        apprise_log.removeHandler(other)
    apprise_log.addHandler(handler)
    apprise_log.setLevel(logging.DEBUG)
    apprise_log.propagate = False
    try:
        yield handler
    finally:
        apprise_log.removeHandler(handler)
        for other in others:
            apprise_log.addHandler(other)
        apprise_log.setLevel(level)
        apprise_log.propagate = propagate


@contextmanager
def _payload_fields(service: object, delivery: Delivery) -> Iterator[None]:
    """The alert's key, severity, labels and link as fields of a json:// payload, for this
    one call: apprise's payload extras (what `:name=value` in the URL sets). The URL's own
    extras stay and win."""
    extras = getattr(service, "payload_extras", None)
    if getattr(service, "protocol", None) != "json" or not isinstance(extras, dict):
        yield
        return
    saved = dict(extras)
    ours: dict[str, object] = {
        "key": delivery.key,
        "notice": delivery.notice,
        "severity": delivery.severity,
        "labels": dict(delivery.labels),
    }
    if delivery.link:
        ours["link"] = delivery.link
    if delivery.runbook:
        ours["runbook"] = delivery.runbook
    extras.update({name: value for name, value in ours.items() if name not in saved})
    try:
        yield
    finally:
        extras.clear()
        extras.update(saved)


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
    userinfo, _, host_port = parts.netloc.rpartition("@")
    found.update(unquote(seg) for seg in userinfo.split(":"))
    host = host_port.rsplit(":", 1)[0] if host_port.count(":") == 1 else host_port
    if "." not in host and host not in ("localhost", "") and not host.startswith("["):
        found.add(unquote(host))  # a "host" without a dot is a token (slack://T0000/…)
    # As they go over the wire too (a server that echoes its path echoes `%20`, not ` `).
    found.update(parts.path.split("/"))
    found.update(form for s in list(found) for form in (quote(s, safe=""), quote_plus(s)))
    return tuple(sorted((s for s in found if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True))


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text or "the channel did not accept the notification"


def _full_url(service: object) -> str:
    return str(service.url())  # type: ignore[attr-defined]
