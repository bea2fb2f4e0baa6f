"""Who may read the dashboard: the host a request names, and an optional bearer token.

A dashboard on loopback is still within reach of every web page its user opens: through DNS
rebinding, the page's own name comes to resolve to 127.0.0.1 and its script reads our
answers as if they were its own. The browser still sends that name as `Host`, so only the
names the dashboard is really reached by are served: the bound address, the loopback names
when bound to loopback, any IP literal when bound to a wildcard address (a rebinding page
never has an IP literal as its name), and the names in `http.allowed_hosts`. The port is
not checked, so a tunnel or a proxy may use another one.

A token guards a dashboard that others can reach. It is read once, at start, and never
leaves this module's `Access` (no repr, no log line, no page).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amed.addresses import allowed_host, is_ip, is_loopback
from amed.errors import ConfigError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
TOKEN_CREDENTIAL = "dashboard-token"
"""The file name under `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`)."""
MIN_TOKEN_CHARS = 16
MAX_TOKEN_BYTES = 4096
ALLOWED_HOSTS_KEY = "http.allowed_hosts (AME_HTTP_ALLOWED_HOSTS)"


def _host_of(header: str) -> str | None:
    """The host of a `Host` header (`name`, `name:port`, `[v6]:port`), or None when malformed."""
    text = header.strip().lower()
    if text.startswith("["):
        inner, sep, rest = text[1:].partition("]")
        if not sep or ":" not in inner or not is_ip(inner):
            return None
        if rest and not rest.startswith(":"):
            return None
        host, port = inner, rest[1:]
    else:
        host, _, port = text.partition(":")
    if port and not (port.isascii() and port.isdigit()):
        return None
    return host or None


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Access:
    """The rules a running dashboard applies to every request."""

    names: tuple[str, ...]
    """Accepted hosts, lowercase, IPv6 without brackets, in the order a refusal lists them."""
    any_ip: bool
    """Bound to a wildcard address: every IP literal is one of this machine's addresses."""
    token: str | None = field(default=None, repr=False)

    @classmethod
    def for_address(
        cls, bound_host: str, allowed_hosts: Iterable[str] = (), token: str | None = None
    ) -> Access:
        bound = bound_host.lower()
        any_ip = is_ip(bound) and ipaddress.ip_address(bound).is_unspecified
        names: list[str] = [] if any_ip else [bound]
        if not any_ip and is_loopback(bound):
            names += LOOPBACK_NAMES
        names += (allowed_host(h) for h in allowed_hosts)
        return cls(tuple(dict.fromkeys(names)), any_ip, token)

    def host_allowed(self, header: str | None) -> bool:
        host = _host_of(header) if header is not None else None
        if host is None:
            return False
        return host in self.names or (self.any_ip and is_ip(host))

    def host_refusal(self) -> str:
        """One line for a refused host: what is accepted, and the key that adds a name."""
        accepted = ", ".join(_shown(n) for n in self.names)
        if self.any_ip:
            accepted = "any IP address of this machine" + (f", {accepted}" if accepted else "")
        return (
            f"host not served: this dashboard answers to {accepted}; "
            f"add a name with {ALLOWED_HOSTS_KEY}"
        )

    def authorized(self, authorization: str | None) -> bool:
        """Whether `Authorization: Bearer <token>` holds the token (always, without one)."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").strip().partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given.isascii():
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())


def read_token(token_file: Path | None, env: Mapping[str, str]) -> str | None:
    """The dashboard's token: `$CREDENTIALS_DIRECTORY/dashboard-token` when systemd gave
    one, else `token_file`, else none. Raises ConfigError (one line, never the content) for
    a file that cannot serve as a token; one that others may read is no secret."""
    credentials = env.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / TOKEN_CREDENTIAL).is_file():
        path, where, shared = Path(credentials) / TOKEN_CREDENTIAL, "dashboard token", True
    elif token_file is not None:
        path, where, shared = token_file, "http.token_file", False
    else:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{where}: {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if not shared and mode & 0o007:
            raise ConfigError(
                f"{where}: {path} is mode {mode:04o}, open to every user; chmod 600 {path}"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    finally:
        os.close(fd)
    return _token_text(data, f"{where}: {path}")


def _token_text(data: bytes, where: str) -> str:
    if len(data) > MAX_TOKEN_BYTES:
        raise ConfigError(f"{where}: larger than {MAX_TOKEN_BYTES} bytes; a token is one line")
    token = data.strip().decode("ascii", errors="replace")
    if not token.isprintable() or any(c.isspace() or c == "\ufffd" for c in token):
        raise ConfigError(f"{where}: a token is one word of printable ASCII")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{where}: the token is shorter than {MIN_TOKEN_CHARS} characters; "
            "make one with: openssl rand -hex 32"
        )
    return token
