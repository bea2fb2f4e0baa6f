"""Settings: flags > environment (AME_*) > config file (TOML) > defaults, every value checked
the same way whichever source gave it, and every refusal one line naming key and source."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields, replace
from pathlib import Path
from typing import Any

import pytest

from amed.config import KEYS, Refused, Settings, resolve
from amed.errors import ConfigError

SECRET = "xoxb-0123456789-secret"

# field name: (TOML literal, environment text, the value both mean)
SAMPLES: dict[str, tuple[str, str, Any]] = {
    "project_dir": ('"/srv/p"', "/srv/p", Path("/srv/p")),
    "state_dir": ('"/var/lib/x"', "/var/lib/x", Path("/var/lib/x")),
    "storage_url": ('"memory://"', "memory://", "memory://"),
    "capacity_bytes": ('"2Gi"', "2Gi", 2 * 2**30),
    "interval_seconds": ("2.5", "2.5", 2.5),
    "task_timeout_seconds": ("60", "60", 60.0),
    "max_parallel": ("4", "4", 4),
    "retry_base_seconds": ("3", "3", 3.0),
    "stop_timeout_seconds": ("0", "0", 0.0),
    "eviction_high_percent": ("95", "95", 95.0),
    "eviction_low_percent": ("70", "70", 70.0),
    "low_space_percent": ("75", "75", 75.0),
    "alert_urls": (
        '["json://a/x", "json://b/y"]',
        "json://a/x json://b/y",
        ("json://a/x", "json://b/y"),
    ),
    "alert_config": (
        '"/etc/ame/apprise.yml"',
        "/etc/ame/apprise.yml",
        Path("/etc/ame/apprise.yml"),
    ),
    "alert_repeat_seconds": ("60", "60", 60.0),
    "alert_after_failures": ("1", "1", 1),
    "alert_instance": ('"gpu-3"', "gpu-3", "gpu-3"),
    "alert_heartbeat_url": (
        '"https://hc-ping.com/5e0c-uuid"',
        "https://hc-ping.com/5e0c-uuid",
        "https://hc-ping.com/5e0c-uuid",
    ),
    "alert_watchdog": ("true", "on", True),
    "alert_runbooks": (
        '{"failed" = "https://wiki.lan/amed#failed", "failed:demo/big" = "https://wiki.lan/big"}',
        "failed=https://wiki.lan/amed#failed failed:demo/big=https://wiki.lan/big",
        (("failed", "https://wiki.lan/amed#failed"), ("failed:demo/big", "https://wiki.lan/big")),
    ),
    "dashboard_url": (
        '"https://amed.example.org/"',
        "https://amed.example.org/",
        "https://amed.example.org",
    ),
    "http_address": ('"127.0.0.1:8321"', "127.0.0.1:8321", "127.0.0.1:8321"),
    "http_allowed_hosts": ('["A.lan", "b.lan"]', "A.lan, b.lan", ("a.lan", "b.lan")),
    "task_pass_env": (
        '["CUDA_VISIBLE_DEVICES", "HF_*"]',
        "CUDA_VISIBLE_DEVICES,HF_*",
        ("CUDA_VISIBLE_DEVICES", "HF_*"),
    ),
    "http_token_file": ('"/etc/ame/token"', "/etc/ame/token", Path("/etc/ame/token")),
    "deletion_grace_seconds": ("0", "0", 0.0),
    "deletion_max_percent": ("100", "100", 100.0),
    "engine_kind": ('"local"', "local", "local"),
    "ray_address": ('"http://127.0.0.1:8265/"', "http://127.0.0.1:8265/", "http://127.0.0.1:8265"),
    "detach_on_stop": ("true", "yes", True),
    "spec_max_bytes": ('"8Mi"', "8Mi", 8 * 2**20),
}
NUMBERS = [
    name
    for name in SAMPLES
    if isinstance(SAMPLES[name][2], int | float) and not isinstance(SAMPLES[name][2], bool)
]


def toml_line(dotted: str, literal: str) -> str:
    table, _, key = dotted.rpartition(".")
    return f"[{table}]\n{key} = {literal}\n" if table else f"{key} = {literal}\n"


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "amed.toml"
    path.write_text(text)
    return path


def home(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), **env}


def refusal(flags: dict[str, Any], env: dict[str, str], file: Path | None) -> str:
    with pytest.raises(ConfigError) as raised:
        resolve(flags, env, file)
    message = str(raised.value)
    assert "\n" not in message
    return message


# -- where values come from ---------------------------------------------------------------


def test_every_setting_has_a_sample_here() -> None:
    assert set(SAMPLES) == set(KEYS) - {"config_file"}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_the_environment_and_the_config_file_mean_the_same_value(tmp_path: Path, name: str) -> None:
    literal, text, expected = SAMPLES[name]
    key = KEYS[name]
    from_env = resolve({}, home(tmp_path, **{key.env: text}))
    from_file = resolve({}, home(tmp_path), config(tmp_path, toml_line(key.toml, literal)))
    assert getattr(from_env, name) == getattr(from_file, name) == expected


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        ("3Gi", "2Gi", "1Gi", 3 * 2**30),
        (None, "2Gi", "1Gi", 2 * 2**30),
        (None, None, "1Gi", 1 * 2**30),
        (None, None, None, None),
        ("3Gi", None, "1Gi", 3 * 2**30),
        (None, "", "1Gi", 1 * 2**30),  # set but empty is not set
    ],
)
def test_flags_beat_the_environment_beats_the_file_beats_the_default(
    tmp_path: Path, flag: str | None, env: str | None, file: str | None, expected: int | None
) -> None:
    environ = home(tmp_path) if env is None else home(tmp_path, AME_CAPACITY=env)
    text = "" if file is None else f'[storage]\ncapacity = "{file}"\n'
    settings = resolve({"capacity_bytes": flag}, environ, config(tmp_path, text))
    assert settings.capacity_bytes == expected


@pytest.mark.parametrize(
    ("env", "text", "expected"),
    [
        ({"AME_STOP_TIMEOUT": "5"}, "[tasks]\nstop_timeout_seconds = 7\n", 5.0),
        ({}, "[tasks]\nstop_timeout_seconds = 7\n", 7.0),
        ({}, "", 30.0),
    ],
)
def test_the_stop_timeout_is_read_like_every_other_setting(
    tmp_path: Path, env: dict[str, str], text: str, expected: float
) -> None:
    assert resolve({}, home(tmp_path, **env), config(tmp_path, text)).stop_timeout_seconds == (
        expected
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"STATE_DIRECTORY": "/var/lib/ame:/var/lib/other", "XDG_STATE_HOME": "/x"},
            "/var/lib/ame",
        ),
        ({"XDG_STATE_HOME": "/x"}, "/x/ame"),
        ({"HOME": "/home/u"}, "/home/u/.local/state/ame"),
    ],
)
def test_the_state_dir_defaults_to_systemd_then_xdg_then_home(
    env: dict[str, str], expected: str
) -> None:
    settings = resolve({}, env)
    assert settings.state_dir == Path(expected)
    assert settings.storage_url == (Path(expected) / "objects").as_uri()


def test_the_config_file_beats_the_state_dir_default(tmp_path: Path) -> None:
    file = config(tmp_path, 'state_dir = "/srv/state"\n')
    settings = resolve({}, {"STATE_DIRECTORY": "/var/lib/ame"}, file)
    assert settings.state_dir == Path("/srv/state")
    assert settings.storage_url == "file:///srv/state/objects"


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve({}, home(tmp_path))
    assert settings.project_dir == tmp_path
    assert settings.config_file is None
    expected = {
        "capacity_bytes": None,
        "interval_seconds": 10.0,
        "task_timeout_seconds": 21600.0,
        "max_parallel": 2,
        "retry_base_seconds": 10.0,
        "stop_timeout_seconds": 30.0,
        "eviction_high_percent": 90.0,
        "eviction_low_percent": 80.0,
        "low_space_percent": 85.0,
        "alert_urls": (),
        "alert_repeat_seconds": 14400.0,
        "alert_after_failures": 3,
        "http_address": None,
        "deletion_grace_seconds": 3600.0,
        "deletion_max_percent": 50.0,
    }
    assert {name: getattr(settings, name) for name in expected} == expected


def test_relative_directories_are_taken_from_where_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve({"project_dir": Path("p")}, home(tmp_path, AME_STATE_DIR="s"))
    assert (settings.project_dir, settings.state_dir) == (tmp_path / "p", tmp_path / "s")


@pytest.mark.parametrize(
    ("flag", "env", "expected"), [("flag", "env", "flag"), (None, "env", "env")]
)
def test_the_config_flag_beats_AME_CONFIG(
    tmp_path: Path, flag: str | None, env: str, expected: str
) -> None:
    for name in ("flag", "env"):
        (tmp_path / f"{name}.toml").write_text(f'[storage]\nurl = "memory://{name}"\n')
    file = tmp_path / f"{flag}.toml" if flag else None
    settings = resolve({}, home(tmp_path, AME_CONFIG=str(tmp_path / f"{env}.toml")), file)
    assert settings.storage_url == f"memory://{expected}"
    assert settings.config_file == tmp_path / f"{expected}.toml"


def test_a_variable_named_after_a_field_is_not_read(tmp_path: Path) -> None:
    """Only the AME_* names count: a variable named after a field changes nothing."""
    env = home(tmp_path, max_parallel="9", MAX_PARALLEL="9", AME_MAX_PARALLEL="")
    assert resolve({}, env).max_parallel == 2


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NUMBERS)
def test_a_bool_is_refused_for_every_number(tmp_path: Path, name: str) -> None:
    key = KEYS[name]
    file = config(tmp_path, toml_line(key.toml, "true"))
    noun = {
        "capacity_bytes": "a quantity (use e.g. 50Gi, 500M, 1.5Ti)",
        "spec_max_bytes": "a quantity (use e.g. 50Gi, 500M, 1.5Ti)",
        "max_parallel": "a whole number",
        "alert_after_failures": "a whole number",
    }.get(name, "a number")
    assert refusal({}, home(tmp_path), file) == f"{file}: {key.toml}: True is not {noun}"


QUANTITY = "is not a quantity (use e.g. 50Gi, 500M, 1.5Ti)"
ENV_NAMES = "must be a list of environment variable names (or PREFIX_* patterns)"
NO_HOST = "is not a host name: give a bare name such as amed.example.org, without scheme or port"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"capacity_bytes": "lots"}, f"--capacity: 'lots' {QUANTITY}"),
        ({"capacity_bytes": "0"}, "--capacity: '0' must be more than 0 bytes"),
        ({"interval_seconds": 0.0}, "--interval: 0 must be a number of seconds above 0"),
        (
            {"http_address": "x"},
            "--http: invalid dashboard address 'x': expected HOST:PORT, e.g. 127.0.0.1:8321",
        ),
        ({"max_parallel": 0}, "max_parallel: 0 must be at least 1"),  # a caller without a flag
    ],
)
def test_a_refused_flag_is_named(tmp_path: Path, flags: dict[str, Any], expected: str) -> None:
    assert refusal(flags, home(tmp_path), None) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AME_MAX_PARALLEL": "0"}, "AME_MAX_PARALLEL: '0' must be at least 1"),
        ({"AME_MAX_PARALLEL": "2.5"}, "AME_MAX_PARALLEL: '2.5' is not a whole number"),
        ({"AME_INTERVAL": "true"}, "AME_INTERVAL: 'true' is not a number"),
        ({"AME_INTERVAL": "inf"}, "AME_INTERVAL: 'inf' must be a number of seconds above 0"),
        (
            {"AME_STOP_TIMEOUT": "-1"},
            "AME_STOP_TIMEOUT: '-1' must be a number of seconds, 0 or more",
        ),
        (
            {"AME_DELETION_GRACE_SECONDS": "nan"},
            "AME_DELETION_GRACE_SECONDS: 'nan' must be 0 or more seconds",
        ),
        (
            {"AME_EVICTION_HIGH_PERCENT": "101"},
            "AME_EVICTION_HIGH_PERCENT: '101' must be a percentage above 0 and at most 100",
        ),
        ({"AME_HTTP_ALLOWED_HOSTS": "a.lan:80"}, f"AME_HTTP_ALLOWED_HOSTS: 'a.lan:80' {NO_HOST}"),
        ({"AME_TASK_PASS_ENV": "OK, NOT-OK"}, f"AME_TASK_PASS_ENV: {ENV_NAMES}"),
        (
            {"AME_ALERT_HEARTBEAT_URL": "hc-ping.com/5e0c-uuid"},
            "AME_ALERT_HEARTBEAT_URL: the value must be an http:// or https:// URL with a host",
        ),
        (
            {"AME_ALERT_HEARTBEAT_URL": "https://hc.lan:99999/5e0c-uuid"},
            "AME_ALERT_HEARTBEAT_URL: the value has a port that is not a number from 0 to 65535",
        ),
        (
            {"AME_DASHBOARD_URL": "amed.example.org"},
            "AME_DASHBOARD_URL: 'amed.example.org' must be an http:// or https:// URL with a host",
        ),
        (
            {"AME_ALERT_INSTANCE": " "},
            "AME_ALERT_INSTANCE: ' ' must be a name on one line, at most 200 characters",
        ),
    ],
)
def test_a_refused_variable_is_named(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    assert refusal({}, home(tmp_path, **env), None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[tasks]\ntimeout_seconds = -1\n",
            "tasks.timeout_seconds: -1 must be a number of seconds above 0",
        ),
        ("[tasks]\nmax_parallel = 2.5\n", "tasks.max_parallel: 2.5 is not a whole number"),
        ("[storage]\nurl = 5\n", "storage.url: 5 is not a store URL (file://…, s3://…)"),
        ("project = 5\n", "project: 5 is not a path"),
        (
            'project = "~no-such-user-here/p"\n',
            "project: '~no-such-user-here/p': no home directory for its ~user",
        ),
        ('state_dir = "s\\u0000t"\n', "state_dir: 's\\x00t' is not a path"),
        ('[http]\ntoken_file = "t\\u0000"\n', "http.token_file: 't\\x00' is not a path"),
        (f"interval_seconds = {'9' * 400}\n", f"interval_seconds: {'9' * 400} is out of range"),
        ("[tasks]\npass_env = [1]\n", f"tasks.pass_env: {ENV_NAMES}"),
        ("[http]\nallowed_hosts = 7\n", "http.allowed_hosts: must be a list of host names"),
    ],
)
def test_a_refused_file_value_is_named_with_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    file = config(tmp_path, text)
    assert refusal({}, home(tmp_path), file) == f"{file}: {expected}"


@pytest.mark.parametrize(
    ("flags", "env", "text", "expected"),
    [
        # Where a value is refused, the source that won is named, not the ones it overruled.
        (
            {"interval_seconds": -1.0},
            {},
            "interval_seconds = 5\n",
            "--interval: -1 must be a number of seconds above 0",
        ),
        (
            {},
            {"AME_INTERVAL": "0"},
            "interval_seconds = 5\n",
            "AME_INTERVAL: '0' must be a number of seconds above 0",
        ),
        # The first refused setting, in the model's order, is the one reported.
        (
            {},
            {"AME_MAX_PARALLEL": "0"},
            "[storage]\ncapacity = -1\n",
            "{file}: storage.capacity: -1 is negative; a quantity cannot be below 0",
        ),
        # Settings checked together are named by their keys.
        (
            {},
            {},
            "[eviction]\nlow_percent = 90\n",
            "eviction.low_percent (90) must be below eviction.high_percent (90)",
        ),
        (
            {},
            {"AME_EVICTION_LOW_PERCENT": "95"},
            "[eviction]\nhigh_percent = 60\n",
            "eviction.low_percent (95) must be below eviction.high_percent (60)",
        ),
    ],
)
def test_a_refusal_names_the_source_that_won(
    tmp_path: Path, flags: dict[str, Any], env: dict[str, str], text: str, expected: str
) -> None:
    file = config(tmp_path, text)
    assert refusal(flags, home(tmp_path, **env), file) == expected.format(file=file)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'stroage = "x"\n',
            "{file}: unknown key 'stroage' (known: alerts, dashboard, deletion, engine, eviction, "
            "http, interval_seconds, project, spec, state_dir, storage, tasks)",
        ),
        (
            '[storage]\nurll = "s3://bucket"\n',
            "{file}: unknown key 'storage.urll' (known: capacity, url)",
        ),
        (
            "[alerts]\nrepeat_interval = 60\n",
            "{file}: unknown key 'alerts.repeat_interval' (known: after_failures, config, "
            "heartbeat_url, instance, low_space_percent, repeat_interval_seconds, runbooks, "
            "urls, watchdog)",
        ),
        ('storage = "s3://bucket"\n', "{file}: storage: must be a table ([storage])"),
        (
            "[tasks\n",
            "{file}: invalid TOML: Expected ']' at the end of a table declaration "
            "(at line 1, column 7)",
        ),
        (b"interval_seconds = 1 # \xff\n", "{file}: not UTF-8 text; a config file is TOML"),
    ],
)
def test_a_file_that_cannot_be_read_as_settings_is_one_line(
    tmp_path: Path, text: str | bytes, expected: str
) -> None:
    file = tmp_path / "amed.toml"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert refusal({}, home(tmp_path), file) == expected.format(file=file)


def test_a_missing_or_unreadable_config_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert refusal({}, home(tmp_path), missing) == f"{missing}: config file not found"
    env = home(tmp_path, AME_CONFIG=str(missing))
    assert refusal({}, env, None) == f"{missing}: config file not found"
    assert refusal({}, home(tmp_path), tmp_path) == f"{tmp_path}: cannot read: Is a directory"


@pytest.mark.parametrize(
    "text",
    [
        f'[alerts]\nurls = ["slack://{SECRET}", 3]\n',
        f'[alerts]\nurls = {{ url = "slack://{SECRET}" }}\n',
    ],
)
def test_an_alert_url_is_never_echoed(tmp_path: Path, text: str) -> None:
    file = config(tmp_path, text)
    message = refusal({}, home(tmp_path), file)
    assert message == f"{file}: alerts.urls: must be a list of apprise URLs"
    assert SECRET not in message


def test_alert_urls_are_left_out_of_the_settings_repr(tmp_path: Path) -> None:
    settings = resolve({}, home(tmp_path, AME_ALERT_URLS=f"slack://{SECRET}"))
    assert settings.alert_urls == (f"slack://{SECRET}",)
    assert SECRET not in repr(settings)


def test_settings_cannot_be_changed_once_read(tmp_path: Path) -> None:
    settings = resolve({}, home(tmp_path))
    with pytest.raises(FrozenInstanceError):
        settings.max_parallel = 5  # type: ignore[misc]
    assert isinstance(settings, Settings)


def test_a_copy_is_checked_again_and_checked_values_pass_unchanged(tmp_path: Path) -> None:
    # A reload keeps the values flags gave at start by copying them into the new settings.
    env = home(
        tmp_path,
        AME_CAPACITY="2Gi",
        AME_ALERT_RUNBOOKS="failed=https://wiki/amed#failed",
        AME_HTTP_ALLOWED_HOSTS="Amed.Example.org",
        AME_ALERT_WATCHDOG="yes",
    )
    settings = resolve({}, env)
    copied = {item.name: getattr(settings, item.name) for item in fields(Settings)}
    assert replace(settings, **copied) == settings
    with pytest.raises(Refused) as refused:
        replace(settings, max_parallel=0)
    assert (refused.value.name, str(refused.value)) == ("max_parallel", "0 must be at least 1")


def test_a_dashboard_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as refused:
        resolve({}, {"AME_DASHBOARD_URL": "https://alice:s3cret-pw@amed.example.org/"})
    assert "s3cret-pw" not in str(refused.value)
    assert str(refused.value).startswith("AME_DASHBOARD_URL: must not carry credentials")
