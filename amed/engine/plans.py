"""What to run for a task, as plain data: the executor as declared and the plan made from it.

Nothing here starts a process, reads a file or looks at the environment. An executor kind
(a module of amed.engine.kinds) turns an `ExecutorSpec` into a `Plan`; an engine carries the
plan out. Keeping the commands as data makes every kind testable without running it, and
lets each engine decide where and how the commands run (borgmatic's `execute.py` is the
model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

SHELL: tuple[str, ...] = ("/bin/sh", "-c")
"""Every task command is a shell command line, as the user wrote it in ame.yaml."""

VENV_POLLUTION = ("VIRTUAL_ENV", "PYTHONHOME")
"""Variables that would make a task's tools use the daemon's own virtualenv or Python."""

_PYTHON_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor as ame.yaml declares it, free of the spec package's models.

    `kind` is the tag's name (`pipEnv` for `!pipEnv`), a key of amed.engine.executors.KINDS.
    """

    kind: str
    command: str
    python_version: str | None = None


@dataclass(frozen=True)
class SharedVenv:
    """A virtualenv the engine builds before the task, from the working copy's
    `requirements.txt`, and shares between runs with the same Python and requirements.

    `python_version` is the `major.minor` (or longer) asked for; None means the daemon's.
    """

    python_version: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to run for one task, in order, all in the run's working copy.

    `setup` commands run first and must each exit 0; then `argv` is the task itself.
    `path_prepend` goes in front of PATH, `env` is added to and `env_remove` taken from the
    task's environment. When `needs_tool` is set, that program must be on PATH or nothing
    is started. When `venv` is set, the engine builds that virtualenv and activates it
    (amed.engine.venvs.activate) before any of it runs.
    """

    setup: tuple[tuple[str, ...], ...]
    argv: tuple[str, ...]
    path_prepend: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    needs_tool: str | None = None
    env_remove: tuple[str, ...] = ()
    venv: SharedVenv | None = None


class ExecutorKind(Protocol):
    """What a module of amed.engine.kinds provides (a module satisfies this protocol)."""

    def plan(self, executor: ExecutorSpec) -> Plan:
        """The commands for `executor`; a ValueError (one line) for what cannot be run."""
        ...


def shell_command(executor: ExecutorSpec) -> tuple[str, ...]:
    return (*SHELL, executor.command)


def major_minor(python_version: str) -> str:
    """`3.9` for "3.9" or "3.9.18"; a ValueError (one line) for anything else."""
    match = _PYTHON_VERSION.match(python_version.strip())
    if match is None:
        raise ValueError(f"pythonVersion {python_version!r} is not a version like 3.11")
    return f"{match.group(1)}.{match.group(2)}"
