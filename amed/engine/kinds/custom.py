"""`!custom {command}`: the command as it is, in the working copy."""

from __future__ import annotations

from amed.engine.plans import ExecutorSpec, Plan, shell_command


def plan(executor: ExecutorSpec) -> Plan:
    return Plan(setup=(), argv=shell_command(executor))
