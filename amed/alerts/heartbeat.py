"""A dead man's switch: `alerts.heartbeat_url` pinged after every successful pass, so that
a dead daemon, a dead host or a broken alert path is noticed by someone else."""

from __future__ import annotations

from urllib.parse import urlsplit

from amed import logs
from amed.alerts.redaction import scrub, secrets_of

HEARTBEAT_TIMEOUT_SECONDS = 10.0
"""A healthchecks-style endpoint answers in well under a second; a hung one delays only
the next ping, never a pass."""


class Heartbeat:
    """A dead man's switch: an HTTP GET of a healthchecks-style URL after each good pass.
    The URL is its own credential: it is named by scheme and host only. Logged when it
    starts failing and when it works again, not at every ping."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        self.name = f"{parts.scheme}://{parts.hostname or ''}{port}/…"
        self._secrets = secrets_of(url)
        self._ok: bool | None = None

    def ping(self) -> bool:
        import urllib.request  # at the first ping: ~2 MB resident a daemon without one spares

        request = urllib.request.Request(self.url, headers={"User-Agent": "amed"})
        try:
            with urllib.request.urlopen(request, timeout=HEARTBEAT_TIMEOUT_SECONDS) as answer:
                answer.read(1024)
            ok, error = True, ""
        except Exception as exc:  # noqa: BLE001 - OSErrors, and http.client's own (BadStatusLine)
            ok, error = False, scrub(f"{type(exc).__name__}: {exc}", self._secrets)
        if ok and self._ok is not True:
            logs.get().info("heartbeat_ok", url=self.name)
        elif not ok:
            logs.get().warning("heartbeat_failed", url=self.name, error=error)
        self._ok = ok
        return ok
