"""Options shared by `amed` and `ame`, and turning them into Settings or a state dir.

Settings (every setting and its check) is imported only by the commands that need more
than the state dir: a listing pays for none of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from amed.state_dir import locate

if TYPE_CHECKING:
    from amed.config import Settings
    from spec import Project

F = TypeVar("F", bound=Callable[..., Any])


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML config file (default: $AME_CONFIG; none needed).",
    )(fn)


def state_dir_option(fn: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="State directory (default: $STATE_DIRECTORY, $XDG_STATE_HOME/ame, "
        "~/.local/state/ame).",
    )(fn)


def project_option(fn: F) -> F:
    """The project directory, for every command that reads ame.yaml (as `amed run`'s)."""
    return click.option(
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Project directory holding ame.yaml (default: $AME_PROJECT, the config's "
        "project, the current directory).",
    )(fn)


def ame_state_option(fn: F) -> F:
    """`ame`'s: it also finds the service's state (/etc/ame/amed.toml, /var/lib/ame)."""
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="State directory (default: AME_STATE_DIR, the config's state_dir, "
        "$XDG_STATE_HOME/ame or ~/.local/state/ame, then /var/lib/ame).",
    )(config_option(fn))


def settings_from(config_file: Path | None = None, **flags: Any) -> Settings:
    """A flag left out is None, and yields to the environment, the config file and the default."""
    from amed.config import resolve

    return resolve(flags, config_file=config_file)


def state_dir_for(
    config_file: Path | None, state_dir: Path | None, *, must_exist: bool = True
) -> Path:
    """The state dir an `ame` command reads; StateDirError when it holds no database."""
    return locate(state_dir, config_file, must_exist=must_exist).state_dir


def ame_settings(
    config_file: Path | None,
    state_dir: Path | None,
    *,
    must_exist: bool = True,
    **flags: Any,
) -> Settings:
    """Settings for an `ame` command: the state dir as `state_dir_for` finds it, the rest
    from the config file it was found through."""
    found = locate(state_dir, config_file, must_exist=False)
    settings = settings_from(found.config_file, state_dir=found.state_dir, **flags)
    if must_exist:  # after the settings: an invalid config is reported as that
        found.require()
    return settings


def load_ame_yaml(project_dir: Path, max_bytes: int) -> Project:
    """The project's ame.yaml. Missing, it is one line naming every way to give the
    directory (spec's own message names only the flag)."""
    from amed.daemon.spec_file import load_spec, spec_path
    from spec import SpecError

    path = spec_path(project_dir)
    if not path.exists():
        raise SpecError(
            "no such file; run in the project directory, or name the directory with "
            "--project DIR or AME_PROJECT",
            str(path),
        )
    return load_spec(path, max_bytes)
