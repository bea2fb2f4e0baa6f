"""Each setting's check: a value as given (flag, `AME_*` variable or TOML) to the value
amed uses, or a ValueError whose text is the rest of the line after `<source>: `.

Apart from the model (amed.config) so that the model reads as the list of settings, each
with its key, default and check by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from amed.state_dir import directory, path_value
from spec import parse_quantity

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?")
SPEC_MAX_BYTES = 1024 * 1024  # spec.load.MAX_FILE_BYTES, without importing the loader


def number(value: Any, kind: type[float] | type[int]) -> Any:
    """Text or a TOML number; a bool is refused, though Python counts it as 1 or 0."""
    noun = "a whole number" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not {noun}")
    if kind is int and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not {noun}")
        return int(value)
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{value!r} is not {noun}") from None
    except OverflowError:  # a whole number too large for a float
        raise ValueError(f"{value!r} is out of range") from None


def shown(value: Any) -> str:
    """A value as its user wrote it: a flag's -1 arrives as the float -1.0."""
    return f"{value:g}" if isinstance(value, float) else repr(value)


def seconds_above_zero(value: Any) -> float:
    seconds = number(value, float)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"{shown(value)} must be a number of seconds above 0")
    return float(seconds)


def grace_seconds(value: Any) -> float:
    seconds = number(value, float)
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"{shown(value)} must be 0 or more seconds")
    return float(seconds)


def stop_seconds(value: Any) -> float:
    seconds = number(value, float)
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"{shown(value)} must be a number of seconds, 0 or more")
    return float(seconds)


def percent(value: Any) -> float:
    percent = number(value, float)
    if not 0 < percent <= 100:
        raise ValueError(f"{shown(value)} must be a percentage above 0 and at most 100")
    return float(percent)


def count(value: Any) -> int:
    count = number(value, int)
    if count < 1:
        raise ValueError(f"{shown(value)} must be at least 1")
    return int(count)


def optional_path(value: Any) -> Path | None:
    return None if value is None else path_value(value)


def directory_value(value: Any) -> Path:
    """Relative to where the command was started, as a person typing it means."""
    return directory(value)


def storage_url(value: Any) -> str:
    """ "" is no URL: the model gives the state dir's own `objects` folder."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a store URL (file://…, s3://…)")
    return value


def spec_max_bytes(value: Any) -> int:
    size = parse_quantity(value)
    if size <= 0:
        raise ValueError(f"{value!r} must be more than 0 bytes")
    return size


def capacity(value: Any) -> int | None:
    if value is None:
        return None
    size = parse_quantity(value)
    if size <= 0:
        raise ValueError(f"{value!r} must be more than 0 bytes")
    return size


def address(value: Any) -> str | None:
    if value is None:
        return None
    from amed.addresses import parse_address  # ipaddress, only when an address is given

    parse_address(str(value))
    return str(value)


def string_list(value: Any, split: Callable[[str], list[str]], noun: str) -> tuple[str, ...]:
    """A TOML list of strings, or the text of a variable or flag, split."""
    items = split(value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"must be a list of {noun}")
    return tuple(items)


def allowed_hosts(value: Any) -> tuple[str, ...]:
    from amed.addresses import allowed_host

    hosts = string_list(value, lambda text: text.split(","), "host names")
    return tuple(allowed_host(h) for h in hosts if h.strip())


def pass_env(value: Any) -> tuple[str, ...]:
    noun = "environment variable names (or PREFIX_* patterns)"
    names = string_list(value, lambda text: text.replace(",", " ").split(), noun)
    if not all(_ENV_NAME.fullmatch(n) for n in names):
        raise ValueError(f"must be a list of {noun}")
    return names


def alert_urls(value: Any) -> tuple[str, ...]:
    """An alert URL carries credentials: the message never holds the value."""
    return string_list(value, str.split, "apprise URLs")


def instance(value: Any) -> str | None:
    """The host name alerts give; one line, as it heads every alert's title."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value or len(value) > 200:
        raise ValueError(f"{value!r} must be a name on one line, at most 200 characters")
    return value.strip()


def web_url(value: Any, *, secret: bool) -> str | None:
    """An http(s) URL; a `secret` one (a heartbeat URL is its own token) is never echoed."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    shown = "the value" if secret else repr(value)
    if not isinstance(value, str):
        raise ValueError(f"{shown} is not a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown} must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 (read to check it: urllib raises on a port out of range)
    except ValueError:
        raise ValueError(f"{shown} has a port that is not a number from 0 to 65535") from None
    return value.strip()


def dashboard_url(value: Any) -> str | None:
    """Public: it goes into every alert as a link, so it may not carry credentials."""
    if isinstance(value, str) and "@" in value.partition("://")[2].partition("/")[0]:
        raise ValueError("must not carry credentials (user:password@): it is sent in alerts")
    url = web_url(value, secret=False)
    return url.rstrip("/") if url else url


def heartbeat_url(value: Any) -> str | None:
    return web_url(value, secret=True)


def runbooks(value: Any) -> tuple[tuple[str, str], ...]:
    """Alert key prefix to runbook URL: a TOML table (`[alerts.runbooks]`), or `PREFIX=URL`
    pairs in a variable. Public, as the dashboard's URL: each goes into alerts."""
    if isinstance(value, str):
        pairs = [item.partition("=")[::2] for item in value.split()]
        if not all(prefix and url for prefix, url in pairs):
            raise ValueError("must be PREFIX=URL pairs (failed=https://wiki/amed#failed)")
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        pairs = list(value)  # the default, or a value already checked
    else:
        raise ValueError("must be a table of alert key prefixes and runbook URLs")
    runbooks = []
    for prefix, url in pairs:
        if not isinstance(prefix, str) or not prefix.strip():
            raise ValueError(f"{prefix!r} is not an alert key prefix")
        try:
            checked = dashboard_url(url)
        except ValueError as exc:
            raise ValueError(f"{prefix}: {exc}") from None
        runbooks.append((prefix.strip(), str(checked)))
    return tuple(runbooks)


def engine_kind(value: Any) -> str:
    """The names of amed.engine.engines.ENGINES (this layer may not import it)."""
    if value not in ("local", "ray"):
        raise ValueError(f"{value!r} is not an engine (local or ray)")
    return str(value)


def ray_address(value: Any) -> str | None:
    """Ray's Jobs API (`http://host:8265`); Ray's own `ray://` client address is not it."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(str(value).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{value!r} must be the address of Ray's Jobs API, e.g. http://127.0.0.1:8265"
        )
    return str(value).strip().rstrip("/")


def on_off(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")
