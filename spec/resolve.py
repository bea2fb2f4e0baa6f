"""From the file's shape to the resolved Project: templates merged, references checked.

What must hold afterwards: names are unique per kind, no two data sets share a directory
and none is the project file (see places), every ``taskRef`` and ``fromTemplate`` names
something in this project, every data set a task consumes from this project is declared,
every data set's producer has an executor, and no data set depends on itself.
Each violation is a ``LocatedProblem`` naming the node at fault; all of them are raised
together. What refers to a task that has problems of its own says nothing more, so that
one mistake is one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from spec.document import (
    DocExecutor,
    MlflowExecutor,
    ProducerDoc,
    ProjectDoc,
    RefDoc,
    TaskBodyDoc,
    TemplateDoc,
)
from spec.executor_kinds import tag_list
from spec.locate import LocatedProblem, LocatedProblems
from spec.model import DataSet, EnvVar, Project, Resources, Task
from spec.places import shared_places
from spec.yaml_nodes import NodePath

_BODY_FIELDS = ("executor", "env", "resources", "data_sets", "triggers", "secrets")
_LISTED_NAMES = 10


def _listing(names: list[str]) -> str:
    """Names for a message, a few at most, so that a big project still gives one short line."""
    if not names:
        return "none"
    shown = ", ".join(names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"{shown}, and {more} more" if more > 0 else shown


@dataclass
class _Context:
    """What resolving one project needs at every step, and what it found wrong."""

    project: str
    declared: set[str]
    templates: dict[str, TemplateDoc]
    tasks: dict[str, Task] = field(default_factory=dict)
    # Tasks whose own problems are reported already: what refers to them says nothing more.
    broken: set[str] = field(default_factory=set)
    # Tasks whose executor is one amed cannot run (and so has none).
    unrunnable: set[str] = field(default_factory=set)
    problems: list[LocatedProblem] = field(default_factory=list)
    # What the file asks for that amed leaves aside here, told as warnings.
    warnings: list[LocatedProblem] = field(default_factory=list)


def resolve(doc: ProjectDoc, file: str) -> tuple[Project, list[LocatedProblem]]:
    """The resolved project, and what it leaves aside (a template of another project) as
    warnings; raises LocatedProblems with every problem found."""
    problems = [
        *_unique_names("task", [task.name for task in doc.tasks], "tasks"),
        *_unique_names("template", [template.name for template in doc.templates], "templates"),
        *_unique_names("data set", [data_set.name for data_set in doc.data_sets], "dataSets"),
        *shared_places([(data_set.name, data_set.path) for data_set in doc.data_sets], file),
    ]
    context = _Context(
        project=doc.name,
        declared={data_set.name for data_set in doc.data_sets},
        templates={template.name: template for template in doc.templates},
        problems=problems,
    )
    for i, template_doc in enumerate(doc.templates):
        problems += _body_problems(template_doc, ("templates", i), context)

    for i, task_doc in enumerate(doc.tasks):
        found = _body_problems(task_doc, ("tasks", i), context)
        template = _template(task_doc.from_template, ("tasks", i), context, found)
        if found:
            problems += found
            context.broken.add(task_doc.name)
        if isinstance(_written_executor(task_doc, template), MlflowExecutor):
            context.unrunnable.add(task_doc.name)
        context.tasks[task_doc.name] = _merge(task_doc.name, task_doc, template, doc.name)

    data_sets: list[DataSet] = []
    for i, data_set in enumerate(doc.data_sets):
        resolved = _producer(data_set.task, data_set.name, ("dataSets", i, "task"), context)
        if resolved is None:
            continue
        producer, task_ref = resolved
        # Unset optional fields are left out, not passed as None: pydantic keeps a set of the
        # fields given per model, and one of five names takes 728 bytes against 216 for three
        # (~5 MB over 10,000 data sets).
        optional = {"size_bytes": data_set.size, "task_ref": task_ref}
        data_sets.append(
            DataSet(
                name=data_set.name,
                path=data_set.path,
                producer=producer,
                **{key: value for key, value in optional.items() if value is not None},
            )
        )
    problems += _cycles(doc.name, data_sets)
    if problems:
        raise LocatedProblems(problems)
    project = Project(
        name=doc.name, tasks=tuple(context.tasks.values()), data_sets=tuple(data_sets), file=file
    )
    return project, context.warnings


def _unique_names(kind: str, names: Sequence[str], section: str) -> list[LocatedProblem]:
    first: dict[str, int] = {}
    found: list[LocatedProblem] = []
    for i, name in enumerate(names):
        if name in first:
            found.append(
                LocatedProblem(
                    (section, i, "name"),
                    f"duplicate {kind} name '{name}' (also {section}[{first[name]}]);"
                    " names must be unique",
                )
            )
        else:
            first[name] = i
    return found


def _body_problems(body: TaskBodyDoc, at: NodePath, context: _Context) -> list[LocatedProblem]:
    found: list[LocatedProblem] = []
    seen: set[str] = set()
    for j, env in enumerate(body.env):
        if env.key in seen:
            found.append(
                LocatedProblem((*at, "env", j), f"'{env.key}' is set twice in env; keep one")
            )
        seen.add(env.key)
    for j, ref in enumerate(body.data_sets):
        if ref.project in (None, context.project) and ref.name not in context.declared:
            known = _listing(sorted(context.declared))
            found.append(
                LocatedProblem(
                    (*at, "dataSets", j),
                    f"data set '{ref.name}' is not declared in this project (declared: {known})",
                )
            )
    return found


def _written_executor(own: TaskBodyDoc, template: TemplateDoc | None) -> DocExecutor | None:
    if "executor" in own.model_fields_set or template is None:
        return own.executor
    return template.executor


def _template(
    ref: RefDoc | None, at: NodePath, context: _Context, found: list[LocatedProblem]
) -> TemplateDoc | None:
    if ref is None:
        return None
    where: NodePath = (*at, "fromTemplate")
    if ref.project not in (None, context.project):
        # AME shares templates between projects; amed reads one project, so the task keeps
        # only its own fields (and, with no executor of its own, is not run).
        context.warnings.append(
            LocatedProblem(
                where,
                f"amed ignores a template of another project ('{ref.project}'): it reads "
                "one project, so the task has only its own fields",
            )
        )
        return None
    if ref.name not in context.templates:
        known = _listing(sorted(context.templates))
        found.append(LocatedProblem(where, f"no template named '{ref.name}' (templates: {known})"))
        return None
    return context.templates[ref.name]


def _merge(name: str, own: TaskBodyDoc, template: TemplateDoc | None, project: str) -> Task:
    """The task's own fields win; ``resources`` and ``env`` are merged key by key.

    A consumed data set of this very project is given with ``project=None``, however the
    file wrote it, so that None always means "this project".
    """
    values: dict[str, object] = {}
    for key in _BODY_FIELDS:
        mine = key in own.model_fields_set
        theirs = template is not None and key in template.model_fields_set
        if mine:
            values[key] = getattr(own, key)
        elif theirs:
            values[key] = getattr(template, key)
    if isinstance(values.get("executor"), MlflowExecutor):
        del values["executor"]  # read as AME's, but amed has nothing to run it with
    if template is not None and "resources" in own.model_fields_set:
        values["resources"] = _merge_resources(template.resources, own.resources)
    if template is not None and "env" in own.model_fields_set:
        values["env"] = _merge_env(template.env, own.env)
    refs = values.get("data_sets", ())
    if isinstance(refs, tuple):
        values["data_sets"] = tuple(
            ref.model_copy(update={"project": None}) if ref.project == project else ref
            for ref in refs
        )
    return Task.model_validate({"name": name, **values})


def _merge_resources(template: Resources | None, own: Resources | None) -> Resources | None:
    if template is None or own is None:
        return own
    return template.model_copy(update={key: getattr(own, key) for key in own.model_fields_set})


def _merge_env(template: tuple[EnvVar, ...], own: tuple[EnvVar, ...]) -> tuple[EnvVar, ...]:
    merged = {env.key: env for env in template}
    merged.update({env.key: env for env in own})
    return tuple(merged.values())


def _producer(
    task: ProducerDoc, data_set: str, at: NodePath, context: _Context
) -> tuple[Task, str | None] | None:
    """The data set's producer and the name of the task it refers to (if it does); None
    when something is wrong, which is then in ``context.problems``."""
    if task.task_ref is not None:
        where: NodePath = (*at, "taskRef")
        ref = task.task_ref
        if ref.project not in (None, context.project):
            context.problems.append(
                LocatedProblem(where, "taskRef to another project is not supported")
            )
            return None
        if ref.name in context.broken:
            return None
        if ref.name not in context.tasks:
            known = _listing(list(context.tasks))
            context.problems.append(
                LocatedProblem(where, f"no task named '{ref.name}' (tasks: {known})")
            )
            return None
        producer = context.tasks[ref.name]
        if producer.executor is None:
            has = (
                f"an !mlflow executor, which amed cannot run; give it one of {tag_list()}"
                if ref.name in context.unrunnable
                else "no executor; give it one, e.g. executor: !custom {command: ...}"
            )
            context.problems.append(
                LocatedProblem(
                    where, f"task '{ref.name}' produces data set '{data_set}' but has {has}"
                )
            )
            return None
        return producer, ref.name
    found = _body_problems(task, at, context)
    template = _template(task.from_template, at, context, found)
    if found:
        context.problems += found
        return None
    producer = _merge(task.name or data_set, task, template, context.project)
    if producer.executor is None:
        if isinstance(_written_executor(task, template), MlflowExecutor):
            message = (
                f"the task that produces '{data_set}' has an !mlflow executor, which amed"
                f" cannot run; use one of {tag_list()}"
            )
        else:
            message = (
                f"the task that produces '{data_set}' has no executor; add one, e.g."
                " executor: !custom {command: ...}, or use taskRef"
            )
        context.problems.append(LocatedProblem(at, message))
        return None
    return producer, None


def _cycles(project: str, data_sets: list[DataSet]) -> list[LocatedProblem]:
    """A data set whose producer needs it (directly or through others) can never be made.

    Only data sets that need another are in the graph: one that needs none is on no cycle,
    and most projects have no such edges at all (a sorter over 10,000 nodes that cannot
    hold a cycle was a tenth of loading such a file)."""
    graph = {
        d.name: needs
        for d in data_sets
        if (needs := [r.name for r in d.producer.data_sets if r.project in (None, project)])
    }
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle: list[str] = list(reversed(error.args[1]))
        index = next(i for i, d in enumerate(data_sets) if d.name == cycle[0])
        return [
            LocatedProblem(
                ("dataSets", index),
                f"data set '{cycle[0]}' depends on itself: {' -> '.join(cycle)}",
            )
        ]
    return []
