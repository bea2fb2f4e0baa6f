"""The shape of an ame.yaml as written, before templates and task references are resolved.

These models validate the file (with camelCase keys) and are the source of the JSON Schema.
``resolve`` turns a valid ``ProjectDoc`` into the ``Project`` the rest of amed uses.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import (
    AliasChoices,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from spec.fields import Name, RelativePath, SizeBytes
from spec.model import (
    DataSetRef,
    EnvVar,
    Resources,
    Secret,
    TaggedExecutor,
    Triggers,
)
from spec.strict import SpecModel, problem

PROJECT_NAME_KEYS = ("projectname", "name", "project")
# AME knows these; amed does not act on them, and should say so rather than "unknown key".
UNSUPPORTED_PROJECT_KEYS = {"models": "AME models are not supported by amed"}
UNDER_TASK_HINT = "is not valid here; did you mean to put it under 'task:'?"


class RefDoc(SpecModel):
    """``fetch_mnist`` or ``{name: fetch_mnist, project: mnist_project}``."""

    spec_kind: ClassVar[str] = "a reference"
    name: Name
    project: Name | None = None

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class TaskBodyDoc(SpecModel):
    """What tasks, templates and inline tasks have in common."""

    executor: TaggedExecutor | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    data_sets: tuple[DataSetRef, ...] = Field(default=(), alias="dataSets")
    triggers: Triggers | None = None
    secrets: tuple[Secret, ...] = ()


TASK_BODY_KEYS = ("executor", "env", "resources", "dataSets", "triggers", "secrets")


class TemplateDoc(TaskBodyDoc):
    """A named set of task fields that tasks pull in with ``fromTemplate``."""

    spec_kind: ClassVar[str] = "a template"
    name: Name


class TaskDoc(TaskBodyDoc):
    """A project task; fields it sets win over its template's."""

    spec_kind: ClassVar[str] = "a task"
    name: Name
    from_template: RefDoc | None = Field(default=None, alias="fromTemplate")


class ProducerDoc(TaskBodyDoc):
    """A data set's ``task:``: either ``taskRef`` alone, or an inline task."""

    spec_kind: ClassVar[str] = "a data set's task"
    name: Name | None = None
    from_template: RefDoc | None = Field(default=None, alias="fromTemplate")
    task_ref: RefDoc | None = Field(default=None, alias="taskRef")

    @model_validator(mode="wrap")
    @classmethod
    def _shared_reference(
        cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        """Data sets that name their task the same way (``task: {taskRef: train}``) share
        one model: it is frozen, and a model (and its RefDoc) for each of 10,000 data sets
        took ~10 MB while loading."""
        shared = info.context.get("shared") if isinstance(info.context, dict) else None
        key = _reference_key(data) if isinstance(shared, dict) else None
        if shared is None or key is None:
            return handler(data)
        found = shared.get(key)
        if found is None:
            found = shared[key] = handler(data)
        return found

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and "taskRef" in data:
            for key in data:
                if key != "taskRef":
                    raise problem(
                        f"'{key}' cannot be combined with 'taskRef': a task is either a"
                        " reference or written inline",
                        key=str(key),
                    )
        return data


def _reference_key(data: Any) -> tuple[str, str | None] | None:
    """(name, project) of a ``{taskRef: name}`` or ``{taskRef: {name: n, project: p}}``
    written as plain text; None for anything else (an inline task, or a wrong shape that
    must get its own error)."""
    if not isinstance(data, dict) or len(data) != 1:
        return None
    ref = data.get("taskRef")
    if type(ref) is str:
        return (ref, None)
    if isinstance(ref, dict) and set(ref) <= {"name", "project"}:
        name, project = ref.get("name"), ref.get("project")
        if type(name) is str and (project is None or type(project) is str):
            return (name, project)
    return None


class DataSetDoc(SpecModel):
    spec_kind: ClassVar[str] = "a data set"
    name: Name
    path: RelativePath
    size: SizeBytes | None = None
    task: ProducerDoc

    @classmethod
    def spec_unknown_key(cls, key: str, known: list[str]) -> str:
        if key == "taskRef" or key in TASK_BODY_KEYS or key == "fromTemplate":
            return f"'{key}' {UNDER_TASK_HINT}"
        return super().spec_unknown_key(key, known)


class ProjectDoc(SpecModel):
    spec_kind: ClassVar[str] = "the project"
    name: Name = Field(validation_alias=AliasChoices(*PROJECT_NAME_KEYS))
    tasks: tuple[TaskDoc, ...] = ()
    templates: tuple[TemplateDoc, ...] = ()
    data_sets: tuple[DataSetDoc, ...] = Field(default=(), alias="dataSets")

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key, message in UNSUPPORTED_PROJECT_KEYS.items():
            if key in data:
                raise problem(f"'{key}': {message}; remove it", key=key)
        given = [key for key in PROJECT_NAME_KEYS if key in data]
        if not given:
            raise problem("missing required key 'projectname' (the project's name)")
        if len(given) > 1:
            raise problem(
                f"'{given[1]}' and '{given[0]}' both name the project; keep one", key=given[1]
            )
        return data
