"""What an alert key is about, read back from the key itself.

A message names the project, the data set or the task an alert concerns, and the planner
puts them only in the key. Key grammar (`kind:project/name`) follows amed.plan.conditions,
which makes the keys; tests/alerts/test_message.py keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

_DATASET_KINDS = ("failed", "blocked", "oversize", "wont_fit")
_TASK_KINDS = ("task_failed",)


@dataclass(frozen=True)
class Subject:
    """What an alert key is about. `kind`: the key's first part (`failed`, `low_space`)."""

    kind: str
    project: str | None = None
    dataset: str | None = None
    task: str | None = None


def subject_of(key: str, project: str | None = None) -> Subject:
    """`failed:demo/big`, `oversize:demo/big:v3`, `task_failed:demo/train`, `low_space`.
    `project`: the project the alert was raised for, when the key does not name one."""
    kind, _, rest = key.partition(":")
    if kind in _DATASET_KINDS or kind in _TASK_KINDS:
        owner, _, name = rest.partition("/")
        if kind == "oversize":
            name = name.rpartition(":v")[0] or name
        if kind in _TASK_KINDS:
            return Subject(kind, owner, task=name)
        return Subject(kind, owner, dataset=name)
    if kind in ("evictions", "spec_invalid", "mass_deletion"):
        return Subject(kind, rest.split(":")[0] or project)
    return Subject(kind, project or None)
