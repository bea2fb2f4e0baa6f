"""What an ame.yaml declares, resolved: the models the rest of amed codes against.

All models are frozen. Attributes are snake_case; the camelCase names of the file are the
aliases (``python_version`` is ``pythonVersion``), and Python code may use either.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, AliasChoices, ConfigDict, Field, model_validator

from spec.errors import Problem
from spec.fields import (
    Bytes,
    Cores,
    Count,
    EnvKey,
    Name,
    NonEmptyText,
    RelativePath,
    SizeBytes,
    Text,
    VersionText,
)
from spec.quantity import parse_count
from spec.strict import SpecModel, problem

# AME's serde form of a secret, `- ame: {...}`; also the step the locator takes into it.
SECRET_VARIANT = "ame"
# Kubernetes' extended resources: a domain, a slash and a name (`nvidia.com/gpu`).
EXTENDED_RESOURCE_PATTERN = (
    r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)
_EXTENDED_RESOURCE = re.compile(EXTENDED_RESOURCE_PATTERN)

# Bump when what spec_hash covers changes, so every stored version is seen as changed once.
SPEC_HASH_FORMAT = 1


class CustomExecutor(SpecModel):
    """``!custom {command}``: run the command as it is.

    ``pythonVersion`` is AME's (its image has that Python); amed runs the command with what
    the machine has, so the field is read, warned about, and left out of every dump (and
    so of ``spec_hash``: it changes nothing amed produces).
    """

    spec_kind: ClassVar[str] = "a !custom executor"
    spec_ignored: ClassVar[dict[str, str]] = {
        "python_version": "amed ignores 'pythonVersion' for !custom: the command runs as it is"
    }
    type: Literal["custom"] = "custom"
    command: NonEmptyText
    python_version: VersionText | None = Field(default=None, alias="pythonVersion", exclude=True)


class PipExecutor(SpecModel):
    """``!pip {pythonVersion, command}``: a virtualenv from requirements.txt."""

    spec_kind: ClassVar[str] = "a !pip executor"
    type: Literal["pip"] = "pip"
    command: NonEmptyText
    python_version: VersionText | None = Field(default=None, alias="pythonVersion")


class PoetryExecutor(SpecModel):
    """``!poetry {pythonVersion, command}``: the project's poetry environment."""

    spec_kind: ClassVar[str] = "a !poetry executor"
    type: Literal["poetry"] = "poetry"
    command: NonEmptyText
    python_version: VersionText | None = Field(default=None, alias="pythonVersion")


class PipEnvExecutor(SpecModel):
    """``!pipEnv {command}``: the project's Pipfile environment."""

    spec_kind: ClassVar[str] = "a !pipEnv executor"
    type: Literal["pipEnv"] = "pipEnv"
    command: NonEmptyText


# One model per name in spec.executor_kinds.EXECUTOR_TYPES, in its order (a test checks).
Executor = CustomExecutor | PipExecutor | PoetryExecutor | PipEnvExecutor
TaggedExecutor = Annotated[Executor, Field(discriminator="type")]


class EnvVar(SpecModel):
    """An environment variable for a task: ``{key, val}``, or ``{name, value}`` as AME allows."""

    spec_kind: ClassVar[str] = "an env entry"
    key: EnvKey = Field(validation_alias=AliasChoices("key", "name"))
    val: Text = Field(validation_alias=AliasChoices("val", "value"))

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for main, other in (("key", "name"), ("val", "value")):
            if main in data and other in data:
                raise problem(f"use '{main}' or '{other}', not both", key=other)
        for main, other in (("key", "name"), ("val", "value")):
            if main not in data and other not in data:
                raise problem(f"missing required key '{main}' (or '{other}')")
        return data


class Resources(SpecModel):
    """What a task asks for. ``cpu`` in cores (``"500m"`` is 0.5), sizes in bytes.

    AME hands these to Kubernetes, which also takes extended resources named
    ``<domain>/<name>`` (whole numbers); those are accepted as such and kept as extras.
    """

    model_config = ConfigDict(extra="allow")
    spec_kind: ClassVar[str] = "resources"
    cpu: Cores | None = None
    memory_bytes: Bytes | None = Field(default=None, alias="memory")
    storage_bytes: Bytes | None = Field(default=None, alias="storage")
    ephemeral_storage_bytes: Bytes | None = Field(default=None, alias="ephemeral-storage")
    gpu: Count | None = Field(default=None, alias="nvidia.com/gpu")
    gpus: Count | None = None

    @classmethod
    def spec_accepts(cls, key: str) -> bool:
        return _EXTENDED_RESOURCE.fullmatch(key) is not None

    @classmethod
    def spec_unknown_key(cls, key: str, known: list[str]) -> str:
        return (
            f"{super().spec_unknown_key(key, known)}; other resources are written"
            " <domain>/<name>, e.g. example.com/fpga"
        )

    @model_validator(mode="after")
    def _whole_extended_resources(self) -> Resources:
        extra = self.__pydantic_extra__ or {}
        for key, value in extra.items():
            try:
                extra[key] = parse_count(value)
            except ValueError as error:
                raise problem(f"'{key}': {error}", key=key) from None
        return self


