"""From the file's shape to the resolved Project: templates merged, references checked.

What must hold afterwards: names are unique per kind, no two data sets share a directory
and none is the project file (see places), every ``taskRef`` and ``fromTemplate`` names
something in this project, every data set a task consumes from this project is declared,
every data set's producer has an executor, and no data set depends on itself.
Each violation is a ``LocatedProblem`` naming the node at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter

from spec.document import ProducerDoc, ProjectDoc, RefDoc, TaskBodyDoc, TemplateDoc
from spec.locate import LocatedProblem
from spec.model import DataSet, EnvVar, Project, Resources, Task
from spec.places import refuse_shared_places
from spec.yaml_loader import NodePath

_BODY_FIELDS = ("executor", "env", "resources", "data_sets", "triggers", "secrets")
_LISTED_NAMES = 10


def _listing(names: list[str]) -> str:
    """Names for a message, a few at most, so that a big project still gives one short line."""
    if not names:
        return "none"
    shown = ", ".join(names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return f"{shown}, and {more} more" if more > 0 else shown


def resolve(doc: ProjectDoc, file: str) -> Project:
    _unique_names("task", [task.name for task in doc.tasks], "tasks")
    _unique_names("template", [template.name for template in doc.templates], "templates")
    _unique_names("data set", [data_set.name for data_set in doc.data_sets], "dataSets")
    refuse_shared_places([(data_set.name, data_set.path) for data_set in doc.data_sets], file)
    declared = {data_set.name for data_set in doc.data_sets}

    for i, template_doc in enumerate(doc.templates):
        _check_body(template_doc, ("templates", i), doc.name, declared)
    templates = {template.name: template for template in doc.templates}

    tasks: dict[str, Task] = {}
    for i, task_doc in enumerate(doc.tasks):
        _check_body(task_doc, ("tasks", i), doc.name, declared)
        template = _template(task_doc.from_template, ("tasks", i), doc.name, templates)
        tasks[task_doc.name] = _merge(task_doc.name, task_doc, template, doc.name)

    data_sets: list[DataSet] = []
    for i, data_set in enumerate(doc.data_sets):
        at: NodePath = ("dataSets", i, "task")
        producer, task_ref = _producer(
            data_set.task, data_set.name, at, doc.name, declared, tasks, templates
        )
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
    _refuse_cycles(doc.name, data_sets)
    return Project(
        name=doc.name, tasks=tuple(tasks.values()), data_sets=tuple(data_sets), file=file
    )


def _unique_names(kind: str, names: Sequence[str], section: str) -> None:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            raise LocatedProblem(
                (section, i, "name"),
                f"duplicate {kind} name '{name}' (also {section}[{first[name]}]);"
                " names must be unique",
            )
        first[name] = i


def _check_body(body: TaskBodyDoc, at: NodePath, project: str, declared: set[str]) -> None:
    seen: set[str] = set()
    for j, env in enumerate(body.env):
        if env.key in seen:
            raise LocatedProblem((*at, "env", j), f"'{env.key}' is set twice in env; keep one")
        seen.add(env.key)
    for j, ref in enumerate(body.data_sets):
        if ref.project in (None, project) and ref.name not in declared:
            known = _listing(sorted(declared))
            raise LocatedProblem(
                (*at, "dataSets", j),
                f"data set '{ref.name}' is not declared in this project (declared: {known})",
            )


def _template(
    ref: RefDoc | None, at: NodePath, project: str, templates: dict[str, TemplateDoc]
) -> TemplateDoc | None:
    if ref is None:
        return None
    where: NodePath = (*at, "fromTemplate")
    if ref.project not in (None, project):
        raise LocatedProblem(where, "fromTemplate to another project is not supported")
    if ref.name not in templates:
        known = _listing(sorted(templates))
        raise LocatedProblem(where, f"no template named '{ref.name}' (templates: {known})")
    return templates[ref.name]


def _merge(name: str, own: TaskBodyDoc, template: TemplateDoc | None, project: str) -> Task:
    """The task's own fields win; ``resources`` and ``env`` are merged key by key.

    A consumed data set of this very project is given with ``project=None``, however the
    file wrote it, so that None always means "this project".
    """
    values: dict[str, object] = {}
    for field in _BODY_FIELDS:
        mine = field in own.model_fields_set
        theirs = template is not None and field in template.model_fields_set
        if mine:
            values[field] = getattr(own, field)
        elif theirs:
            values[field] = getattr(template, field)
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
    task: ProducerDoc,
    data_set: str,
    at: NodePath,
    project: str,
    declared: set[str],
    tasks: dict[str, Task],
    templates: dict[str, TemplateDoc],
) -> tuple[Task, str | None]:
    if task.task_ref is not None:
        where: NodePath = (*at, "taskRef")
        ref = task.task_ref
        if ref.project not in (None, project):
            raise LocatedProblem(where, "taskRef to another project is not supported")
        if ref.name not in tasks:
            known = _listing(list(tasks))
            raise LocatedProblem(where, f"no task named '{ref.name}' (tasks: {known})")
        producer = tasks[ref.name]
        if producer.executor is None:
            raise LocatedProblem(
                where,
                f"task '{ref.name}' produces data set '{data_set}' but has no executor;"
                " give it one, e.g. executor: !custom {command: ...}",
            )
        return producer, ref.name
    _check_body(task, at, project, declared)
    template = _template(task.from_template, at, project, templates)
    producer = _merge(task.name or data_set, task, template, project)
    if producer.executor is None:
        raise LocatedProblem(
            at,
            f"the task that produces '{data_set}' has no executor; add one, e.g."
            " executor: !custom {command: ...}, or use taskRef",
        )
    return producer, None


def _refuse_cycles(project: str, data_sets: list[DataSet]) -> None:
    """A data set whose producer needs it (directly or through others) can never be made."""
    graph = {
        d.name: [r.name for r in d.producer.data_sets if r.project in (None, project)]
        for d in data_sets
    }
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle: list[str] = list(reversed(error.args[1]))
        index = next(i for i, d in enumerate(data_sets) if d.name == cycle[0])
        raise LocatedProblem(
            ("dataSets", index),
            f"data set '{cycle[0]}' depends on itself: {' -> '.join(cycle)}",
        ) from None
