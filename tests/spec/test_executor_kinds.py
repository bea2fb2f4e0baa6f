"""The executor kinds are listed once (spec.executor_kinds); everything else agrees."""

from __future__ import annotations

from typing import get_args

from spec.executor_kinds import EXECUTOR_TAGS, EXECUTOR_TYPES, tag_list
from spec.model import Executor
from spec.schema import json_schema


def test_each_kind_has_one_model_whose_type_is_its_name_in_the_same_order() -> None:
    types = [model.model_fields["type"].default for model in get_args(Executor)]
    assert types == list(EXECUTOR_TYPES)


def test_each_kind_is_written_as_its_name_tagged() -> None:
    assert EXECUTOR_TAGS == {
        "!custom": "custom",
        "!pip": "pip",
        "!poetry": "poetry",
        "!pipEnv": "pipEnv",
    }
    assert tag_list() == "!custom, !pip, !poetry or !pipEnv"


def test_the_schema_requires_the_type_of_every_kind() -> None:
    definitions = json_schema()["$defs"]
    for model in get_args(Executor):
        assert definitions[model.__name__]["required"][0] == "type"