class DataSetRef(SpecModel):
    """A data set a task consumes: ``mnist``, ``{ref: {name, project}}`` or ``{name, project}``."""

    spec_kind: ClassVar[str] = "a data set reference"
    name: Name
    project: Name | None = None

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if isinstance(data, dict) and "ref" in data:
            for key in data:
                if key != "ref":
                    raise problem(
                        f"'{key}' is not valid next to 'ref'; put it inside 'ref'", key=str(key)
                    )
            return data["ref"]
        return data


class Secret(SpecModel):
    """An AME secret, given to the task as an environment variable: ``!ame {key, injectAs}``
    as AME documents it, or ``ame: {key, injectAs}`` as AME's serde reads it (a flattened
    enum); both name the same secret."""

    spec_kind: ClassVar[str] = "an !ame secret"
    type: Literal["ame"] = "ame"
    key: Name  # a file name under the credentials directory: no '/' or '..'
    inject_as: EnvKey = Field(alias="injectAs")

    @classmethod
    def spec_normalize(cls, data: Any) -> Any:
        if not isinstance(data, dict) or SECRET_VARIANT not in data:
            return data
        for key in data:
            if key != SECRET_VARIANT:
                raise problem(
                    f"'{key}' is not valid next to '{SECRET_VARIANT}'; put it inside"
                    f" '{SECRET_VARIANT}'",
                    key=str(key),
                )
        inner = data[SECRET_VARIANT]
        if not isinstance(inner, dict):
            raise problem(
                f"'{SECRET_VARIANT}' needs a mapping, e.g. {SECRET_VARIANT}: {{key: k,"
                " injectAs: K}",
                key=SECRET_VARIANT,
            )
        return {"type": "ame", **inner}


def _cron(text: str) -> str:
    """Five cron fields, evaluated in UTC."""
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise problem(f"{text!r} is not a cron schedule ({exc}); e.g. '0 3 * * *'") from None
    return text


CronText = Annotated[NonEmptyText, AfterValidator(_cron)]


class Triggers(SpecModel):
    """When a task runs on its own; ``schedule`` is a cron expression."""

    spec_kind: ClassVar[str] = "triggers"
    schedule: CronText | None = None


class Task(SpecModel):
    """A task after its template was merged in."""

    spec_kind: ClassVar[str] = "a task"
    name: Name
    executor: TaggedExecutor | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    data_sets: tuple[DataSetRef, ...] = Field(default=(), alias="dataSets")
    triggers: Triggers | None = None
    secrets: tuple[Secret, ...] = ()


class DataSet(SpecModel):
    """A data set and the task that produces it.

    ``producer`` is resolved: the inline task, or the project task that ``task_ref`` names,
    with its template merged in. ``path`` is relative to the project directory, normalized.
    """

    spec_kind: ClassVar[str] = "a data set"
    name: Name
    path: RelativePath
    size_bytes: SizeBytes | None = None
    producer: Task
    task_ref: str | None = None

    @cached_property
    def spec_hash(self) -> str:
        """Changes exactly when what determines the produced data changes.

        Covered: ``path``, the producer's executor (every field) and env. Not covered: the
        size, names, resources, triggers, secrets, and anything about how the file is written.
        """
        executor = self.producer.executor
        canonical = {
            "format": SPEC_HASH_FORMAT,
            "path": self.path,
            "executor": executor.model_dump(mode="json") if executor is not None else None,
            "env": sorted([env.key, env.val] for env in self.producer.env),
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Project(SpecModel):
    """A loaded ame.yaml. ``file`` is the absolute path it was read from (or the name given).

    ``warning_problems`` are what is valid but most likely not meant, or not acted on by
    amed; they travel with the project so that every reader of the file (``ame validate``,
    the daemon) can show them without loading it again.
    """

    spec_kind: ClassVar[str] = "a project"
    name: Name
    tasks: tuple[Task, ...] = ()
    data_sets: tuple[DataSet, ...] = ()
    file: str = "ame.yaml"
    warning_problems: tuple[Problem, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """The warnings as located lines, ``ame.yaml:5:11: warning: ...``, in file order."""
        return tuple(str(problem) for problem in self.warning_problems)

    def data_set(self, name: str) -> DataSet | None:
        return next((data_set for data_set in self.data_sets if data_set.name == name), None)

    def task(self, name: str) -> Task | None:
        return next((task for task in self.tasks if task.name == name), None)
