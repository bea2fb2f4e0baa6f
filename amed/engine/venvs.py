"""Shared virtualenvs: one per Python and requirements.txt, built once, used by many runs.

Building a virtualenv and installing requirements takes longer than most tasks, so runs
whose key (`venv_key`) is the same share one under `<state dir>/venvs`. The commands are
data (`venv_create_command`, `venv_install_command`); they are run by the caller's `step`,
which logs them into the run's output and holds them to its timeout and cancel, like
every other command of the run.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from amed import logs
from amed.engine import proctree
from amed.engine.plans import Plan, major_minor

log = logs.named(__name__)

REQUIREMENTS_FILE = "requirements.txt"
"""The file a shared virtualenv installs, at the project's root."""

BUILD_PLAN = Plan(
    setup=(),
    argv=(),
    env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    env_remove=("VIRTUAL_ENV", "PYTHONHOME"),
)
"""Building a virtualenv must not see the daemon's own one."""

_PROBE_TIMEOUT_SECONDS = 30.0

Step = Callable[[Sequence[str], Mapping[str, str], str], None]
"""Runs one command of a run: `(argv, env, failure)`, where `failure` begins the error
line if the command does not exit 0. It raises then (and on timeout or cancel)."""


class VenvError(Exception):
    """A virtualenv cannot be had; one line a person can act on."""


def activate(plan: Plan, venv_dir: Path) -> Plan:
    """`plan` run inside the virtualenv at `venv_dir`, as `source bin/activate` would."""
    return replace(
        plan,
        path_prepend=(str(venv_dir / "bin"), *plan.path_prepend),
        env={**plan.env, "VIRTUAL_ENV": str(venv_dir)},
        env_remove=(*plan.env_remove, "PYTHONHOME"),
        venv=None,
    )


def resolve_python(requested: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """The `major.minor` and interpreter for a requested Python version; None means the
    daemon's own. Another version must be on PATH as `pythonX.Y` and really run."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if requested is None:
        return running, sys.executable
    try:
        wanted = major_minor(requested)
    except ValueError as error:
        raise VenvError(str(error)) from None
    if wanted == running:
        return running, sys.executable
    interpreter = shutil.which(f"python{wanted}", path=env.get("PATH"))
    if interpreter is None or _probe_version(interpreter, env) != wanted:
        raise VenvError(f"Python {wanted} is not installed (needed by !pip pythonVersion)")
    return wanted, interpreter


def ensure_venv(
    *,
    root: Path,
    work: Path,
    version: str,
    interpreter: str,
    env: Mapping[str, str],
    step: Step,
) -> Path:
    """The shared virtualenv for this Python and `work`'s requirements.txt, built if missing.

    It is built in a directory of its own next to the others, then published by creating
    the `<root>/<key>` symlink to it: creating a symlink either succeeds or finds one
    there, so a run sees a complete virtualenv or none, and when two runs race the loser
    removes its build and uses the winner's. The build is never renamed, because a
    virtualenv's scripts hold its absolute path.
    """
    try:
        return _build(root, work, version, interpreter, env, step)
    except OSError as error:
        raise VenvError(f"could not create the venv: {' '.join(str(error).split())}") from None


def _build(
    root: Path, work: Path, version: str, interpreter: str, env: Mapping[str, str], step: Step
) -> Path:
    requirements_path = work / REQUIREMENTS_FILE
    requirements = requirements_path.read_bytes() if requirements_path.is_file() else None
    key = venv_key(python_version=version, interpreter=interpreter, requirements=requirements)
    link = root / key
    if link.is_dir():
        return link
    root.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
    published = False
    try:
        failure = "could not create the venv: '{}'"
        step(venv_create_command(interpreter, build), env, failure.format(f"{interpreter} -m venv"))
        if requirements_to_install(requirements):
            install = venv_install_command(build, requirements_path)
            step(install, env, failure.format("pip install -r requirements.txt"))
        published = _publish(build, link)
    finally:
        if not published:
            shutil.rmtree(build, ignore_errors=True)
    if published:
        log.info("venv_created", venv=str(link), python=version)
    return link


def _publish(build: Path, link: Path) -> bool:
    """Point `link` at `build`; False when another run published first."""
    for _ in range(2):
        try:
            link.symlink_to(build.name, target_is_directory=True)
            return True
        except FileExistsError:
            if link.is_dir():
                return False
            link.unlink(missing_ok=True)
    raise VenvError(f"could not create the venv: {link} keeps being replaced")


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


def _probe_version(interpreter: str, env: Mapping[str, str]) -> str | None:
    """The `major.minor` an interpreter reports, or None when it does not run."""
    try:
        with proctree.starting() as started:
            process = subprocess.Popen(
                list(python_version_probe(interpreter)),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            started(process.pid)
    except OSError:
        return None
    try:
        stdout, _ = process.communicate(timeout=_PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    finally:
        proctree.waited(process.pid)
    if process.returncode != 0:
        return None
    return stdout.decode(errors="replace").strip()
