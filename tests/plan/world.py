"""Planner cases as tables. A case is a row: a spec, what happened so far (the events the
daemon would have written, built by the steps below), the facts of the moment, and the
actions `decide` must return, each told in a few words so that the row reads as the
behaviour it pins down:

    case(
        "a changed command produces the next version",
        spec=mnist("make better data"),
        given=[stored("mnist", spec=mnist("make data"))],
        then=["declare mnist (50Gi)", "produce mnist v2 (spec changed)"],
    )

`then` is the whole answer, in order: an action nobody expected fails the row. Every case
uses project `p`; a data set of another project is told as `project/name`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from amed.plan.actions import (
    Action,
    Block,
    Declare,
    DeclareTask,
    DeleteVersion,
    Evict,
    FailDependant,
    FinishTask,
    MarkDeleting,
    MarkLost,
    Produce,
    Remove,
    RequestTask,
)
from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import decide, decide_in_full
from amed.plan.facts import Facts
from amed.plan.graph import input_names
from amed.plan.tasks import StartTask
from spec import Project
from state.events import (
    AlertDelivered,
    DatasetEvicted,
    DatasetRemoved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    TaskRequested,
    TaskStarted,
    VersionDeleted,
    VersionStored,
)
from state.observed import Observed
from state.rows import DatasetRow, TaskRow
from state.tables import replay

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KiB, MiB, GiB = 2**10, 2**20, 2**30
HOUR = timedelta(hours=1)


@dataclass
class World:
    """The spec of the moment and the events written so far, in the order written."""

    spec: Project
    events: list[Event] = field(default_factory=list)

    def observed(self) -> Observed:
        return replay(self.events).observed()

    def record(self, actions: Sequence[Action], now: datetime) -> None:
        """What the daemon writes for these actions when each one succeeds at once: a run
        it starts is left running, an alert reaches every channel."""
        for action in actions:
            self.events += outcome(action, now)

    def states(self) -> dict[str, str]:
        observed = self.observed()
        shown = {label(r.project, r.name): state(r) for r in observed.datasets.values()}
        shown |= {f"task {t.name}": task_state(t) for t in observed.tasks.values()}
        return shown


Step = Callable[[World], None]


def outcome(action: Action, now: datetime) -> list[Event]:
    match action:
        case (
            Declare(event=event)
            | DeclareTask(event=event)
            | MarkLost(event=event)
            | MarkDeleting(event=event)
            | Block(event=event)
            | FailDependant(event=event)
            | RequestTask(event=event)
            | FinishTask(event=event)
            | RaiseAlert(event=event)
            | ClearAlert(event=event)
        ):
            return [event]
        case Produce(project=project, data_set=data_set, version=version, attempt=attempt):
            return [
                RunStarted(
                    at=now,
                    project=project,
                    dataset=data_set.name,
                    run_id=f"{data_set.name}-{version}",
                    version=version,
                    spec_hash=data_set.spec_hash,
                    task=data_set.producer.name,
                    attempt=attempt,
                    inputs={i.name: i.version for i in action.inputs},
                    code_digest=action.code_digest,
                )
            ]
        case StartTask(project=project, task=task, request_id=request_id, inputs=inputs):
            return [
                TaskStarted(
                    at=now,
                    project=project,
                    task=task.name,
                    request_id=request_id,
                    run_id=f"{task.name}-{request_id}",
                    inputs=dict(inputs),
                )
            ]
        case Evict(event=event):
            return [event, deleted(event.project, event.dataset, event.version, now, "evicted")]
        case Remove(project=project, dataset=name, versions=versions, reason=reason):
            removed = DatasetRemoved(at=now, project=project, dataset=name, reason=reason)
            return [removed, *(deleted(project, name, v, now, reason) for v in versions)]
        case DeleteVersion(project=project, dataset=name, version=version, reason=reason):
            return [deleted(project, name, version, now, reason)]
        case Deliver(key=key, notice=notice, channels=channels):
            kind = "resolved" if notice == "resolved" else "alert"
            return [
                AlertDelivered(
                    at=now, project="p", key=key, notice=kind, channels=channels or ("every",)
                )
            ]
    raise AssertionError(f"no outcome for {action}")


def deleted(project: str, name: str, version: int, at: datetime, reason: str) -> VersionDeleted:
    return VersionDeleted(
        at=at, project=project, dataset=name, version=version, reason=reason, objects=2
    )


# -- what happened: each step appends the events the daemon would have written --------------


def declared(
    *names: str, at: datetime = NOW, spec: Project | None = None, tasks: bool = True
) -> Step:
    """The declarations a pass over `spec` (the world's, by default) writes at `at`: of the
    named data sets only, if any are named, and of the tasks not declared yet (unless
    `tasks` is false)."""

    def step(world: World) -> None:
        for action in decide(spec or world.spec, world.observed(), Facts(now=at)):
            if (isinstance(action, DeclareTask) and tasks) or (
                isinstance(action, Declare) and (not names or action.event.dataset in names)
            ):
                world.events.append(action.event)

    return step


def running(
    name: str,
    version: int = 1,
    attempt: int = 1,
    at: datetime = NOW,
    spec: Project | None = None,
) -> Step:
    """A run of the data set's task, declared as in `spec`, started at `at` with run id
    `name-version` and the versions its inputs have now placed, and not finished."""

    def step(world: World) -> None:
        desired = spec or world.spec
        declared(name, at=at, spec=desired)(world)
        data_set = desired.data_set(name)
        assert data_set is not None, name
        rows = world.observed().datasets
        placed = {
            i: row.version
            for i in input_names(data_set, desired.name)
            if (row := rows[(desired.name, i)]).version is not None
        }
        world.events.append(
            RunStarted(
                at=at,
                project=desired.name,
                dataset=name,
                run_id=f"{name}-{version}",
                version=version,
                spec_hash=data_set.spec_hash,
                task=data_set.producer.name,
                attempt=attempt,
                inputs=placed,
            )
        )

    return step


def stored(
    name: str,
    version: int = 1,
    size_bytes: int = 10,
    at: datetime = NOW,
    spec: Project | None = None,
) -> Step:
    """Version `version` of the data set, as `spec` declares it, produced and stored at `at`."""

    def step(world: World) -> None:
        running(name, version, at=at, spec=spec)(world)
        finished(name, version, size_bytes, at=at, spec=spec)(world)

    return step


def finished(
    name: str,
    version: int = 1,
    size_bytes: int = 10,
    at: datetime = NOW,
    spec: Project | None = None,
    content: str | None = None,
    code: str | None = None,
) -> Step:
    """The run `running` started succeeds and its version is stored at `at`; `spec` is the
    one the run was started for (the world's, by default). With a `content` digest, the
    version records its identity: `code`, and the content digest of each input placed for
    the run (as the world reads them now); without one, it is a version stored before amed
    recorded identities."""

    def step(world: World) -> None:
        desired = spec or world.spec
        data_set = desired.data_set(name)
        assert data_set is not None, name
        run = {"project": desired.name, "dataset": name, "run_id": f"{name}-{version}"}
        identity: dict[str, object] = {}
        if content is not None:
            rows = world.observed().datasets
            row = rows[(desired.name, name)]
            identity = {
                "content_digest": content,
                "code_digest": code,
                "inputs": {
                    i: rows[(desired.name, i)].content_digest or "" for i in row.running_inputs
                },
            }
        world.events += [
            RunSucceeded(at=at, seconds=1, **run),
            VersionStored(
                at=at,
                version=version,
                spec_hash=data_set.spec_hash,
                size_bytes=size_bytes,
                files=1,
                seconds=1,
                **run,
                **identity,  # type: ignore[arg-type]
            ),
        ]

    return step


def failed(
    name: str,
    version: int = 1,
    attempt: int = 1,
    at: datetime = NOW,
    retry_at: datetime = NOW + HOUR,
    stage: Literal["task", "store", "space", "lost"] = "task",
    reason: str = "exited with code 1",
) -> Step:
    """A run that started and failed at `at`, to be retried at `retry_at`."""

    def step(world: World) -> None:
        running(name, version, attempt, at=at)(world)
        world.events.append(
            RunFailed(
                at=at,
                project=world.spec.name,
                dataset=name,
                run_id=f"{name}-{version}",
                stage=stage,
                reason=reason,
                retry_at=retry_at,
            )
        )

    return step


def failures(name: str, count: int) -> list[Step]:
    """`count` failed attempts in a row: each would have stored the same version, as a
    failed attempt takes no version number."""
    return [failed(name, version=1, attempt=n) for n in range(1, count + 1)]


def evicted(name: str, version: int = 1, at: datetime = NOW) -> Step:
    def step(world: World) -> None:
        world.events += [
            DatasetEvicted(
                at=at, project="p", dataset=name, version=version, reason="x", bytes_freed=10
            ),
            deleted("p", name, version, at, "evicted"),
        ]

    return step


def removed(name: str, versions: Sequence[int] = (1,), at: datetime = NOW) -> Step:
    def step(world: World) -> None:
        world.events += [
            *(deleted("p", name, v, at, "x") for v in versions),
            DatasetRemoved(at=at, project="p", dataset=name, reason="x"),
        ]

    return step


def requested(task: str, request_id: str, at: datetime = NOW) -> Step:
    """`ame task run TASK`."""
    return happened(
        TaskRequested(at=at, project="p", task=task, request_id=request_id, reason="manual")
    )


def happened(*events: Event) -> Step:
    def step(world: World) -> None:
        world.events += events

    return step


def passed(facts: Facts | None = None, spec: Project | None = None) -> Step:
    """A pass of the planner over `spec` (the world's, by default), its actions carried out
    and recorded (see `World.record`)."""

    def step(world: World) -> None:
        now = facts or Facts(now=NOW)
        world.record(decide(spec or world.spec, world.observed(), now), now.now)

    return step


# -- actions and rows told in a few words ------------------------------------------------------


def told(action: Action) -> str:
    """An action in a few words: its kind, its data set or task, and what tells it apart
    from its neighbours in a case (a version, a size, a reason)."""
    match action:
        case Declare(event=e):
            size = f" ({quantity(e.declared_size_bytes)})" if e.declared_size_bytes else ""
            return f"declare {label(e.project, e.dataset)}{size}"
        case DeclareTask(event=e):
            return f"declare task {e.task}"
        case Produce(project=project, data_set=data_set, version=version):
            notes = [action.reason]
            if action.attempt != 1:
                notes.append(f"attempt {action.attempt}")
            if action.budget_bytes is not None:
                notes.append(f"budget {quantity(action.budget_bytes)}")
            made = ", ".join(f"{i.name} v{i.version}" for i in action.inputs)
            source = f" from {made}" if made else ""
            return (
                f"produce {label(project, data_set.name)} v{version} ({', '.join(notes)}){source}"
            )
        case FailDependant(event=e):
            return f"fail {label(e.project, e.dataset)}: {e.reason}"
        case MarkLost(event=e):
            retry = f", retry at {clock(e.retry_at)}" if e.retry_at else ""
            return f"mark run {e.run_id} of {label(e.project, e.dataset)} {e.stage}{retry}"
        case MarkDeleting(event=e):
            return f"mark {label(e.project, e.dataset)} deleting until {clock(e.delete_after)}"
        case DeleteVersion(project=project, dataset=name, version=version, reason=reason):
            return f"delete {label(project, name)} v{version} ({reason})"
        case Remove(project=project, dataset=name, versions=versions, reason=reason):
            numbers = " ".join(f"v{n}" for n in versions) or "no versions"
            return f"remove {label(project, name)} {numbers} ({reason})"
        case Evict(event=e):
            freed = quantity(e.bytes_freed)
            return f"evict {label(e.project, e.dataset)} v{e.version} ({freed})"
        case Block(event=e):
            return (
                f"block {label(e.project, e.dataset)} (needs {quantity(e.needed_bytes)}, "
                f"{quantity(e.free_bytes)} free, {quantity(e.reclaimable_bytes)} reclaimable)"
            )
        case RequestTask(event=e):
            when = f" for {clock(e.scheduled_for)}" if e.scheduled_for else ""
            return f"request task {e.task} ({e.reason}{when})"
        case StartTask(task=task, request_id=request_id, inputs=inputs):
            given = ", ".join(f"{name} v{version}" for name, version in inputs.items())
            return f"start task {task.name} for {request_id} with {given or 'nothing'}"
        case FinishTask(event=e):
            run = f" run {e.run_id}" if e.run_id else ""
            why = f": {e.reason}" if e.reason else ""
            return f"finish task {e.task}{run} {'ok' if e.ok else 'failed'}{why}"
        case RaiseAlert(event=e):
            return f"alert {e.key} ({e.severity})"
        case ClearAlert(event=e):
            return f"clear alert {e.key}"
        case Deliver(key=key, notice=notice, channels=channels):
            to = f" to {', '.join(channels)}" if channels else ""
            return f"deliver {notice} {key}{to}"
    raise AssertionError(f"not told: {action}")


def state(row: DatasetRow) -> str:
    parts: list[str] = [row.status]
    if row.version is not None:
        parts.append(f"v{row.version}")
    if row.delete_after is not None:
        parts.append(f"until {clock(row.delete_after)}")
    if row.in_use_by:
        parts.append(f"in use by {', '.join(row.in_use_by)}")
    return " ".join(parts)


def task_state(row: TaskRow) -> str:
    return row.status


def label(project: str, name: str) -> str:
    return name if project == "p" else f"{project}/{name}"


def quantity(size_bytes: int) -> str:
    """A size as ame.yaml would write it, exactly: 50Gi, 512Mi, 10 (bytes)."""
    for unit, suffix in ((GiB, "Gi"), (MiB, "Mi"), (KiB, "Ki")):
        if size_bytes and size_bytes % unit == 0:
            return f"{size_bytes // unit}{suffix}"
    return str(size_bytes)


def clock(at: datetime) -> str:
    """A time of NOW's day as HH:MM (with seconds when it has some); any other as a date."""
    shown = at.strftime("%H:%M:%S" if at.second else "%H:%M")
    return shown if at.date() == NOW.date() else f"{at:%Y-%m-%d} {shown}"


# -- the row ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    spec: Project
    given: Sequence[Step]
    facts: Facts
    then: Sequence[str]
    after: Mapping[str, str] | None


def case(
    id: str,
    *,
    spec: Project,
    given: Sequence[Step] = (),
    facts: Facts | None = None,
    then: Sequence[str],
    after: Mapping[str, str] | None = None,
) -> object:
    """One row. `after`: how the named data sets (or `task NAME`) read once the actions are
    carried out and recorded; those not named are not checked."""
    return pytest.param(Case(spec, given, facts or Facts(now=NOW), then, after), id=id)


def build(spec: Project, given: Sequence[Step] = ()) -> World:
    world = World(spec)
    for step in given:
        step(world)
    return world


def with_memos(spec: Project, events: Sequence[Event], facts: Facts) -> list[Action]:
    """`decide` over the events' tables as a daemon sees them, each event folded into the
    same tables (the rows it does not touch stay the same objects), with the memo of a pass
    after every event, from a first pass after each prefix of the events; each answer, and
    one over the end state where no row changed since the last pass, must be the same."""
    answers = []
    for start in range(len(events) + 1):
        tables = replay(events[:start])
        memo = decide_in_full(spec, tables.observed(), facts).memo
        for event in events[start:]:
            tables.fold(event)
            memo = decide_in_full(spec, tables.observed(), facts, memo).memo
        again = decide_in_full(spec, tables.observed(), facts, memo)
        assert again.memo is not None and again.memo.project is spec
        answers.append(again.actions)
        answers.append(decide_in_full(spec, tables.observed(), facts, again.memo).actions)
    assert all(answer == answers[0] for answer in answers)
    return answers[0]


def check(row: Case) -> list[Action]:
    """Decide over the row's world and compare; deciding again over the same arguments must
    give the same answer, as `decide` is pure."""
    world = build(row.spec, row.given)
    observed = world.observed()
    actions = decide(row.spec, observed, row.facts)
    assert [told(a) for a in actions] == list(row.then)
    assert decide(row.spec, observed, row.facts) == actions
    assert with_memos(row.spec, world.events, row.facts) == actions
    if row.after is not None:
        world.record(actions, row.facts.now)
        states = world.states()
        assert {name: states.get(name) for name in row.after} == dict(row.after)
    return actions
