"""The shape of an ame.yaml as written, before templates and task references are resolved.

These models validate the file (with camelCase keys) and are the source of the JSON Schema.
``resolve`` turns a valid ``ProjectDoc`` into the ``Project`` the rest of amed uses.

The file is AME's project format (its ``ProjectCfg``, read by serde with camelCase keys), so
every key AME defines is valid here, checked as strictly as the keys amed acts on: a typo
inside a part amed ignores is still a typo. What amed does not act on is named in each
model's ``spec_ignored`` (or, for a whole value, ``spec_ignored_whole``) and becomes one
warning per key written (see spec.ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from spec.fields import Count, Flag, Name, RelativePath, SizeBytes, Text, VersionText
from spec.model import (
    CustomExecutor,
    DataSetRef,
    EnvVar,
    PipEnvExecutor,
    PipExecutor,
    PoetryExecutor,
    Resources,
    Secret,
    Triggers,
)
from spec.strict import SpecModel

# AME's key first: its ProjectCfg has `name`; `projectname` is AME's older spelling.
PROJECT_NAME_KEYS = ("name", "projectname", "project")
UNDER_TASK_HINT = "is not valid here; did you mean to put it under 'task:'?"
# AME's own test projects write an empty `data_sets:` next to `dataSets`; serde reads only
# `dataSets` and passes over the other, so an empty one means nothing and a full one is lost.
UNREAD_DATA_SETS_KEY = "data_sets"


class MlflowExecutor(SpecModel):
    """``!mlflow``: an MLflow project, which AME runs and amed cannot."""

    spec_kind: ClassVar[str] = "an !mlflow executor"
    spec_ignored_whole: ClassVar[str] = (
        "amed ignores the !mlflow executor: it cannot run MLflow projects"
    )
    type: Literal["mlflow"] = "mlflow"
    # AME's format gives !mlflow no fields; its documentation shows these two.
    python_version: VersionText | None = Field(default=None, alias="pythonVersion")
    command: Text | None = None


DocExecutor = Annotated[
    CustomExecutor | PipExecutor | PoetryExecutor | PipEnvExecutor | MlflowExecutor,
    Field(discriminator="type"),
]


class ArtifactCfgDoc(SpecModel):
    """AME's ``artifactCfg``: files of a task's run that AME saves."""

    spec_kind: ClassVar[str] = "an artifactCfg"
    save_changed_files: Flag | None = Field(default=None, alias="saveChangedFiles")
    paths: tuple[Text, ...] = ()


class RefDoc(SpecModel):
    """``fetch_mnist`` or ``{name: fetch_mnist, project: mnist_project}``."""

    spec_kind: ClassVar[str] = "a reference"
    name: Name
    project: Name | None = None

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


_RESOURCES_IGNORED = "amed ignores 'resources': its tasks run with what the machine has"
_ARTIFACTS_IGNORED = "amed ignores 'artifactCfg': it stores data sets, not a run's artifacts"


class TaskBodyDoc(SpecModel):
    """What tasks, templates and inline tasks have in common."""

    spec_ignored: ClassVar[dict[str, str]] = {
        "resources": _RESOURCES_IGNORED,
        "artifact_cfg": _ARTIFACTS_IGNORED,
    }
    executor: DocExecutor | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    data_sets: tuple[DataSetRef, ...] = Field(default=(), alias="dataSets")
    triggers: Triggers | None = None
    secrets: tuple[Secret, ...] = ()
    artifact_cfg: ArtifactCfgDoc | None = Field(default=None, alias="artifactCfg")


TASK_BODY_KEYS = (
    "executor",
    "env",
    "resources",
    "dataSets",
    "triggers",
    "secrets",
    "artifactCfg",
)


class TemplateDoc(TaskBodyDoc):
    """A named set of task fields that tasks pull in with ``fromTemplate``."""

    spec_kind: ClassVar[str] = "a template"
    spec_ignored: ClassVar[dict[str, str]] = {
        **TaskBodyDoc.spec_ignored,
        "from_template": "amed ignores 'fromTemplate' in a template: templates do not build"
        " on each other",
        "task_ref": "amed ignores 'taskRef' in a template",
    }
    name: Name
    from_template: RefDoc | None = Field(default=None, alias="fromTemplate")
    task_ref: RefDoc | None = Field(default=None, alias="taskRef")


class TaskDoc(TaskBodyDoc):
    """A project task; fields it sets win over its template's."""

    spec_kind: ClassVar[str] = "a task"
    spec_ignored: ClassVar[dict[str, str]] = {
        **TaskBodyDoc.spec_ignored,
        "task_ref": "amed ignores 'taskRef' on a project task; it follows 'taskRef' only in"
        " a data set's task",
    }
    name: Name
    from_template: RefDoc | None = Field(default=None, alias="fromTemplate")
    task_ref: RefDoc | None = Field(default=None, alias="taskRef")


