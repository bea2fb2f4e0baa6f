"""sd_notify without a library: tell systemd that amed is ready, what it does, that it lives.

A notification is one datagram to `$NOTIFY_SOCKET`: a socket path, or an abstract name
when it starts with `@` (sent with a leading NUL instead). Outside systemd there is no
socket and every call does nothing. Sending never raises: a service manager that went away
must not take the daemon with it. Tasks never see `NOTIFY_SOCKET` (the runner removes it)
and the unit says `NotifyAccess=main`, so only the daemon itself speaks for the service.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

from amed import logs

STATUS_MAX_CHARS = 400
"""systemctl shows one line; longer texts (a long spec error) are cut."""


def socket_address(env: Mapping[str, str]) -> str | None:
    """Where to send notifications, as `socket.sendto` takes it; None outside systemd."""
    address = env.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        return "\0" + address[1:]
    if address.startswith("/"):
        return address
    return None


def send(address: str, message: str) -> bool:
    """Send one notification (`READY=1`, `STATUS=...`, several lines joined by newlines)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8", errors="replace"), address)
    except OSError as exc:
        logs.get().warning("notify_failed", error=exc.strerror or str(exc))
        return False
    return True


def watchdog_interval_seconds(env: Mapping[str, str], pid: int) -> float | None:
    """How often to send WATCHDOG=1: half of systemd's `WatchdogSec=`, None when it is off.

    `WATCHDOG_PID`, when set, names the process the watchdog is for; any other process
    (a child that inherited the variables) must not ping.
    """
    usec_text = env.get("WATCHDOG_USEC", "")
    pid_text = env.get("WATCHDOG_PID", "")
    if pid_text and pid_text != str(pid):
        return None
    try:
        usec = int(usec_text)
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class Notifier:
    """The daemon's side of `Type=notify`: READY, STATUS, WATCHDOG and STOPPING.

    `tick` is called from the daemon's loop; it pings the watchdog when one is due, so a
    loop that stops turning stops the pings and systemd restarts the service.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = socket_address(env)
        self.watchdog_seconds = watchdog_interval_seconds(env, os.getpid())
        self._status: str | None = None
        self._next_ping = 0.0

    def _send(self, *lines: str) -> None:
        if self.address is not None:
            send(self.address, "\n".join(lines))

    def ready(self, status: str) -> None:
        self._status = _clip(status)
        self._send("READY=1", f"STATUS={self._status}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        """Tell systemd what amed does now; an unchanged text is not sent again."""
        text = _clip(text)
        if text != self._status:
            self._status = text
            self._send(f"STATUS={text}")

    def stopping(self, status: str) -> None:
        self._status = _clip(status)
        self._send("STOPPING=1", f"STATUS={self._status}")

    def tick(self) -> None:
        if self.watchdog_seconds is None:
            return
        now = time.monotonic()
        if now >= self._next_ping:
            self._next_ping = now + self.watchdog_seconds
            self._send("WATCHDOG=1")


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= STATUS_MAX_CHARS else line[: STATUS_MAX_CHARS - 1] + "…"
