"""json_schema() is a valid JSON Schema that accepts ame.yaml's plain-data form."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from spec import json_schema
from spec.yaml_loader import read_located
from tests.spec.helpers import GOOD_PROJECT, yaml_text


def plain_data(text: str) -> Any:
    """The file as amed reads it: AME's tags as a `type` field, every scalar as text."""
    located = read_located(text, positions=False)
    return None if located is None else located.data


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_schema_is_json_and_names_the_top_level_keys() -> None:
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"projectname", "name", "project", "tasks", "templates", "dataSets"} <= set(
        schema["properties"]
    )


def test_the_example_project_validates(validator: jsonschema.protocols.Validator) -> None:
    data = plain_data((GOOD_PROJECT / "ame.yaml").read_text(encoding="utf-8"))
    errors = [error.message for error in validator.iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        "tasks: []\n",  # no project name
        "projectname: p\nname: q\n",  # two project names
        "projectname: p\nbogus: 1\n",
        "projectname: p\ndataSets: [{name: d, path: d}]\n",  # no task
        "projectname: p\ntasks: [{name: t, executor: {command: x}}]\n",  # no executor type
        "projectname: p\ntasks: [{name: t, executor: !custom {command: x, extra: 1}}]\n",
        "projectname: p\ntasks: [{name: t, env: [{key: A}]}]\n",
        "projectname: p\ntasks: [{name: t, resources: {memory: 5 Gi}}]\n",
        "projectname: 'a/b'\n",
    ],
)
def test_invalid_files_do_not_validate(
    validator: jsonschema.protocols.Validator, text: str
) -> None:
    assert list(validator.iter_errors(plain_data(yaml_text(text))))


@pytest.mark.parametrize(
    "text",
    [
        "name: p\ntasks: [{name: t, env: [{name: A, value: '1'}]}]\n",
        "project: p\ntasks: [{name: t, dataSets: [a, {ref: {name: a, project: x}}]}]\n",
        "projectname: p\ntasks: [{name: t, resources: {cpu: 0.5, memory: 1073741824}}]\n",
        "projectname: p\ndataSets: [{name: d, path: d, task: {taskRef: t}}]\n",
        "projectname: p\ndataSets: [{name: d, path: d, task: {taskRef: {name: t}}}]\n",
    ],
)
def test_alternative_forms_validate(validator: jsonschema.protocols.Validator, text: str) -> None:
    assert [error.message for error in validator.iter_errors(plain_data(text))] == []
    # As an editor's YAML plugin reads them too: numbers as numbers (no tags in these).
    typed = yaml.safe_load(text)
    assert [error.message for error in validator.iter_errors(typed)] == []
