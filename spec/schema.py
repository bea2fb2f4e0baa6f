"""The JSON Schema of ame.yaml, for editors (``ame schema``).

It describes the file's plain-data form: a tagged mapping (``!custom {...}``) is an object
whose ``type`` is the tag's name, as the loader produces it. Pydantic writes most of it;
the forms a model accepts besides its own fields (a bare name for a reference, ``name`` and
``value`` in env, three keys for the project's name, a secret as ``ame: {...}``, an empty
value for a list, extended resources) are added here.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from spec.document import PROJECT_NAME_KEYS, UNREAD_DATA_SETS_KEY, MlflowExecutor, ProjectDoc
from spec.fields import NAME_PATTERN
from spec.model import EXTENDED_RESOURCE_PATTERN, SECRET_VARIANT, Executor

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_TYPED = (*(model.__name__ for model in get_args(Executor)), MlflowExecutor.__name__, "Secret")
"""The models written as a tagged mapping, whose `type` the file must give."""
_NAME = {"type": "string", "pattern": NAME_PATTERN}


def json_schema() -> dict[str, Any]:
    schema = ProjectDoc.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = schema["$defs"]
    for name in _TYPED:
        _require_type(definitions[name])
    definitions["EnvVar"] = _env_forms(definitions["EnvVar"])
    definitions["RefDoc"] = {"anyOf": [_NAME, definitions["RefDoc"]], "title": "Reference"}
    by_name = definitions["DataSetRef"]
    definitions["DataSetRef"] = {
        "title": "Data set reference",
        "description": by_name.get("description", ""),
        "anyOf": [
            _NAME,
            by_name,
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["ref"],
                "properties": {"ref": copy.deepcopy(by_name)},
            },
        ],
    }
    _project_name_forms(schema)
    definitions["Secret"] = {
        "title": "Secret",
        "anyOf": [
            definitions["Secret"],
            {
                "type": "object",
                "additionalProperties": False,
                "required": [SECRET_VARIANT],
                "properties": {SECRET_VARIANT: _untyped(definitions["Secret"])},
            },
        ],
    }
    resources = definitions["Resources"]
    resources["additionalProperties"] = False
    resources["patternProperties"] = {
        f"^{EXTENDED_RESOURCE_PATTERN}$": copy.deepcopy(resources["properties"]["gpus"])
    }
    schema["properties"][UNREAD_DATA_SETS_KEY] = {
        "anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}],
        "description": "Not read by AME (it reads dataSets); only an empty one is accepted.",
    }
    for definition in [schema, *definitions.values()]:
        _lists_may_be_empty(definition)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "AME project (ame.yaml) as amed reads it",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def _require_type(definition: dict[str, Any]) -> None:
    definition["properties"]["type"].pop("default", None)
    definition["required"] = ["type", *definition.get("required", [])]


def _untyped(definition: dict[str, Any]) -> dict[str, Any]:
    inner = copy.deepcopy(definition)
    inner["properties"].pop("type")
    inner["required"] = [key for key in inner["required"] if key != "type"]
    return inner


def _lists_may_be_empty(definition: dict[str, Any]) -> None:
    """`models:` with nothing after it is an empty list (YAML's null), as AME reads it."""
    for name, value in definition.get("properties", {}).items():
        if value.get("type") == "array":
            definition["properties"][name] = {"anyOf": [value, {"type": "null"}]}


def _env_forms(key_val: dict[str, Any]) -> dict[str, Any]:
    name_value = copy.deepcopy(key_val)
    properties = name_value["properties"]
    properties["name"] = properties.pop("key")
    properties["value"] = properties.pop("val")
    name_value["required"] = ["name", "value"]
    return {"title": "Environment variable", "anyOf": [key_val, name_value]}


def _project_name_forms(schema: dict[str, Any]) -> None:
    properties = schema["properties"]
    name_schema = properties[PROJECT_NAME_KEYS[0]]
    for key in PROJECT_NAME_KEYS[1:]:
        properties[key] = copy.deepcopy(name_schema)
    schema["required"] = [key for key in schema.get("required", []) if key not in PROJECT_NAME_KEYS]
    schema["oneOf"] = [{"required": [key]} for key in PROJECT_NAME_KEYS]
