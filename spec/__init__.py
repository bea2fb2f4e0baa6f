"""The ame.yaml model: loading with locations, quantities and the JSON Schema.

Knows nothing of state, storage or processes. Everything other packages use is here.
"""

from spec.errors import SpecError
from spec.load import load_project, load_text
from spec.model import (
    CustomExecutor,
    DataSet,
    DataSetRef,
    EnvVar,
    Executor,
    PipEnvExecutor,
    PipExecutor,
    PoetryExecutor,
    Project,
    Resources,
    Secret,
    Task,
    Triggers,
)
from spec.quantity import format_bytes, parse_quantity
from spec.schema import json_schema

__all__ = [
    "CustomExecutor",
    "DataSet",
    "DataSetRef",
    "EnvVar",
    "Executor",
    "PipEnvExecutor",
    "PipExecutor",
    "PoetryExecutor",
    "Project",
    "Resources",
    "Secret",
    "SpecError",
    "Task",
    "Triggers",
    "format_bytes",
    "json_schema",
    "load_project",
    "load_text",
    "parse_quantity",
]
