"""`!pipEnv {command}`: the project's Pipfile environment.

As with `!poetry`, the virtualenv stays inside the working copy and goes away with it.
"""

from __future__ import annotations

from amed.engine.plans import VENV_POLLUTION, ExecutorSpec, Plan, shell_command


def plan(executor: ExecutorSpec) -> Plan:
    return Plan(
        setup=(("pipenv", "install"),),
        argv=("pipenv", "run", *shell_command(executor)),
        env={"PIPENV_VENV_IN_PROJECT": "1", "PIPENV_NOSPIN": "1", "PIPENV_YES": "1"},
        needs_tool="pipenv",
        env_remove=VENV_POLLUTION,
    )
