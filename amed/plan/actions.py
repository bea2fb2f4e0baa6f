"""The planner's commands, in the imperative, so that a reader never confuses what amed
intends with what happened (the events). The daemon carries each one out and records its
outcome as events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.tasks import StartTask
from spec import DataSet
from state.events import (
    DatasetBlocked,
    DatasetDeclared,
    DatasetEvicted,
    DatasetUndeclared,
    InputFailed,
    RunFailed,
    TaskDeclared,
    TaskFinished,
    TaskRequested,
)


@dataclass(frozen=True)
class Declare:
    """Record that the spec declares this data set (new, or declared differently)."""

    event: DatasetDeclared


@dataclass(frozen=True)
class MarkLost:
    """A run the log calls live has no process in this daemon: it died with an earlier one."""

    event: RunFailed


@dataclass(frozen=True)
class Input:
    """A ready version of an input, to be placed at `path` in the producing task's working
    copy. `digest`: its content digest ("" for a version stored before amed recorded them),
    which becomes part of the new version's identity."""

    name: str
    version: int
    path: str
    digest: str


@dataclass(frozen=True)
class Produce:
    """Run the producing task and store its output as `version`. `budget_bytes`: the most
    the output may take (None: no limit known). `inputs` and `code_digest`: what the run
    is made from, recorded with the version as its identity."""

    project: str
    data_set: DataSet
    version: int
    attempt: int
    reason: str = "new"
    budget_bytes: int | None = None
    inputs: tuple[Input, ...] = ()
    code_digest: str | None = None


@dataclass(frozen=True)
class FailDependant:
    """Record that a due data set is not produced because an input failed or is blocked."""

    event: InputFailed


@dataclass(frozen=True)
class DeleteVersion:
    """Delete the objects of a version that is no longer served."""

    project: str
    dataset: str
    version: int
    reason: str


@dataclass(frozen=True)
class Remove:
    """Stop serving a data set that is no longer declared; its versions are deleted next."""

    project: str
    dataset: str
    versions: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class MarkDeleting:
    """Record that a data set left ame.yaml; it is deleted once its grace has passed."""

    event: DatasetUndeclared


@dataclass(frozen=True)
class Evict:
    """Give up a data set's ready version to free space; it is produced again on demand."""

    event: DatasetEvicted


@dataclass(frozen=True)
class Block:
    event: DatasetBlocked


@dataclass(frozen=True)
class DeclareTask:
    event: TaskDeclared


@dataclass(frozen=True)
class RequestTask:
    """The task's schedule fired: record a request for a run."""

    event: TaskRequested


@dataclass(frozen=True)
class FinishTask:
    """Record a task run that ends without running (a data set it needs failed) or whose
    process is gone."""

    event: TaskFinished


Action = (
    Declare
    | MarkLost
    | MarkDeleting
    | DeleteVersion
    | Remove
    | Evict
    | Block
    | FailDependant
    | Produce
    | DeclareTask
    | RequestTask
    | FinishTask
    | StartTask
    | RaiseAlert
    | ClearAlert
    | Deliver
)


def summarize(actions: Sequence[Action]) -> dict[str, int]:
    """Counts per kind of action, for a log line."""
    counts: dict[str, int] = {}
    for action in actions:
        name = type(action).__name__.lower()
        counts[name] = counts.get(name, 0) + 1
    return counts
