"""Where the state is, found without building Settings.

`ame ds list` needs nothing but the state dir, and Settings (every setting and its check)
costs milliseconds to import that the listing does not need. The rules are Settings' own
for this one setting: `--state-dir` > `AME_STATE_DIR` > the config file's `state_dir` > the
defaults.
amed.config reads its config file and its default state dir through this module, so the
two cannot disagree.

`ame` on a service host needs no flag: without `--config` or `AME_CONFIG` it reads the
service's config (`/etc/ame/amed.toml`) if there is one, and after the per-user default it
looks in the service's state dir (`/var/lib/ame`). A reader finds the state or says, in one
line, where it looked: a state dir without a database is not an empty state, it is the
wrong place (or a daemon that never ran).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from amed.errors import ConfigError, StateDirError

SERVICE_CONFIG = Path("/etc/ame/amed.toml")
SERVICE_STATE_DIR = Path("/var/lib/ame")
DB_FILENAME = "state.db"  # state.connection.DB_FILENAME; amed below amed.config imports no state


def default_state_dir(env: Mapping[str, str]) -> Path:
    """systemd's StateDirectory, then XDG, then ~/.local/state/ame."""
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "ame"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".local" / "state" / "ame"


def read_toml(path: Path) -> dict[str, Any]:
    """The config file's tables; a file that is missing, unreadable or not TOML is a
    ConfigError naming the file. Its keys are Settings' to check (amed.config); a reader of
    one key leaves the others to the daemon.

    tomllib is imported here, not at the top: most `ame` commands find the state dir from
    a flag or the environment and never read a config file, and the import is a measurable
    part of their start."""
    import tomllib

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
    return data


def path_value(value: Any) -> Path:
    """A path setting as given (text or a path, no NUL, which no system call takes).
    Raises ValueError with the text after `<source>: `."""
    if not isinstance(value, str | os.PathLike) or "\0" in str(value):
        raise ValueError(f"{value!r} is not a path")
    return Path(value)


def directory(value: Any) -> Path:
    """A path setting, relative to where the command was started, as a person typing it
    means. Raises ValueError with the text after `<source>: `."""
    given = path_value(value)
    try:
        return given.expanduser().absolute()
    except RuntimeError:  # `~name/...` of a user this machine does not know
        raise ValueError(f"{value!r}: no home directory for its ~user") from None


class Location(NamedTuple):
    """The state dir `ame` reads, the config file it took settings from (None: none), and
    why there is no database there (the error's line; None when there is one). A
    NamedTuple, not a dataclass: importing dataclasses costs every `ame` command its
    start-up time, and the value is as immutable either way."""

    state_dir: Path
    config_file: Path | None
    missing: str | None = None

    def require(self) -> Location:
        if self.missing is not None:
            raise StateDirError(self.missing)
        return self


def locate(
    state_dir: Path | None,
    config_file: Path | None,
    env: Mapping[str, str] | None = None,
    *,
    must_exist: bool = True,
) -> Location:
    """Where `ame` finds the state. `state_dir` and `config_file` are the flags (None when
    not given). With `must_exist`, a state dir without a database raises StateDirError;
    without it (a command that may be the first to write, or that reports the absence
    itself), `missing` says so. A state this user may not read raises either way."""
    env = os.environ if env is None else env
    found = _locate(state_dir, config_file, env)
    return found.require() if must_exist else found


def _locate(state_dir: Path | None, config_file: Path | None, env: Mapping[str, str]) -> Location:
    notes: list[str] = []
    config = config_file or (Path(env["AME_CONFIG"]) if env.get("AME_CONFIG") else None)
    if config is None and SERVICE_CONFIG.exists():
        if os.access(SERVICE_CONFIG, os.R_OK):
            config = SERVICE_CONFIG
        else:  # another user's service: this user's own state may still be found
            notes.append(f"{SERVICE_CONFIG} is not readable")
    given = state_dir or env.get("AME_STATE_DIR") or None
    if given is None and config is not None:
        value = read_toml(config).get("state_dir")
        try:
            given = None if value is None else directory(value)
        except ValueError as exc:
            raise ConfigError(f"{config}: state_dir: {exc}") from None
    if given is None and env.get("STATE_DIRECTORY"):
        given = default_state_dir(env)
    if given is not None:
        place = directory(given)
        missing = None if _has_database(place) else _no_database(str(place), notes)
        return Location(place, config, missing)
    own = directory(default_state_dir(env))
    denied: StateDirError | None = None
    for place in (own, SERVICE_STATE_DIR):
        try:
            if _has_database(place):
                return Location(place, config)
        except StateDirError as exc:
            denied = denied or exc
    if denied is not None:
        raise denied
    return Location(own, config, _no_database(f"{own} or {SERVICE_STATE_DIR}", notes))


def _no_database(where: str, notes: list[str]) -> str:
    also = f" ({'; '.join(notes)})" if notes else ""
    return (
        f"no state database in {where}{also}: amed has not run there "
        "(name the daemon's state dir with --state-dir or AME_STATE_DIR)"
    )


def _has_database(state_dir: Path) -> bool:
    """Whether the state dir holds a database; StateDirError when this user may not know."""
    try:
        (state_dir / DB_FILENAME).stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise StateDirError(_denied(state_dir)) from None
    return True


def _denied(state_dir: Path) -> str:
    """The service's state is readable by a group: name it, and how to join it."""
    import grp
    import pwd

    message = f"{state_dir}: permission denied"
    try:
        group = grp.getgrgid(state_dir.stat().st_gid).gr_name
        user = pwd.getpwuid(os.getuid()).pw_name
    except (OSError, KeyError):
        return message
    return f"{message}; members of group {group!r} may read it (usermod -aG {group} {user})"
