"""What of an alert channel's URL may be shown, and what must be scrubbed.

Channels are named by scheme, host and port only (apprise's privacy form masks passwords,
not paths, and webhook URLs carry their tokens in the path). Every part of a URL that might
be a credential is collected, so that apprise's own error text, a heartbeat failure and
what tasks print can be scrubbed of it before it is logged, recorded or shown.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MIN_SECRET_CHARS = 4
"""Shorter parts of a URL (a port, `api`) are not treated as secrets."""


def public_name(service: object) -> str:
    """Scheme, host and port only: paths and user names can be tokens (webhook URLs carry
    theirs in the path), and apprise's privacy form masks passwords, not paths."""
    parts = urlsplit(str(service.url(privacy=True)))  # type: ignore[attr-defined]
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    path = "/…" if parts.path.strip("/") else ""
    return f"{parts.scheme}://{host}{port}{path}"


def secrets_of(url: str) -> tuple[str, ...]:
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
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text or "the channel did not accept the notification"
