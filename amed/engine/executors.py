"""Executor kinds, by the name ame.yaml tags them with: the one table an engine looks in.

A new kind is a module in amed.engine.kinds (a `plan(executor) -> Plan` function) and one
line here; ame.yaml learns its tag from spec.executor_kinds, and a test checks that the two
lists agree. Dispatch through a table rather than a chain of `if kind == ...` keeps each
kind's commands in its own module (borgmatic's `hooks/dispatch.py` is the model).
"""

from __future__ import annotations

from collections.abc import Mapping

from amed.engine.kinds import custom, pip, pipenv, poetry
from amed.engine.plans import ExecutorKind, ExecutorSpec, Plan

KINDS: Mapping[str, ExecutorKind] = {
    "custom": custom,
    "pip": pip,
    "poetry": poetry,
    "pipEnv": pipenv,
}


def plan_for(executor: ExecutorSpec) -> Plan:
    """The kind's plan for `executor`; a ValueError (one line) for an unknown kind or an
    executor its kind cannot run. A `venv` in the plan is still to be built."""
    kind = KINDS.get(executor.kind)
    if kind is None:
        raise ValueError(f"unknown executor kind {executor.kind!r}")
    return kind.plan(executor)
