"""The loader: positions of every node, AME's tags, and the same answer from both parsers."""

from __future__ import annotations

import pytest
import yaml

from spec import SpecError, load_text
from spec.yaml_errors import syntax_error
from spec.yaml_loader import AmeLoader, read_located
from spec.yaml_nodes import LocatedData, Position
from tests.spec.helpers import BROKEN_FIXTURES, GOOD_PROJECT, yaml_text

EXAMPLE = yaml_text(
    """
    projectname: p
    tasks:
      - name: t
        executor: !pip
          pythonVersion: 3.10
          command: python run.py
        secrets: [!ame {key: k, injectAs: K}]
        env: [{key: N, val: 1}, {key: E, val: ~}]
    """
)


def located(text: str, use_libyaml: bool = True) -> LocatedData:
    result = read_located(text, use_libyaml=use_libyaml)
    assert result is not None
    return result


def test_tags_become_a_type_field_and_scalars_stay_text() -> None:
    data = located(EXAMPLE).data
    task = data["tasks"][0]
    assert task["executor"] == {"type": "pip", "pythonVersion": "3.10", "command": "python run.py"}
    assert task["secrets"] == [{"type": "ame", "key": "k", "injectAs": "K"}]
    assert task["env"] == [{"key": "N", "val": "1"}, {"key": "E", "val": None}]


def test_values_and_keys_are_located_one_based() -> None:
    result = located(EXAMPLE)
    assert result.values[()] == Position(1, 1)
    assert result.values[("tasks", 0)] == Position(3, 5)
    assert result.keys[("tasks", 0, "executor")] == Position(4, 5)
    assert result.values[("tasks", 0, "executor")] == Position(4, 15)
    assert result.values[("tasks", 0, "executor", "pythonVersion")] == Position(5, 22)
    assert result.keys[("tasks", 0, "env", 1, "val")] == Position(8, 38)


@pytest.mark.parametrize(
    "text",
    [EXAMPLE, (GOOD_PROJECT / "ame.yaml").read_text(encoding="utf-8")],
    ids=["example", "good_project"],
)
def test_libyaml_and_pure_python_parsers_agree(text: str) -> None:
    fast, slow = located(text, use_libyaml=True), located(text, use_libyaml=False)
    assert fast.data == slow.data
    assert fast.keys == slow.keys
    assert fast.values == slow.values


def test_both_parsers_place_the_commented_task_error_alike() -> None:
    text = (BROKEN_FIXTURES / "commented_task.yaml").read_text(encoding="utf-8")
    messages = []
    for use_libyaml in (True, False):
        with pytest.raises(yaml.YAMLError) as raised:
            read_located(text, use_libyaml=use_libyaml)
        messages.append(str(syntax_error(raised.value, text, "ame.yaml")))
    assert messages[0] == messages[1]
    assert messages[0].startswith("ame.yaml:5:7: 'taskRef' is not valid here")


def test_merge_keys_give_own_keys_precedence_and_keep_the_sources_positions() -> None:
    result = located("base: &b {a: '1', b: '2'}\nmine:\n  <<: *b\n  b: '3'\n")
    assert result.data["mine"] == {"a": "1", "b": "3"}
    assert result.values[("mine", "a")] == Position(1, 14)
    assert result.values[("mine", "b")] == Position(4, 6)


def test_non_text_keys_are_refused() -> None:
    with pytest.raises(SpecError, match="a key must be plain text") as raised:
        read_located("? [a, b]\n: value\n")
    assert (raised.value.line, raised.value.column) == (1, 3)


@pytest.mark.parametrize("use_libyaml", [True, False], ids=["libyaml", "pure_python"])
def test_duplicate_keys_are_refused_at_the_second(use_libyaml: bool) -> None:
    with pytest.raises(SpecError, match="duplicate key 'a'") as raised:
        read_located("a: 1\na: 2\n", use_libyaml=use_libyaml)
    assert (raised.value.line, raised.value.column) == (2, 1)


