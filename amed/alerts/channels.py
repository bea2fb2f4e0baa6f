"""The one door to apprise: alert channels, each sent to on its own.

Each channel is its own apprise object, so one failing channel neither hides nor blocks
the others. Channels are named by their redacted URL (amed.alerts.redaction), and a refusal
is recorded with apprise's real reason (amed.alerts.refusals), scrubbed of every
credential-like part of the URL before it is logged or recorded. Delivery runs off the
reconcile path (amed.alerts.sender).

Bodies go out as plain text on purpose (`body_format=TEXT`): apprise then escapes them for
channels that render HTML or Markdown, so task output (`<img src=x>`) arrives as it was
printed, line breaks kept, and never as markup. Email is sent as text/plain unless the URL
asks for `format=html`, which gets the escaped text. Channels with fields get the alert's
labels as fields (amed.alerts.payload).

apprise is imported only when a channel is configured: it is the daemon's largest import
(~1 MB of source, ~6 MB resident), and most machines run without alerts. amed's own lines
go through structlog (amed.logs); the stdlib `logging` here only holds apprise's logger down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from amed.alerts.payload import payload_fields
from amed.alerts.redaction import public_name, scrub, secrets_of
from amed.alerts.refusals import capture
from amed.errors import AlertConfigError

if TYPE_CHECKING:
    import apprise

_NOTIFY_TYPE = {  # apprise.NotifyType's member names
    "critical": "FAILURE",
    "warning": "WARNING",
    "info": "INFO",
    "resolved": "SUCCESS",
}
_TASK_MASK_CHARS = 8
_REASON_CHARS = 300


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


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")


def _scheme_shown(url: str) -> str:
    """The scheme of a refused URL, which tells which service was meant, and never more: a
    value without `://` (a token pasted alone, `user:password@host`) has no scheme to show,
    since what comes before its first colon may be the secret itself."""
    scheme, separator, _ = url.strip().partition("://")
    if separator and _SCHEME.fullmatch(scheme):
        return f"scheme {scheme.lower()!r}"
    return "no scheme:// at its start"


class AlertChannels:
    def __init__(
        self,
        urls: Sequence[str] = (),
        config_file: Path | None = None,
        urls_at: str = "alerts.urls",
    ) -> None:
        """`urls_at` names where the URLs were given, for the one line that refuses one."""
        self._channels: list[_Channel] = []
        if not urls and config_file is None:
            return
        import apprise

        _quiet_apprise()
        for index, url in enumerate(urls):
            target = apprise.Apprise()
            if not target.add(url):
                raise AlertConfigError(
                    f"{urls_at}, URL {index + 1} of {len(urls)}: not an apprise URL amed can use "
                    f"({_scheme_shown(url)})"
                )
            for service in target:
                self._add(_channel(service, secrets_of(url)))
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
                self._add(_channel(service, secrets_of(_full_url(service))))

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
            with capture() as captured, payload_fields(channel.service, delivery):
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
                reason = scrub(captured.reason(), channel.secrets)
                failed.append((channel.name, reason[:_REASON_CHARS]))
        return Outcome(
            delivery.key, delivery.notice, tuple(delivered), tuple(failed), delivery.project
        )


def _quiet_apprise() -> None:
    """At DEBUG apprise logs URLs with their tokens: its logger is raised to INFO if it was
    below (as by default), never lowered."""
    apprise_log = logging.getLogger("apprise")
    apprise_log.setLevel(max(apprise_log.level, logging.INFO))


def _channel(service: object, secrets: tuple[str, ...]) -> _Channel:
    return _Channel(
        name=public_name(service), target=_single(service), secrets=secrets, service=service
    )


def _single(service: object) -> apprise.Apprise:
    import apprise

    target = apprise.Apprise()
    target.add(service)  # type: ignore[arg-type]
    return target


def _full_url(service: object) -> str:
    return str(service.url())  # type: ignore[attr-defined]
