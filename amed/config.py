"""Settings: flags > environment (`AME_*`) > config file (TOML) > defaults.

One model, `Settings`, read by the daemon and by `ame` alike, so that a value means the same
thing (and is refused the same way) whichever command reads it. Each field names where it
may come from (`Key`) next to its default and its check. `resolve` merges the sources in
that order, a dict each, and the model checks the result: the TOML file's tables do not
mirror the model's flat names, a missing or malformed file must be an error, and each
`AME_*` name is chosen, not derived, so no settings library's sources would fit (and one
costs every command ~20 ms of imports for a merge of four dicts).

Defaults need no file at all. A bad value is one line that names the key and its source
(`/etc/ame/amed.toml: storage.capacity: ...`, `AME_MAX_PARALLEL: ...`, `--capacity: ...`);
an alert URL holds credentials and is never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from amed import config_checks as check
from amed.config_checks import SPEC_MAX_BYTES
from amed.errors import ConfigError
from amed.state_dir import default_state_dir, read_toml

T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    """Where a setting may be given: its TOML path (dotted), `AME_*` variable and flag."""

    toml: str = ""
    env: str = ""
    flag: str = ""


def setting(
    default: T,
    checked: Callable[[Any], Any],
    toml: str = "",
    env: str = "",
    flag: str = "",
    *,
    secret: bool = False,
) -> T:
    """A field of Settings: its default, the check its value goes through, where it may be
    given, and whether it is kept out of `repr` (a value that is its own credential). Typed
    as its default, as `field` is, so that a default of the wrong type is a type error."""
    made: T = field(default=default, repr=not secret, metadata=about(checked, toml, env, flag))
    return made


def about(
    checked: Callable[[Any], Any], toml: str = "", env: str = "", flag: str = ""
) -> dict[str, Any]:
    """A setting's metadata: its check and where it may be given. Given to `field` directly
    by a setting without a default, which type checkers then know must be given."""
    return {"check": checked, "key": Key(toml, env, flag)}


class Refused(ValueError):
    """A value a check refused; `name` is its field's (None: settings checked together)."""

    def __init__(self, name: str | None, message: str) -> None:
        super().__init__(message)
        self.name = name


