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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic.fields import FieldInfo

from amed import config_checks as check
from amed.config_checks import (
    SPEC_MAX_BYTES,
    Count,
    Directory,
    OptionalPath,
    Percent,
    Seconds,
)
from amed.errors import ConfigError
from amed.state_dir import default_state_dir, read_toml


@dataclass(frozen=True)
class Key:
    """Where a setting may be given: its TOML path (dotted), `AME_*` variable and flag."""

    toml: str = ""
    env: str = ""
    flag: str = ""


# -- the model ------------------------------------------------------------------------------


class Settings(BaseModel):
    """Every setting amed and ame read, with its one default. Made by `resolve`; made
    directly (tests, benchmarks), it reads nothing but its arguments."""

    # Defaults are checked too: a default path is made absolute as a given one is.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    project_dir: Annotated[Directory, Key("project", "AME_PROJECT", "--project")] = Path()
    state_dir: Annotated[Directory, Key("state_dir", "AME_STATE_DIR", "--state-dir")]
    """Its default depends on the environment (`default_state_dir`): `resolve` gives it."""
    storage_url: Annotated[
        str, PlainValidator(check.storage_url), Key("storage.url", "AME_STORAGE", "--storage")
    ] = ""
    capacity_bytes: Annotated[
        int | None,
        PlainValidator(check.capacity),
        Key("storage.capacity", "AME_CAPACITY", "--capacity"),
    ] = None
    interval_seconds: Annotated[Seconds, Key("interval_seconds", "AME_INTERVAL", "--interval")] = (
        10.0
    )
    task_timeout_seconds: Annotated[Seconds, Key("tasks.timeout_seconds", "AME_TASK_TIMEOUT")] = (
        6 * 3600.0
    )
    max_parallel: Annotated[Count, Key("tasks.max_parallel", "AME_MAX_PARALLEL")] = 2
    retry_base_seconds: Annotated[
        Seconds, Key("tasks.retry_base_seconds", "AME_RETRY_BASE_SECONDS")
    ] = 10.0
    stop_timeout_seconds: Annotated[
        float,
        PlainValidator(check.stop_seconds),
        Key("tasks.stop_timeout_seconds", "AME_STOP_TIMEOUT"),
    ] = 30.0
    """On SIGTERM or SIGINT, how long running tasks may take before their groups are ended."""
    eviction_high_percent: Annotated[
        Percent, Key("eviction.high_percent", "AME_EVICTION_HIGH_PERCENT")
    ] = 90.0
    eviction_low_percent: Annotated[
        Percent, Key("eviction.low_percent", "AME_EVICTION_LOW_PERCENT")
    ] = 80.0
    low_space_percent: Annotated[
        Percent, Key("alerts.low_space_percent", "AME_LOW_SPACE_PERCENT")
    ] = 85.0
    alert_urls: Annotated[
        tuple[str, ...],
        PlainValidator(check.alert_urls),
        Key("alerts.urls", "AME_ALERT_URLS"),
        Field(repr=False),  # they hold credentials
    ] = ()
    alert_config: Annotated[OptionalPath, Key("alerts.config", "AME_ALERT_CONFIG")] = None
    alert_repeat_seconds: Annotated[
        Seconds, Key("alerts.repeat_interval_seconds", "AME_ALERT_REPEAT_SECONDS")
    ] = 4 * 3600.0
    alert_after_failures: Annotated[
        Count, Key("alerts.after_failures", "AME_ALERT_AFTER_FAILURES")
    ] = 3
    alert_instance: Annotated[
        str | None, PlainValidator(check.instance), Key("alerts.instance", "AME_ALERT_INSTANCE")
    ] = None
    """The host alerts name; None: this machine's host name."""
    alert_heartbeat_url: Annotated[
        str | None,
        PlainValidator(check.heartbeat_url),
        Key("alerts.heartbeat_url", "AME_ALERT_HEARTBEAT_URL"),
        Field(repr=False),  # a healthchecks-style URL is its own credential
    ] = None
    alert_watchdog: Annotated[
        bool, PlainValidator(check.on_off), Key("alerts.watchdog", "AME_ALERT_WATCHDOG")
    ] = False
    """An alert that always fires, sent every repeat interval, for a dead man's switch."""
    alert_runbooks: Annotated[
        tuple[tuple[str, str], ...],
        PlainValidator(check.runbooks),
        Key("alerts.runbooks", "AME_ALERT_RUNBOOKS"),
    ] = ()
    """(alert key prefix, runbook URL) pairs; an alert links the longest prefix of its key."""
    dashboard_url: Annotated[
        str | None, PlainValidator(check.dashboard_url), Key("dashboard.url", "AME_DASHBOARD_URL")
    ] = None
    """Where people reach the dashboard (a proxy's address); alerts link to it."""
    http_address: Annotated[
        str | None, PlainValidator(check.address), Key("http.address", "AME_HTTP", "--http")
    ] = None
    http_allowed_hosts: Annotated[
        tuple[str, ...],
        PlainValidator(check.allowed_hosts),
        Key("http.allowed_hosts", "AME_HTTP_ALLOWED_HOSTS"),
    ] = ()
    task_pass_env: Annotated[
        tuple[str, ...], PlainValidator(check.pass_env), Key("tasks.pass_env", "AME_TASK_PASS_ENV")
    ] = ()
    http_token_file: Annotated[OptionalPath, Key("http.token_file", "AME_HTTP_TOKEN_FILE")] = None
    deletion_grace_seconds: Annotated[
        float,
        PlainValidator(check.grace_seconds),
        Key("deletion.grace_seconds", "AME_DELETION_GRACE_SECONDS"),
    ] = 3600.0
    deletion_max_percent: Annotated[
        Percent, Key("deletion.max_percent", "AME_DELETION_MAX_PERCENT")
    ] = 50.0
    engine_kind: Annotated[
        str, PlainValidator(check.engine_kind), Key("engine.kind", "AME_ENGINE", "--engine")
    ] = "local"
    """Where tasks run: `local` (child processes) or `ray` (jobs on a Ray cluster)."""
    ray_address: Annotated[
        str | None,
        PlainValidator(check.ray_address),
        Key("engine.ray_address", "RAY_ADDRESS", "--ray-address"),
    ] = None
    detach_on_stop: Annotated[
        bool, PlainValidator(check.on_off), Key("engine.detach_on_stop", "AME_DETACH_ON_STOP")
    ] = False
    """On stop, leave Ray jobs running for the next daemon to attach to, not stop them."""
    spec_max_bytes: Annotated[
        int, PlainValidator(check.spec_max_bytes), Key("spec.max_size", "AME_SPEC_MAX_SIZE")
    ] = SPEC_MAX_BYTES
    """The largest ame.yaml amed reads (its node limit grows with it, see spec.load): about
    14,000 data sets fit in the default, 100,000 in 8Mi."""
    config_file: Annotated[OptionalPath, Key(env="AME_CONFIG", flag="--config")] = None
    """The TOML file the other settings were read from, if any."""

    @model_validator(mode="after")
    def _low_below_high(self) -> Settings:
        if self.eviction_low_percent >= self.eviction_high_percent:
            raise ValueError(
                f"eviction.low_percent ({self.eviction_low_percent:g}) must be below "
                f"eviction.high_percent ({self.eviction_high_percent:g})"
            )
        return self

    @model_validator(mode="after")
    def _ray_reachable(self) -> Settings:
        if self.engine_kind != "ray":
            return self
        import importlib.util

        try:
            installed = importlib.util.find_spec("ray") is not None
        except (ImportError, ValueError):  # a broken or blocked install is none
            installed = False
        if not installed:
            raise ValueError("engine.kind: ray needs Ray's job client: pip install 'amed[ray]'")
        if self.ray_address is None:
            raise ValueError(
                "engine.ray_address: needed with engine.kind = ray (or --ray-address, "
                "RAY_ADDRESS), e.g. http://127.0.0.1:8265"
            )
        return self


