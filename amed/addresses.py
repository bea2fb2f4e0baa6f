"""The dashboard's address and host names, as the settings give them.

Settings check these when they are read, before anything is served: here, below both the
settings and the dashboard, so that reading settings never loads the web server.
"""

from __future__ import annotations

import ipaddress
import re

_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`; port 0 picks a free one) as (host, port). Raises
    ValueError with one line saying what is wrong."""
    host, sep, port_text = address.strip().rpartition(":")
    expected = f"invalid dashboard address {address!r}: expected HOST:PORT, e.g. 127.0.0.1:8321"
    if not sep or not host or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(expected)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not _is_ipv6(host):
            raise ValueError(expected)
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError(f"{expected} (an IPv6 host goes in brackets: [::1]:8321)")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"invalid dashboard address {address!r}: port {port} is above 65535")
    return host, port


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def allowed_host(value: str) -> str:
    """A configured host name or IP literal, lowercase, IPv6 without brackets. Raises
    ValueError (one line) for anything with a scheme, a port, a path or a space."""
    text = value.strip().lower()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if is_ip(inner):
        return inner
    if not _NAME.fullmatch(text):
        raise ValueError(
            f"{value!r} is not a host name: give a bare name such as amed.example.org, "
            "without scheme or port"
        )
    return text


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    return host == "localhost" or (is_ip(host) and ipaddress.ip_address(host).is_loopback)