# -- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting amed and ame read, with its one default. Made by `resolve`; made
    directly (tests, benchmarks), it reads nothing but its arguments.

    A frozen dataclass whose fields each name their check, not a pydantic model: every
    value has a check of its own anyway, and a start that builds no validator imports
    none of pydantic's schema machinery (~35 ms of a start with nothing to do). Defaults
    are checked too: a default path is made absolute as a given one is."""

    project_dir: Path = setting(
        Path(), check.directory_value, "project", "AME_PROJECT", "--project"
    )
    state_dir: Path = field(
        metadata=about(check.directory_value, "state_dir", "AME_STATE_DIR", "--state-dir")
    )
    """Its default depends on the environment (`default_state_dir`): `resolve` gives it."""
    storage_url: str = setting("", check.storage_url, "storage.url", "AME_STORAGE", "--storage")
    """"": the state dir's own `objects` folder."""
    capacity_bytes: int | None = setting(
        None, check.capacity, "storage.capacity", "AME_CAPACITY", "--capacity"
    )
    interval_seconds: float = setting(
        10.0, check.seconds_above_zero, "interval_seconds", "AME_INTERVAL", "--interval"
    )
    task_timeout_seconds: float = setting(
        6 * 3600.0, check.seconds_above_zero, "tasks.timeout_seconds", "AME_TASK_TIMEOUT"
    )
    max_parallel: int = setting(2, check.count, "tasks.max_parallel", "AME_MAX_PARALLEL")
    retry_base_seconds: float = setting(
        10.0, check.seconds_above_zero, "tasks.retry_base_seconds", "AME_RETRY_BASE_SECONDS"
    )
    stop_timeout_seconds: float = setting(
        30.0, check.stop_seconds, "tasks.stop_timeout_seconds", "AME_STOP_TIMEOUT"
    )
    """On SIGTERM or SIGINT, how long running tasks may take before their groups are ended."""
    eviction_high_percent: float = setting(
        90.0, check.percent, "eviction.high_percent", "AME_EVICTION_HIGH_PERCENT"
    )
    eviction_low_percent: float = setting(
        80.0, check.percent, "eviction.low_percent", "AME_EVICTION_LOW_PERCENT"
    )
    low_space_percent: float = setting(
        85.0, check.percent, "alerts.low_space_percent", "AME_LOW_SPACE_PERCENT"
    )
    # They hold credentials.
    alert_urls: tuple[str, ...] = setting(
        (), check.alert_urls, "alerts.urls", "AME_ALERT_URLS", secret=True
    )
    alert_config: Path | None = setting(
        None, check.optional_path, "alerts.config", "AME_ALERT_CONFIG"
    )
    alert_repeat_seconds: float = setting(
        4 * 3600.0,
        check.seconds_above_zero,
        "alerts.repeat_interval_seconds",
        "AME_ALERT_REPEAT_SECONDS",
    )
    alert_after_failures: int = setting(
        3, check.count, "alerts.after_failures", "AME_ALERT_AFTER_FAILURES"
    )
    alert_instance: str | None = setting(
        None, check.instance, "alerts.instance", "AME_ALERT_INSTANCE"
    )
    """The host alerts name; None: this machine's host name."""
    # A healthchecks-style URL is its own credential.
    alert_heartbeat_url: str | None = setting(
        None, check.heartbeat_url, "alerts.heartbeat_url", "AME_ALERT_HEARTBEAT_URL", secret=True
    )
    alert_watchdog: bool = setting(False, check.on_off, "alerts.watchdog", "AME_ALERT_WATCHDOG")
    """An alert that always fires, sent every repeat interval, for a dead man's switch."""
    alert_runbooks: tuple[tuple[str, str], ...] = setting(
        (), check.runbooks, "alerts.runbooks", "AME_ALERT_RUNBOOKS"
    )
    """(alert key prefix, runbook URL) pairs; an alert links the longest prefix of its key."""
    dashboard_url: str | None = setting(
        None, check.dashboard_url, "dashboard.url", "AME_DASHBOARD_URL"
    )
    """Where people reach the dashboard (a proxy's address); alerts link to it."""
    http_address: str | None = setting(None, check.address, "http.address", "AME_HTTP", "--http")
    http_allowed_hosts: tuple[str, ...] = setting(
        (), check.allowed_hosts, "http.allowed_hosts", "AME_HTTP_ALLOWED_HOSTS"
    )
    task_pass_env: tuple[str, ...] = setting(
        (), check.pass_env, "tasks.pass_env", "AME_TASK_PASS_ENV"
    )
    http_token_file: Path | None = setting(
        None, check.optional_path, "http.token_file", "AME_HTTP_TOKEN_FILE"
    )
    deletion_grace_seconds: float = setting(
        3600.0, check.grace_seconds, "deletion.grace_seconds", "AME_DELETION_GRACE_SECONDS"
    )
    deletion_max_percent: float = setting(
        50.0, check.percent, "deletion.max_percent", "AME_DELETION_MAX_PERCENT"
    )
    engine_kind: str = setting("local", check.engine_kind, "engine.kind", "AME_ENGINE", "--engine")
    """Where tasks run: `local` (child processes) or `ray` (jobs on a Ray cluster)."""
    ray_address: str | None = setting(
        None, check.ray_address, "engine.ray_address", "RAY_ADDRESS", "--ray-address"
    )
    detach_on_stop: bool = setting(
        False, check.on_off, "engine.detach_on_stop", "AME_DETACH_ON_STOP"
    )
    """On stop, leave Ray jobs running for the next daemon to attach to, not stop them."""
    spec_max_bytes: int = setting(
        SPEC_MAX_BYTES, check.spec_max_bytes, "spec.max_size", "AME_SPEC_MAX_SIZE"
    )
    """The largest ame.yaml amed reads (its node limit grows with it, see spec.load): about
    14,000 data sets fit in the default, 100,000 in 8Mi."""
    config_file: Path | None = setting(None, check.optional_path, env="AME_CONFIG", flag="--config")
    """The TOML file the other settings were read from, if any."""

    def __post_init__(self) -> None:
        """Each value through its field's check, in field order: the first refused is the
        one reported. Then the settings checked together."""
        for item in fields(self):
            try:
                value = item.metadata["check"](getattr(self, item.name))
            except ValueError as exc:
                raise Refused(item.name, str(exc)) from None
            object.__setattr__(self, item.name, value)
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (self.state_dir / "objects").as_uri())
        if self.eviction_low_percent >= self.eviction_high_percent:
            raise Refused(
                None,
                f"eviction.low_percent ({self.eviction_low_percent:g}) must be below "
                f"eviction.high_percent ({self.eviction_high_percent:g})",
            )
        if self.engine_kind == "ray":
            _check_ray(self.ray_address)


def _check_ray(address: str | None) -> None:
    import importlib.util

    try:
        installed = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked install is none
        installed = False
    if not installed:
        raise Refused(None, "engine.kind: ray needs Ray's job client: pip install 'amed[ray]'")
    if address is None:
        raise Refused(
            None,
            "engine.ray_address: needed with engine.kind = ray (or --ray-address, "
            "RAY_ADDRESS), e.g. http://127.0.0.1:8265",
        )


