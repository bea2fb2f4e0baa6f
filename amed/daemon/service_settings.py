"""The daemon's own settings, read from the same sources as amed.config's: environment
(`AME_*`) > config file (TOML) > defaults, with errors naming their source the same way.

- `tasks.stop_timeout_seconds` / `AME_STOP_TIMEOUT` (default 30): on SIGTERM or SIGINT,
  how long running tasks may take to finish before their process groups are ended.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amed.config import ConfigError

DEFAULT_STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ServiceSettings:
    stop_timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS


def read_service_settings(
    config_file: Path | None, env: Mapping[str, str] | None = None
) -> ServiceSettings:
    env = os.environ if env is None else env
    if env.get("AME_STOP_TIMEOUT"):
        where, value = "AME_STOP_TIMEOUT", env["AME_STOP_TIMEOUT"]
    else:
        value = _dig(_read_toml(config_file), ("tasks", "stop_timeout_seconds"))
        where = f"{config_file}: tasks.stop_timeout_seconds"
    if value is None:
        return ServiceSettings()
    return ServiceSettings(stop_timeout_seconds=_seconds(value, where))


def _read_toml(path: Path | None) -> Mapping[str, Any]:
    """The file's values; amed.config has already refused a missing or malformed file,
    so reading it again fails only when it changed in between, with the same message."""
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _dig(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not a number")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ConfigError(f"{where}: {value!r} must be a number of seconds, 0 or more")
    return seconds
