"""Where the dashboard listens: `HOST:PORT`, loopback unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from amed.addresses import is_loopback, parse_address
from amed.web.server import start_dashboard
from tests.dashboard.conftest import fetch


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("127.0.0.1:8321", ("127.0.0.1", 8321)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:8321", ("::1", 8321)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        (" 127.0.0.1:65535 ", ("127.0.0.1", 65535)),
    ],
)
def test_host_and_port_are_parsed(address: str, parsed: tuple[str, int]) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("8321", "expected HOST:PORT"),
        (":8321", "expected HOST:PORT"),
        ("127.0.0.1:", "expected HOST:PORT"),
        ("127.0.0.1:http", "expected HOST:PORT"),
        ("127.0.0.1:-1", "expected HOST:PORT"),
        ("127.0.0.1:70000", "port 70000 is above 65535"),
        ("::1:8321", "an IPv6 host goes in brackets"),
        ("[nothost]:8321", "expected HOST:PORT"),
        ("", "expected HOST:PORT"),
    ],
)
def test_a_bad_address_is_one_clear_line(address: str, says: str) -> None:
    with pytest.raises(ValueError, match="invalid dashboard address") as raised:
        parse_address(address)
    message = str(raised.value)
    assert says in message and "\n" not in message


def test_loopback_hosts_are_recognised() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.org"))


def test_a_loopback_address_is_served_without_a_warning(tmp_path: Path) -> None:
    with (
        capture_logs() as logged,
        start_dashboard(tmp_path, "127.0.0.1:0", capacity_bytes=None, storage_url="memory://") as d,
    ):
        assert d.port > 0 and d.url == f"http://127.0.0.1:{d.port}/"
        assert fetch(d.url + "healthz").status == 200
    assert [e["event"] for e in logged if e["log_level"] == "warning"] == []


def test_a_non_loopback_address_is_served_when_given_but_warned_about(tmp_path: Path) -> None:
    with (
        capture_logs() as logged,
        start_dashboard(tmp_path, "0.0.0.0:0", capacity_bytes=None, storage_url="memory://") as d,
    ):
        assert fetch(f"http://127.0.0.1:{d.port}/healthz").body == "ok"
    warnings = [e for e in logged if e["log_level"] == "warning"]
    assert [(e["event"], e["address"]) for e in warnings] == [
        ("dashboard_not_loopback", "0.0.0.0:0")
    ]


def test_a_port_in_use_is_one_line_naming_the_address(tmp_path: Path) -> None:
    with start_dashboard(
        tmp_path, "127.0.0.1:0", capacity_bytes=None, storage_url="memory://"
    ) as first:
        taken = f"127.0.0.1:{first.port}"
        with pytest.raises(OSError, match=f"cannot serve the dashboard on {taken}: ") as raised:
            start_dashboard(tmp_path, taken, capacity_bytes=None, storage_url="memory://")
    assert "\n" not in str(raised.value.strerror)
