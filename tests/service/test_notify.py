"""sd_notify against a real datagram socket, and a real `amed` that speaks to it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from amed.daemon.notify import Notifier, send, socket_address, watchdog_interval_seconds
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import wait_for

SPEC = """
projectname: demo
dataSets:
  - name: probe
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && printf '%s' "${NOTIFY_SOCKET-unset}" > data/notify_socket
"""


@contextmanager
def listening(address: str) -> Iterator[socket.socket]:
    """A datagram socket bound to `address` (`@name`: abstract), as systemd would have."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + address[1:] if address.startswith("@") else address)
    sock.settimeout(0.2)
    try:
        yield sock
    finally:
        sock.close()


def received(sock: socket.socket) -> list[str]:
    messages: list[str] = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


def test_a_notification_reaches_a_socket_path(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with listening(path) as sock:
        address = socket_address({"NOTIFY_SOCKET": path})
        assert address == path
        assert send(address, "READY=1\nSTATUS=hello")
        assert received(sock) == ["READY=1\nSTATUS=hello"]


def test_a_notification_reaches_an_abstract_socket_named_with_an_at_sign() -> None:
    name = f"@amed-test-{os.getpid()}-{time.monotonic_ns()}"
    with listening(name) as sock:
        address = socket_address({"NOTIFY_SOCKET": name})
        assert address is not None and address.startswith("\0")
        assert send(address, "WATCHDOG=1")
        assert received(sock) == ["WATCHDOG=1"]


def test_without_a_socket_the_notifier_sends_nothing_and_never_fails() -> None:
    assert socket_address({}) is None
    assert socket_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    notifier = Notifier({})
    notifier.ready("up")
    notifier.tick()
    notifier.stopping("bye")


def test_a_socket_nobody_listens_on_is_reported_not_raised(tmp_path: Path) -> None:
    assert not send(str(tmp_path / "nobody"), "READY=1")


def test_the_watchdog_interval_is_half_of_systemds_and_only_for_its_process() -> None:
    assert watchdog_interval_seconds({"WATCHDOG_USEC": "4000000"}, pid=7) == 2.0
    assert watchdog_interval_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "7"}, 7) == 2.0
    assert watchdog_interval_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "8"}, 7) is None
    assert watchdog_interval_seconds({}, pid=7) is None
    assert watchdog_interval_seconds({"WATCHDOG_USEC": "0"}, pid=7) is None


def test_the_daemon_says_ready_status_watchdog_and_stopping_and_its_tasks_cannot_notify(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC)
    name = f"@amed-test-{os.getpid()}-{time.monotonic_ns()}"
    with listening(name) as sock:
        daemon = start_daemon(
            "--interval", "0.2", env={"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "600000"}
        )
        messages: list[str] = []

        def heard(predicate: Callable[[list[str]], bool]) -> Callable[[], bool]:
            def check() -> bool:
                messages.extend(received(sock))
                return predicate(messages)

            return check

        wait_for(heard(lambda got: any("1 ready" in m for m in got)))
        wait_for(heard(lambda got: got.count("WATCHDOG=1") >= 3))
        assert daemon.stop() == 0
        messages.extend(received(sock))
    first = messages[0].splitlines()
    assert first[0] == "READY=1", messages[0]
    assert any(line.startswith("STATUS=") for line in first)
    assert f"MAINPID={daemon.pid}" in first
    statuses = [m.removeprefix("STATUS=") for m in messages if m.startswith("STATUS=")]
    assert any(s.startswith("1 ready") and s.endswith(" free") for s in statuses), statuses
    stopping = [m for m in messages if m.startswith("STOPPING=1")]
    assert len(stopping) == 1 and "STATUS=stopping" in stopping[0]
    assert messages.index(stopping[0]) > messages.index("WATCHDOG=1")
    stored = ws.objects / "datasets/demo/probe/1/files/notify_socket"
    assert stored.read_text() == "unset"