class ProducerDoc(TaskBodyDoc):
    """A data set's ``task:``: either ``taskRef`` alone, or an inline task."""

    spec_kind: ClassVar[str] = "a data set's task"
    spec_ignored: ClassVar[dict[str, str]] = {
        **TaskBodyDoc.spec_ignored,
        "triggers": "amed ignores 'triggers' on a data set's task: a data set is produced"
        " when it is missing or out of date",
    }
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
    def spec_findings(cls, data: dict[str, Any]) -> Iterable[tuple[str, str]]:
        if "taskRef" not in data:
            return []
        return [
            (
                f"'{key}' cannot be combined with 'taskRef': a task is either a"
                " reference or written inline",
                str(key),
            )
            for key in data
            if key != "taskRef"
        ]


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
        if cls._belongs_under_task(key):
            return f"'{key}' {UNDER_TASK_HINT}"
        return super().spec_unknown_key(key, known)

    @classmethod
    def spec_suggestion(cls, key: str, known: list[str]) -> str | None:
        return "task" if cls._belongs_under_task(key) else super().spec_suggestion(key, known)

    @staticmethod
    def _belongs_under_task(key: str) -> bool:
        return key in ("taskRef", "fromTemplate") or key in TASK_BODY_KEYS


class AnyTaskDoc(TaskBodyDoc):
    """A task as AME's ``TaskCfg`` allows it anywhere: inside a model, where amed reads
    only its shape."""

    spec_kind: ClassVar[str] = "a task"
    name: Name | None = None
    from_template: RefDoc | None = Field(default=None, alias="fromTemplate")
    task_ref: RefDoc | None = Field(default=None, alias="taskRef")


class TrainingDoc(SpecModel):
    spec_kind: ClassVar[str] = "a model's training"
    task: AnyTaskDoc


class DeploymentDoc(SpecModel):
    spec_kind: ClassVar[str] = "a model's deployment"
    ingress_annotations: dict[str, Text] = Field(default_factory=dict, alias="ingressAnnotations")
    replicas: Count | None = None
    image: Text | None = None
    resources: dict[str, Text] = Field(default_factory=dict)
    enable_tls: Flag | None = Field(default=None, alias="enableTls")


class ModelDoc(SpecModel):
    """An AME model: trained, validated and deployed by AME, never by amed."""

    spec_kind: ClassVar[str] = "a model"
    name: Name
    validation_task: AnyTaskDoc | None = Field(default=None, alias="validationTask")
    training: TrainingDoc | None = None
    deployment: DeploymentDoc | None = None


class ProjectDoc(SpecModel):
    spec_kind: ClassVar[str] = "the project"
    spec_ignored: ClassVar[dict[str, str]] = {
        "models": "amed ignores 'models': AME trains and deploys models, amed keeps data sets",
        "enable_triggers": "amed ignores 'enableTriggers': it runs every task's triggers",
    }
    name: Name = Field(validation_alias=AliasChoices(*PROJECT_NAME_KEYS))
    tasks: tuple[TaskDoc, ...] = ()
    templates: tuple[TemplateDoc, ...] = ()
    data_sets: tuple[DataSetDoc, ...] = Field(default=(), alias="dataSets")
    models: tuple[ModelDoc, ...] = ()
    enable_triggers: Flag | None = Field(default=None, alias="enableTriggers")

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get(UNREAD_DATA_SETS_KEY, "given") in (None, []):
            return {key: value for key, value in data.items() if key != UNREAD_DATA_SETS_KEY}
        return data

    @classmethod
    def spec_findings(cls, data: dict[str, Any]) -> Iterable[tuple[str, str]]:
        given = [key for key in data if key in PROJECT_NAME_KEYS]
        return [
            (f"'{key}' and '{given[0]}' both name the project; keep one", key) for key in given[1:]
        ]

    @classmethod
    def spec_unknown_key(cls, key: str, known: list[str]) -> str:
        if key == UNREAD_DATA_SETS_KEY:
            return (
                f"'{key}' is not read by AME (it reads 'dataSets'), so these data sets would"
                " be lost; did you mean 'dataSets'?"
            )
        return super().spec_unknown_key(key, known)