def _key_of(info: FieldInfo) -> Key:
    return next((m for m in info.metadata if isinstance(m, Key)), Key())


KEYS: dict[str, Key] = {name: _key_of(info) for name, info in Settings.model_fields.items()}
"""Each setting's TOML path, variable and flag, by field name."""
_TOML_TOP_KEYS = sorted({key.toml.split(".")[0] for key in KEYS.values() if key.toml})


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


def _from_env(env: Mapping[str, str]) -> Found:
    def look_up(key: Key) -> tuple[Any, str] | None:
        found = env.get(key.env) if key.env else None
        return (found, key.env) if found else None  # set but empty counts as not set

    return _found(look_up)


def _from_toml(given: Any) -> Found:
    """The config file the flags or `AME_CONFIG` name, if any."""
    if not given:
        return {}, {}
    path = Path(given)
    data = read_toml(path, _TOML_TOP_KEYS)

    def look_up(key: Key) -> tuple[Any, str] | None:
        found = _dig(data, key.toml.split(".")) if key.toml else None
        return None if found is None else (found, f"{path}: {key.toml}")

    return _found(look_up)


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
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, given, toml_where | env_where)) from None


def _one_line(exc: ValidationError, given: Mapping[str, Any], where: Mapping[str, str]) -> str:
    """The first error (in field order), after the source that gave the value."""
    error = exc.errors(include_url=False, include_input=False)[0]
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if isinstance(cause, Exception) else error["msg"]
    if not error["loc"]:
        return message
    name = str(error["loc"][0])
    key = KEYS.get(name, Key())
    if name in given:
        return f"{key.flag or name}: {message}"
    return f"{where.get(name, name)}: {message}"
