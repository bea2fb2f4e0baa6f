"""Options shared by `amed` and `ame`, and turning them into Settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from amed.config import Settings, resolve

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


def settings_from(config_file: Path | None = None, **flags: Any) -> Settings:
    """A flag left out is None, and yields to the environment, the config file and the default."""
    return resolve(flags, config_file=config_file)
