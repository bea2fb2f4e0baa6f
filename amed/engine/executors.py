"""Turn a task's executor into the commands that run it, as plain data.

Nothing here starts a process, reads a file or looks at the environment: `amed.engine.local` is
the one place that executes what these functions describe (borgmatic's `execute.py` is the
model). Keeping the commands as data makes every executor testable without running it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ExecutorKind = Literal["custom", "pip", "poetry", "pipEnv"]

SHELL: tuple[str, ...] = ("/bin/sh", "-c")
"""Every task command is a shell command line, as the user wrote it in ame.yaml."""

REQUIREMENTS_FILE = "requirements.txt"
"""The file a `!pip` executor installs into its virtualenv, at the project's root."""

_PYTHON_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor as ame.yaml declares it, free of the spec package's models."""

    kind: ExecutorKind
    command: str
    python_version: str | None = None


@dataclass(frozen=True)
class Plan:
    """What to run for one task, in order, all in the run's working copy.

    `setup` commands run first and must each exit 0; then `argv` is the task itself.
    `path_prepend` goes in front of PATH, `env` is added to and `env_remove` taken from the
    task's environment. When `needs_tool` is set, that program must be on PATH or nothing
    is started.
    """

    setup: tuple[tuple[str, ...], ...]
    argv: tuple[str, ...]
    path_prepend: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    needs_tool: str | None = None
    env_remove: tuple[str, ...] = ()


_VENV_POLLUTION = ("VIRTUAL_ENV", "PYTHONHOME")
"""Variables that would make a task's tools use the daemon's own virtualenv or Python."""


def plan_for(executor: ExecutorSpec, *, venv_dir: Path | None) -> Plan:
    """The commands for `executor`; `venv_dir` is the ready virtualenv of a `!pip` task.

    `!poetry` and `!pipEnv` keep their virtualenv inside the working copy, so it is private
    to the run and goes away with it instead of piling up in the user's cache (a fresh
    working copy path would give them a new one every run anyway).
    """
    task = (*SHELL, executor.command)
    if executor.kind == "custom":
        return Plan(setup=(), argv=task)
    if executor.kind == "pip":
        if venv_dir is None:
            raise ValueError("a !pip executor needs its virtualenv directory")
        return Plan(
            setup=(),
            argv=task,
            path_prepend=(str(venv_dir / "bin"),),
            env={"VIRTUAL_ENV": str(venv_dir)},
            env_remove=("PYTHONHOME",),
        )
    if executor.kind == "poetry":
        setup: tuple[tuple[str, ...], ...] = ()
        if executor.python_version is not None:
            setup += (("poetry", "env", "use", major_minor(executor.python_version)),)
        setup += (("poetry", "install", "--no-root", "--no-interaction"),)
        return Plan(
            setup=setup,
            argv=("poetry", "run", *task),
            env={"POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_NO_INTERACTION": "1"},
            needs_tool="poetry",
            env_remove=_VENV_POLLUTION,
        )
    if executor.kind == "pipEnv":
        return Plan(
            setup=(("pipenv", "install"),),
            argv=("pipenv", "run", *task),
            env={"PIPENV_VENV_IN_PROJECT": "1", "PIPENV_NOSPIN": "1", "PIPENV_YES": "1"},
            needs_tool="pipenv",
            env_remove=_VENV_POLLUTION,
        )
    raise ValueError(f"unknown executor kind {executor.kind!r}")


def major_minor(python_version: str) -> str:
    """`3.9` for "3.9" or "3.9.18"; a ValueError (one line) for anything else."""
    match = _PYTHON_VERSION.match(python_version.strip())
    if match is None:
        raise ValueError(f"pythonVersion {python_version!r} is not a version like 3.11")
    return f"{match.group(1)}.{match.group(2)}"


def requirements_to_install(requirements: bytes | None) -> bool:
    """Whether a requirements file says anything beyond blank lines and comments."""
    if requirements is None:
        return False
    for line in requirements.decode("utf-8", errors="replace").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            return True
    return False


def venv_key(*, python_version: str, interpreter: str, requirements: bytes | None) -> str:
    """The name of the shared virtualenv for this Python and these requirements.

    Runs with the same key reuse one virtualenv. The interpreter's path is part of the key
    because a virtualenv points at the interpreter that built it.
    """
    digest = hashlib.sha256()
    for part in (python_version.encode(), interpreter.encode(), requirements or b""):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"py{python_version}-{digest.hexdigest()[:24]}"


def venv_create_command(interpreter: str, venv_dir: Path) -> tuple[str, ...]:
    """The command that creates a virtualenv (with pip) at `venv_dir`."""
    return (interpreter, "-m", "venv", str(venv_dir))


def venv_install_command(venv_dir: Path, requirements: Path) -> tuple[str, ...]:
    """The command that installs a requirements file into a virtualenv, without prompting."""
    return (
        str(venv_dir / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        str(requirements),
    )


def python_version_probe(interpreter: str) -> tuple[str, ...]:
    """A command that prints the interpreter's `major.minor`, to check it really runs."""
    return (interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
