"""`!pip {pythonVersion, command}`: the command in a virtualenv built from requirements.txt.

The virtualenv is shared by every run with the same Python and requirements (building one
takes longer than most tasks), so the engine builds it outside the working copy; see
amed.engine.venvs.
"""

from __future__ import annotations

from amed.engine.plans import ExecutorSpec, Plan, SharedVenv, shell_command


def plan(executor: ExecutorSpec) -> Plan:
    return Plan(
        setup=(),
        argv=shell_command(executor),
        venv=SharedVenv(python_version=executor.python_version),
    )
