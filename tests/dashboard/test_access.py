"""Who the dashboard answers: the Host a request names (DNS rebinding) and the bearer token,
over real HTTP on loopback."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from amed.config import resolve
from amed.errors import ConfigError
from amed.web.server import Dashboard, start_dashboard
from tests.dashboard.conftest import CAPACITY_BYTES

TOKEN = "s3cret-dashboard-token-0123456789"
REQUEST_TIMEOUT_SECONDS = 60
"""Only turns a hung request into a failure: far above what a loaded machine needs."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: http.client.HTTPMessage


def ask(
    port: int,
    path: str = "/api/datasets",
    *,
    host: str | None,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Answer:
    """One request to 127.0.0.1:`port` that names `host` (None: no Host header at all)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Answer(response.status, response.read().decode(), response.headers)
    finally:
        connection.close()


def serve(
    state_dir: Path,
    address: str = "127.0.0.1:0",
    *,
    allowed_hosts: tuple[str, ...] = (),
    token_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> Dashboard:
    return start_dashboard(
        state_dir,
        address,
        capacity_bytes=CAPACITY_BYTES,
        storage_url="memory://",
        allowed_hosts=allowed_hosts,
        token_file=token_file,
        env=env,
    )


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "dashboard-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def guarded(state_dir: Path, token_file: Path) -> Iterator[Dashboard]:
    with serve(state_dir, token_file=token_file, env={}) as running:
        yield running


# -- the Host header --------------------------------------------------------------------


def test_a_rebinding_host_is_refused_with_the_names_that_are_accepted(
    dashboard: Dashboard,
) -> None:
    answer = ask(dashboard.port, host=f"evil.example:{dashboard.port}")
    assert answer.status == 421
    assert answer.body == (
        "host not served: this dashboard answers to 127.0.0.1, localhost, [::1]; "
        "add a name with http.allowed_hosts (AME_HTTP_ALLOWED_HOSTS)\n"
    )
    assert "mnist" not in answer.body


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}", "127.0.0.1"],
)
def test_the_bound_address_and_loopback_names_are_served(dashboard: Dashboard, host: str) -> None:
    answer = ask(dashboard.port, host=host.format(port=dashboard.port))
    assert answer.status == 200
    assert '"name": "mnist"' in answer.body


@pytest.mark.parametrize(
    "host",
    [None, "", "127.0.0.1:http", "[::1]x", "::1", "127.0.0.1.evil.example", "localhost.evil"],
)
def test_a_missing_or_malformed_host_is_refused(dashboard: Dashboard, host: str | None) -> None:
    answer = ask(dashboard.port, host=host)
    assert answer.status == 421
    assert len(answer.body.splitlines()) == 1


def test_two_host_headers_are_refused(dashboard: Dashboard) -> None:
    connection = http.client.HTTPConnection(
        "127.0.0.1", dashboard.port, timeout=REQUEST_TIMEOUT_SECONDS
    )
    try:
        connection.putrequest("GET", "/", skip_host=True)
        connection.putheader("Host", f"127.0.0.1:{dashboard.port}")
        connection.putheader("Host", "evil.example")
        connection.endheaders()
        assert connection.getresponse().status == 421
    finally:
        connection.close()


def test_every_method_and_healthz_check_the_host(dashboard: Dashboard) -> None:
    assert ask(dashboard.port, "/healthz", host="evil.example").status == 421
    assert ask(dashboard.port, host="evil.example", method="HEAD").status == 421
    assert ask(dashboard.port, host="evil.example", method="POST").status == 421
    assert ask(dashboard.port, host="localhost", method="POST").status == 405


def test_a_configured_name_is_served_and_other_names_still_refused(state_dir: Path) -> None:
    with serve(state_dir, allowed_hosts=("amed.example.org", "[fd00::5]")) as running:
        port = running.port
        assert ask(port, host=f"AMED.example.org:{port}").status == 200
        assert ask(port, host="[fd00::5]:443").status == 200
        refused = ask(port, host="other.example.org")
    assert refused.status == 421
    assert "127.0.0.1, localhost, [::1], amed.example.org, [fd00::5];" in refused.body


def test_a_wildcard_address_serves_ip_literals_and_configured_names_only(
    state_dir: Path,
) -> None:
    with serve(state_dir, "0.0.0.0:0", allowed_hosts=("box.lan",)) as running:
        port = running.port
        assert ask(port, host=f"127.0.0.1:{port}").status == 200
        assert ask(port, host="192.0.2.7").status == 200
        assert ask(port, host=f"box.lan:{port}").status == 200
        refused = ask(port, host=f"localhost:{port}")
    assert refused.status == 421
    assert "answers to any IP address of this machine, box.lan;" in refused.body


def test_allowed_hosts_are_a_toml_list_or_a_comma_separated_environment_variable(
    tmp_path: Path,
) -> None:
    config = tmp_path / "amed.toml"
    config.write_text('[http]\nallowed_hosts = ["Amed.Example.org", "box.lan"]\n')
    from_file = resolve({}, env={"HOME": str(tmp_path)}, config_file=config)
    assert from_file.http_allowed_hosts == ("amed.example.org", "box.lan")
    from_env = resolve({}, env={"HOME": str(tmp_path), "AME_HTTP_ALLOWED_HOSTS": "a.lan, b.lan"})
    assert from_env.http_allowed_hosts == ("a.lan", "b.lan")


@pytest.mark.parametrize("bad", ["https://amed.example.org", "amed.example.org:8321", "a b"])
def test_an_allowed_host_with_scheme_port_or_space_is_one_line(tmp_path: Path, bad: str) -> None:
    env = {"HOME": str(tmp_path), "AME_HTTP_ALLOWED_HOSTS": bad}
    with pytest.raises(ConfigError, match=r"^AME_HTTP_ALLOWED_HOSTS: .* is not a host name") as e:
        resolve({}, env=env)
    assert "\n" not in str(e.value)


# -- the token --------------------------------------------------------------------------


def test_a_token_protected_dashboard_refuses_without_or_with_a_wrong_token(
    guarded: Dashboard,
) -> None:
    host = f"127.0.0.1:{guarded.port}"
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-of-some-length"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        answer = ask(guarded.port, host=host, headers=headers)
        assert (answer.status, answer.headers["WWW-Authenticate"]) == (401, 'Bearer realm="amed"')
        assert "mnist" not in answer.body and TOKEN not in answer.body
        assert len(answer.body.splitlines()) == 1


def test_a_token_protected_dashboard_answers_with_the_right_token(guarded: Dashboard) -> None:
    host = f"localhost:{guarded.port}"
    for path in ("/", "/api/datasets", "/metrics", "/datasets/demo/mnist"):
        answer = ask(guarded.port, path, host=host, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status == 200, path
        assert TOKEN not in answer.body
    assert ask(guarded.port, "/healthz", host=host).status == 200  # probes need no token


def test_the_token_appears_in_no_log_line(state_dir: Path, token_file: Path) -> None:
    with (
        capture_logs() as logged,
        serve(state_dir, "0.0.0.0:0", token_file=token_file, env={}) as running,
    ):
        host = f"127.0.0.1:{running.port}"
        ask(running.port, host=host, headers={"Authorization": f"Bearer {TOKEN}"})
        ask(running.port, host=host, headers={"Authorization": f"Bearer {TOKEN[:-1]}"})
        ask(running.port, host="evil.example", headers={"Authorization": f"Bearer {TOKEN}"})
        shown = repr(running)
    assert TOKEN not in repr(logged) and TOKEN[:-1] not in repr(logged)
    assert TOKEN not in shown
    started = [e for e in logged if e["event"] == "dashboard_started"]
    assert [e["token_required"] for e in started] == [True]
    assert [e for e in logged if e["log_level"] == "warning"] == []  # the token guards it


def test_without_a_token_a_non_loopback_address_is_warned_about(state_dir: Path) -> None:
    with capture_logs() as logged, serve(state_dir, "0.0.0.0:0", env={}):
        pass
    [warning] = [e for e in logged if e["log_level"] == "warning"]
    assert warning["event"] == "dashboard_not_loopback"
    assert "anyone on the network" in warning["hint"]


def test_systemd_credentials_directory_token_is_used_when_present(
    state_dir: Path, tmp_path: Path, token_file: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "dashboard-token").write_text("from-systemd-credential-0123456789\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    with serve(state_dir, token_file=token_file, env=env) as running:
        host = f"127.0.0.1:{running.port}"
        right = {"Authorization": "Bearer from-systemd-credential-0123456789"}
        assert ask(running.port, host=host, headers=right).status == 200
        stale = {"Authorization": f"Bearer {TOKEN}"}
        assert ask(running.port, host=host, headers=stale).status == 401


@pytest.mark.parametrize(
    ("content", "mode", "says"),
    [
        (TOKEN, 0o644, "is mode 0644, open to every user; chmod 600"),
        ("tiny-tok", 0o600, "shorter than 16 characters"),
        ("two words-of-a-long-enough-token", 0o600, "one word of printable ASCII"),
        ("", 0o600, "shorter than 16 characters"),
    ],
)
def test_an_unusable_token_file_is_one_line_without_its_content(
    state_dir: Path, tmp_path: Path, content: str, mode: int, says: str
) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(mode)
    with pytest.raises(ConfigError) as raised:
        serve(state_dir, token_file=path, env={})
    message = str(raised.value)
    assert message.startswith(f"http.token_file: {path}") and says in message
    assert "\n" not in message and (not content or content not in message)


def test_a_missing_token_file_is_one_line(state_dir: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as raised:
        serve(state_dir, token_file=missing, env={})
    assert str(raised.value) == f"http.token_file: cannot read {missing}: No such file or directory"


def test_the_token_file_setting_is_a_path_from_toml_or_environment(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "AME_HTTP_TOKEN_FILE": "/etc/ame/token"}
    assert resolve({}, env=env).http_token_file == Path("/etc/ame/token")
