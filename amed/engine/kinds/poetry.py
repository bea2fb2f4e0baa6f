"""`!poetry {pythonVersion, command}`: the project's poetry environment.

The virtualenv is kept inside the working copy, so it is private to the run and goes away
with it instead of piling up in the user's cache (a fresh working copy path would give
them a new one every run anyway).
"""

from __future__ import annotations

from amed.engine.plans import VENV_POLLUTION, ExecutorSpec, Plan, major_minor, shell_command


def plan(executor: ExecutorSpec) -> Plan:
    setup: tuple[tuple[str, ...], ...] = ()
    if executor.python_version is not None:
        setup += (("poetry", "env", "use", major_minor(executor.python_version)),)
    setup += (("poetry", "install", "--no-root", "--no-interaction"),)
    return Plan(
        setup=setup,
        argv=("poetry", "run", *shell_command(executor)),
        env={"POETRY_VIRTUALENVS_IN_PROJECT": "true", "POETRY_NO_INTERACTION": "1"},
        needs_tool="poetry",
        env_remove=VENV_POLLUTION,
    )
