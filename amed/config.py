"""Settings: flags > environment (`AME_*`) > config file (TOML) > defaults.

Defaults need no file at all. Every source is validated the same way, and a bad value is one
line that names its source (`/etc/ame/amed.toml: storage.capacity: ...`).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from spec import parse_quantity

DEFAULT_INTERVAL_SECONDS = 10.0
DEFAULT_TASK_TIMEOUT_SECONDS = 6 * 3600.0
DEFAULT_MAX_PARALLEL = 2
DEFAULT_RETRY_BASE_SECONDS = 10.0


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")


class ConfigError(Exception):
    """A setting is invalid; the message starts with where it came from."""


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    state_dir: Path
    storage_url: str
    capacity_bytes: int | None = None
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    task_timeout_seconds: float = DEFAULT_TASK_TIMEOUT_SECONDS
    max_parallel: int = DEFAULT_MAX_PARALLEL
    retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS
    eviction_high_percent: float = 90.0
    eviction_low_percent: float = 80.0
    low_space_percent: float = 85.0
    alert_urls: tuple[str, ...] = ()
    alert_config: Path | None = None
    alert_repeat_seconds: float = 4 * 3600.0
    alert_after_failures: int = 3
    http_address: str | None = None
    http_allowed_hosts: tuple[str, ...] = ()
    task_pass_env: tuple[str, ...] = ()
    http_token_file: Path | None = None
    deletion_grace_seconds: float = 3600.0
    deletion_max_percent: float = 50.0
    config_file: Path | None = None


# (setting, flag, TOML path, environment variable)
_KEYS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("project_dir", "--project", ("project",), "AME_PROJECT"),
    ("state_dir", "--state-dir", ("state_dir",), "AME_STATE_DIR"),
    ("storage_url", "--storage", ("storage", "url"), "AME_STORAGE"),
    ("capacity_bytes", "--capacity", ("storage", "capacity"), "AME_CAPACITY"),
    ("interval_seconds", "--interval", ("interval_seconds",), "AME_INTERVAL"),
    ("task_timeout_seconds", "", ("tasks", "timeout_seconds"), "AME_TASK_TIMEOUT"),
    ("max_parallel", "", ("tasks", "max_parallel"), "AME_MAX_PARALLEL"),
    ("retry_base_seconds", "", ("tasks", "retry_base_seconds"), "AME_RETRY_BASE_SECONDS"),
    ("eviction_high_percent", "", ("eviction", "high_percent"), "AME_EVICTION_HIGH_PERCENT"),
    ("eviction_low_percent", "", ("eviction", "low_percent"), "AME_EVICTION_LOW_PERCENT"),
    ("low_space_percent", "", ("alerts", "low_space_percent"), "AME_LOW_SPACE_PERCENT"),
    ("alert_urls", "", ("alerts", "urls"), "AME_ALERT_URLS"),
    ("alert_config", "", ("alerts", "config"), "AME_ALERT_CONFIG"),
    ("alert_repeat_seconds", "", ("alerts", "repeat_interval_seconds"), "AME_ALERT_REPEAT_SECONDS"),
    ("alert_after_failures", "", ("alerts", "after_failures"), "AME_ALERT_AFTER_FAILURES"),
    ("http_address", "--http", ("http", "address"), "AME_HTTP"),
    ("http_allowed_hosts", "", ("http", "allowed_hosts"), "AME_HTTP_ALLOWED_HOSTS"),
    ("task_pass_env", "", ("tasks", "pass_env"), "AME_TASK_PASS_ENV"),
    ("http_token_file", "", ("http", "token_file"), "AME_HTTP_TOKEN_FILE"),
    ("deletion_grace_seconds", "", ("deletion", "grace_seconds"), "AME_DELETION_GRACE_SECONDS"),
    ("deletion_max_percent", "", ("deletion", "max_percent"), "AME_DELETION_MAX_PERCENT"),
)
_KNOWN_TOML = {
    "project",
    "state_dir",
    "interval_seconds",
    "storage",
    "tasks",
    "eviction",
    "alerts",
    "http",
    "deletion",
}


def default_state_dir(env: Mapping[str, str]) -> Path:
    """systemd's StateDirectory, then XDG, then ~/.local/state/ame."""
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "ame"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "ame"


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the sources. `flags` holds only the flags a person actually gave."""
    env = os.environ if env is None else env
    if config_file is None and env.get("AME_CONFIG"):
        config_file = Path(env["AME_CONFIG"])
    file_values = _read_toml(config_file) if config_file else {}
    raw: dict[str, tuple[Any, str]] = {}
    for name, flag, toml_path, env_name in _KEYS:
        if name in flags and flags[name] is not None:
            raw[name] = (flags[name], flag or name)
        elif env.get(env_name):
            raw[name] = (env[env_name], env_name)
        else:
            value = _dig(file_values, toml_path)
            if value is not None:
                raw[name] = (value, f"{config_file}: {'.'.join(toml_path)}")
    values = {name: _parse(name, value, where) for name, (value, where) in raw.items()}
    state_dir = Path(values.get("state_dir") or default_state_dir(env)).expanduser().absolute()
    project_dir = Path(values.get("project_dir") or Path.cwd()).expanduser().absolute()
    storage_url = values.get("storage_url") or (state_dir / "objects").as_uri()
    settings = Settings(
        project_dir=project_dir,
        state_dir=state_dir,
        storage_url=storage_url,
        config_file=config_file,
    )
    rest = {k: v for k, v in values.items() if k not in ("state_dir", "project_dir", "storage_url")}
    settings = replace(settings, **rest)
    if settings.eviction_low_percent >= settings.eviction_high_percent:
        raise ConfigError(
            f"eviction.low_percent ({settings.eviction_low_percent:g}) must be below "
            f"eviction.high_percent ({settings.eviction_high_percent:g})"
        )
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; a config file is TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - _KNOWN_TOML)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN_TOML))})"
        )
    return data


def _dig(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _parse(name: str, value: Any, where: str) -> Any:
    try:
        if name in ("project_dir", "state_dir", "alert_config", "http_token_file"):
            return Path(str(value))
        if name == "http_address":
            from amed.addresses import parse_address  # here: the dashboard imports config

            parse_address(str(value))
            return str(value)
        if name == "http_allowed_hosts":
            from amed.addresses import allowed_host

            hosts = value.split(",") if isinstance(value, str) else value
            if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) for h in hosts):
                raise ValueError("must be a list of host names")
            return tuple(allowed_host(h) for h in hosts if h.strip())
        if name == "task_pass_env":
            names = value.replace(",", " ").split() if isinstance(value, str) else value
            if not isinstance(names, list | tuple) or not all(
                isinstance(n, str) and _ENV_NAME.fullmatch(n) for n in names
            ):
                raise ValueError(
                    "must be a list of environment variable names (or PREFIX_* patterns)"
                )
            return tuple(names)
        if name == "alert_urls":
            urls = value.split() if isinstance(value, str) else value
            if not isinstance(urls, list | tuple) or not all(isinstance(u, str) for u in urls):
                raise ValueError("must be a list of apprise URLs")
            return tuple(urls)
        if name == "deletion_grace_seconds":
            grace = _number(value, float)
            if grace < 0:
                raise ValueError(f"{value!r} must be 0 or more seconds")
            return grace
        if name in (
            "eviction_high_percent",
            "eviction_low_percent",
            "low_space_percent",
            "deletion_max_percent",
        ):
            percent = _number(value, float)
            if not 0 < percent <= 100:
                raise ValueError(f"{value!r} must be a percentage above 0 and at most 100")
            return percent
        if name == "storage_url":
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a store URL (file://…, s3://…)")
            return value
        if name == "capacity_bytes":
            size = parse_quantity(value)
            if size <= 0:
                raise ValueError(f"{value!r} must be more than 0 bytes")
            return size
        if name in (
            "interval_seconds",
            "task_timeout_seconds",
            "retry_base_seconds",
            "alert_repeat_seconds",
        ):
            seconds = _number(value, float)
            if not seconds > 0:
                raise ValueError(f"{value!r} must be a number of seconds above 0")
            return seconds
        if name in ("max_parallel", "alert_after_failures"):
            count = _number(value, int)
            if count < 1:
                raise ValueError(f"{value!r} must be at least 1")
            return count
    except ValueError as exc:
        # An alert URL carries credentials: never echo it.
        message = "must be a list of apprise URLs" if name == "alert_urls" else str(exc)
        raise ConfigError(f"{where}: {message}") from None
    raise AssertionError(name)


def _number(value: Any, kind: type[float] | type[int]) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        noun = "a whole number" if kind is int else "a number"
        raise ValueError(f"{value!r} is not {noun}") from None
