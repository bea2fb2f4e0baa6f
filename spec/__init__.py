"""The ame.yaml model: loading with locations, quantities and the JSON Schema.

Knows nothing of state, storage or processes. Everything other packages use is here.

Names are imported on first use (PEP 562): `ame ds list` needs only `format_bytes` and
`SpecError`, and importing the models (pydantic) and the loader (PyYAML) would cost it about
0.2 s of start-up, more than the listing itself.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE: dict[str, str] = {
    "SpecError": "spec.errors",
    "load_project": "spec.load",
    "load_text": "spec.load",
    "CustomExecutor": "spec.model",
    "DataSet": "spec.model",
    "DataSetRef": "spec.model",
    "EnvVar": "spec.model",
    "Executor": "spec.model",
    "PipEnvExecutor": "spec.model",
    "PipExecutor": "spec.model",
    "PoetryExecutor": "spec.model",
    "Project": "spec.model",
    "Resources": "spec.model",
    "Secret": "spec.model",
    "Task": "spec.model",
    "Triggers": "spec.model",
    "format_bytes": "spec.quantity",
    "parse_quantity": "spec.quantity",
    "json_schema": "spec.schema",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'spec' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