def test_yaml_load_cannot_use_the_loader() -> None:
    """No composer and no constructor: data is built by `read_located` alone, under its
    limits, and never as Python objects a tag asks for."""
    with pytest.raises(AttributeError):
        yaml.load("a: 1\n", Loader=AmeLoader)


ANCHORED = yaml_text(
    """
    defaults: &d
      cpu: "1"
      env: [{key: A, val: "1"}]
    seq_merge:
      <<: [*d, {cpu: "2", gpu: "1"}]
      own: x
    copy: *d
    &k name: *k
    """
)


@pytest.mark.parametrize("use_libyaml", [True, False], ids=["libyaml", "pure_python"])
def test_without_positions_the_data_is_the_same(use_libyaml: bool) -> None:
    for text in (EXAMPLE, ANCHORED, (GOOD_PROJECT / "ame.yaml").read_text(encoding="utf-8")):
        bare = read_located(text, use_libyaml=use_libyaml, positions=False)
        assert bare is not None
        assert bare.data == located(text, use_libyaml).data
        assert bare.values == {} and bare.keys == {}


def test_an_alias_places_its_values_where_the_anchor_wrote_them() -> None:
    result = located(ANCHORED)
    assert result.data["copy"] == {"cpu": "1", "env": [{"key": "A", "val": "1"}]}
    assert result.values[("copy",)] == Position(1, 11)
    assert result.values[("copy", "env", 0, "val")] == result.values[("defaults", "env", 0, "val")]
    assert result.keys[("copy", "cpu")] == Position(2, 3)


def test_a_list_of_merge_sources_gives_earlier_sources_precedence() -> None:
    result = located(ANCHORED)
    assert result.data["seq_merge"] == {
        "own": "x",
        "cpu": "1",
        "env": [{"key": "A", "val": "1"}],
        "gpu": "1",
    }
    assert result.keys[("seq_merge", "gpu")] == Position(5, 23)
    assert result.values[("seq_merge", "cpu")] == Position(2, 8)
    assert not any("<<" in path for path in [*result.values, *result.keys])


def test_an_anchored_key_can_be_used_as_a_value() -> None:
    assert located(ANCHORED).data["name"] == "name"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor 'x'"),
        ("a: *nowhere\n", "found undefined alias 'nowhere'"),
        ("a: 1\n---\nb: 2\n", "expected a single document in the stream"),
    ],
)
def test_composer_errors_are_yaml_errors(text: str, message: str) -> None:
    for use_libyaml in (True, False):
        with pytest.raises(yaml.YAMLError, match=message):
            read_located(text, use_libyaml=use_libyaml, positions=False)


def test_a_merge_of_a_scalar_is_refused_where_it_is_written() -> None:
    with pytest.raises(SpecError, match="'<<' merges only mappings") as raised:
        read_located("a:\n  <<: [{b: '1'}, plain]\n", positions=False)
    assert (raised.value.line, raised.value.column) == (2, 7)


def test_an_empty_stream_holds_no_document() -> None:
    assert read_located("# only a comment\n", positions=False) is None


def test_an_alias_used_as_a_key_moves_no_position() -> None:
    text = "tasks:\n  - &k name: t\ndataSets:\n  - *k : d\n"
    result = located(text)
    assert result.values[()] == Position(1, 1)
    assert result.data["dataSets"] == [{"name": "d"}]
    with pytest.raises(SpecError) as raised:
        load_text(text)
    assert (raised.value.line, raised.value.column) == (1, 1)


def test_an_alias_bomb_is_refused_before_its_positions_are_copied() -> None:
    """The size check of a node runs once it is done; the copying of positions must stop at
    the alias that goes past the limit, not after every alias of a wide list."""
    lines = ["l0: &l0 [" + ",".join(["x"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 5)]
    lines.append("r: [" + ",".join(["*l4"] * 55) + "]")
    with pytest.raises(SpecError, match="expands to more than") as raised:
        read_located("\n".join(lines) + "\n", positions=True)
    assert raised.value.line == 6
    assert raised.value.column is not None and raised.value.column > 4, "at an alias"