SETTING_NAMES: tuple[str, ...] = tuple(item.name for item in fields(Settings))
KEYS: dict[str, Key] = {item.name: item.metadata["key"] for item in fields(Settings)}
"""Each setting's TOML path, variable and flag, by field name."""
DEFAULTS: dict[str, Any] = {item.name: item.default for item in fields(Settings)}
"""Each setting's default as written (unchecked; `state_dir` has none)."""
_TOML_KEYS = frozenset(key.toml for key in KEYS.values() if key.toml)
_TOML_TABLES = frozenset(
    key.rsplit(".", depth)[0] for key in _TOML_KEYS for depth in range(1, key.count(".") + 1)
)


# -- the sources ----------------------------------------------------------------------------

Found = tuple[dict[str, Any], dict[str, str]]
"""Raw values by field name, and where each one came from (for error lines)."""


def _found(look_up: Callable[[Key], tuple[Any, str] | None]) -> Found:
    """Each setting `look_up` finds: (its value, where it came from), or None."""
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for name, key in KEYS.items():
        hit = look_up(key)
        if hit is not None:
            values[name], where[name] = hit
    return values, where


def _in_env(env: Mapping[str, str], key: Key) -> tuple[Any, str] | None:
    found = env.get(key.env) if key.env else None
    return (found, key.env) if found else None  # set but empty counts as not set


def _from_env(env: Mapping[str, str]) -> Found:
    return _found(lambda key: _in_env(env, key))


def _in_file(path: Path, key: Key) -> str:
    """How an error line names a key of the config file."""
    return f"{path}: {key.toml}"


def _from_toml(given: Any) -> Found:
    """The config file the flags or `AME_CONFIG` name, if any."""
    if not given:
        return {}, {}
    path = Path(given)
    data = read_toml(path)
    _check_keys(data, path)

    def look_up(key: Key) -> tuple[Any, str] | None:
        found = _dig(data, key.toml.split(".")) if key.toml else None
        return None if found is None else (found, _in_file(path, key))

    return _found(look_up)


def _check_keys(data: Mapping[str, Any], path: Path, table: str = "") -> None:
    """Every key of the file is a setting or a table of them: a misspelt key, at the top or
    inside a table (`[storage]` `urll = ...`), is refused rather than ignored, and so is a
    value where a table belongs (`storage = 5`)."""
    for name, value in data.items():
        dotted = f"{table}.{name}" if table else name
        if dotted in _TOML_KEYS:
            continue
        if dotted not in _TOML_TABLES:
            known = sorted(
                key.rpartition(".")[2]
                for key in _TOML_KEYS | _TOML_TABLES
                if key.rpartition(".")[0] == table
            )
            raise ConfigError(f"{path}: unknown key {dotted!r} (known: {', '.join(known)})")
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: {dotted}: must be a table ([{dotted}])")
        _check_keys(value, path, dotted)


def _dig(data: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


# -- reading --------------------------------------------------------------------------------


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources. `flags` holds only the flags a person actually gave (None is
    dropped); `config_file` is the `--config` flag. Raises ConfigError."""
    given = {name: value for name, value in flags.items() if value is not None}
    if config_file is not None:
        given["config_file"] = config_file
    environ = os.environ if env is None else env
    from_env, env_where = _from_env(environ)
    merged = from_env | given
    from_toml, toml_where = _from_toml(merged.get("config_file"))
    merged = from_toml | merged
    if "state_dir" not in merged:
        merged["state_dir"] = default_state_dir(environ)
    try:
        return Settings(**merged)
    except Refused as exc:
        raise ConfigError(_one_line(exc, given, toml_where | env_where)) from None


def given_at(settings: Settings, name: str, env: Mapping[str, str] | None = None) -> str:
    """Where a setting that has no flag took its value from, for a refusal found only after
    `resolve` (an alert URL apprise cannot use is known when the channels are made): its
    variable if set, else the config file's key, as `resolve` chose between them. `env`
    must be the environment `resolve` read (the process's, as for the daemon's start)."""
    key = KEYS[name]
    hit = _in_env(os.environ if env is None else env, key)
    if hit is not None:
        return hit[1]
    if settings.config_file is not None and key.toml:
        return _in_file(settings.config_file, key)
    return key.toml or name


def _one_line(exc: Refused, given: Mapping[str, Any], where: Mapping[str, str]) -> str:
    """The refusal, after the source that gave the value."""
    if exc.name is None:
        return str(exc)
    key = KEYS.get(exc.name, Key())
    if exc.name in given:
        return f"{key.flag or exc.name}: {exc}"
    return f"{where.get(exc.name, exc.name)}: {exc}"
