"""Hostile or broken files: each gives exactly one SpecError with a location, quickly.

Every file under fixtures/broken must fail this way; the table says where and why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spec import SpecError, load_project, load_text
from spec.load import MAX_FILE_BYTES
from spec.yaml_loader import read_located
from spec.yaml_nodes import MAX_ALIASES, MAX_DEPTH, MAX_EXPANDED_NODES
from tests.conftest import Workspace
from tests.spec.helpers import BROKEN_FIXTURES

BROKEN = BROKEN_FIXTURES
ONE_LINE_WITH_LOCATION = re.compile(r"^[^:]+:\d+:\d+: .+")

EXPECTED: dict[str, tuple[str, str]] = {
    # file: (line:column, a phrase of the message)
    "alias_bomb.yaml": ("7:5", "expands to more than"),
    "bad_quantity.yaml": ("8:11", "'5Zi' is not a quantity"),
    "binary.yaml": ("2:1", "looks binary"),
    "commented_task.yaml": ("5:7", "did you mean to put it under 'task:'?"),
    "comments_only.yaml": ("1:1", "the file is empty"),
    "control_char.yaml": ("3:12", "U+001B"),
    "deep_nesting.yaml": ("2:", "nesting is"),
    "duplicate_key.yaml": ("5:5", "duplicate key 'path'"),
    "empty.yaml": ("1:1", "the file is empty"),
    "latin1.yaml": ("3:14", "not UTF-8"),
    "mlflow.yaml": ("6:7", "has an !mlflow executor, which amed cannot run"),
    "python_tag.yaml": ("3:11", "unknown tag '!!python/object/apply:os.system'"),
    "recursive_alias.yaml": ("4:10", "refers to a node that contains it"),
    "scalar_document.yaml": ("1:1", "the top level must be a mapping"),
    "tab_indent.yaml": ("3:1", "a tab cannot indent YAML"),
    "top_level_list.yaml": ("1:1", "the top level must be a mapping"),
    "two_documents.yaml": ("2:1", "more than one YAML document"),
    "utf16.yaml": ("1:1", "UTF-16"),
    # ame.yaml files a user or an attacker could write; each one stops at its first problem.
    "bad_indent.yaml": ("4:4", "did not find expected '-' indicator"),
    "command_is_a_list.yaml": ("4:33", "command: expected text, got a list"),
    "cyclic_task_refs.yaml": ("10:5", "data set 'a' depends on itself: a -> b -> a"),
    "dangling_task_ref.yaml": ("8:21", "no task named 'nowhere'"),
    "datasets_not_a_list.yaml": ("2:11", "dataSets: expected a list, got '7'"),
    "deep_block_nesting.yaml": ("22:43", "nesting is deeper than"),
    "duplicate_data_set_names.yaml": ("9:11", "duplicate data set name 'd'"),
    "duplicate_task_names.yaml": ("5:11", "duplicate task name 't'"),
    "env_is_a_mapping.yaml": ("5:10", "env: expected a list, got a mapping"),
    "gzip.yaml": ("1:4", "looks binary"),
    "name_is_a_list.yaml": ("6:11", "name: expected text, got a list"),
    "name_traversal.yaml": ("6:11", "'../../evil' is not a valid name"),
    "path_absolute.yaml": ("7:11", "'/etc' is absolute"),
    "path_escapes_midway.yaml": ("7:11", "'data/../../../root' leaves the project directory"),
    "path_escapes_project.yaml": ("7:11", "'../../etc' leaves the project directory"),
    "size_huge.yaml": ("8:11", "is too large"),
    "size_is_a_bool.yaml": ("8:11", "'true' is not a quantity"),
    "size_malformed.yaml": ("8:11", "'5 GB' is not a quantity"),
    "size_negative.yaml": ("8:11", "'-5Gi' is negative"),
    "size_thousands_of_digits.yaml": ("8:11", "is too long to be a quantity"),
    "task_ref_and_executor.yaml": ("8:24", "'executor' cannot be combined with 'taskRef'"),
    "unclosed_bracket.yaml": ("4:1", "did not find expected ',' or '}'"),
    "unclosed_quote.yaml": ("3:1", "found unexpected end of stream"),
    "unknown_data_set_key.yaml": ("8:5", "'sizes' is not a valid key for a data set"),
    "unknown_executor_key.yaml": ("4:38", "'shell' is not a valid key for a !custom executor"),
    "unknown_top_level_key.yaml": ("2:1", "did you mean 'dataSets'?"),
}


def test_every_broken_fixture_has_an_expectation() -> None:
    assert sorted(path.name for path in BROKEN.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_gives_one_located_spec_error(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(SpecError) as raised:
        load_project(path)
    text = str(raised.value)
    where, phrase = EXPECTED[name]
    assert ONE_LINE_WITH_LOCATION.match(text), text
    assert "\n" not in text
    assert text.startswith(f"{path}:{where}"), text
    assert phrase in raised.value.message, text


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "ame.yaml"
    big.write_bytes(b"projectname: p\n" + b"# padding padding padding\n" * (2 * 1024 * 1024 // 26))
    assert big.stat().st_size > MAX_FILE_BYTES
    with pytest.raises(SpecError) as raised:
        load_project(big)
    assert str(raised.value).startswith(f"{big}:1:1: the file is 2.0 MiB, more than the 1.0 MiB")


def test_text_over_the_size_limit_is_refused() -> None:
    with pytest.raises(SpecError, match=r"ame.yaml:1:1: the file is 2.0 MiB"):
        load_text("a" * (2 * 1024 * 1024))


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = "projectname: p\n# " + "é" * (MAX_FILE_BYTES // 2) + "\n"
    assert len(text) < MAX_FILE_BYTES < len(text.encode("utf-8"))
    with pytest.raises(SpecError, match=r"more than the 1\.0 MiB"):
        load_text(text)


def test_alias_bomb_fails_while_composing() -> None:
    with pytest.raises(SpecError, match="expands to more than") as raised:
        load_project(BROKEN / "alias_bomb.yaml")
    assert raised.value.line == 7


def test_too_many_aliases_are_refused_at_the_first_one_over() -> None:
    lines = ["projectname: p", "x: &x 1", "many:"]
    lines += ["  - *x"] * (MAX_ALIASES + 1)
    with pytest.raises(SpecError) as raised:
        load_text("\n".join(lines) + "\n")
    assert str(raised.value).startswith(f"ame.yaml:{MAX_ALIASES + 4}:5: too many aliases")


@pytest.mark.parametrize("use_libyaml", [True, False])
def test_deep_block_nesting_is_refused_at_the_limit(use_libyaml: bool) -> None:
    text = "".join(f"{' ' * level}k{level}:\n" for level in range(MAX_DEPTH + 10))
    with pytest.raises(SpecError) as raised:
        read_located(text, use_libyaml=use_libyaml)
    assert raised.value.message == f"nesting is deeper than {MAX_DEPTH} levels"
    assert raised.value.line == MAX_DEPTH


def test_deep_flow_nesting_fails_with_a_location_under_both_parsers() -> None:
    text = "projectname: p\ntasks: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(SpecError) as raised:
        load_text(text)
    assert ONE_LINE_WITH_LOCATION.match(str(raised.value))
    assert "nesting is" in raised.value.message
    with pytest.raises(SpecError, match=f"nesting is deeper than {MAX_DEPTH} levels"):
        read_located(text, use_libyaml=False)


def test_non_utf8_text_given_as_str_is_refused() -> None:
    with pytest.raises(SpecError) as raised:
        load_text("projectname: p\nx: \udce9\n")
    assert str(raised.value).startswith("ame.yaml:2:4: the text is not valid Unicode")


def test_nul_in_text_is_refused_as_binary() -> None:
    with pytest.raises(SpecError) as raised:
        load_text("projectname: p\x00\n")
    assert str(raised.value).startswith("ame.yaml:1:15: the text looks binary")


def test_a_larger_file_loads_once_the_size_limit_is_raised() -> None:
    text = "projectname: p\n" + "# padding padding padding\n" * (3 * 1024 * 1024 // 52)
    with pytest.raises(SpecError, match=r"1\.5 MiB, more than the 1\.0 MiB an ame\.yaml may "):
        load_text(text)
    assert load_text(text, max_bytes=2 * MAX_FILE_BYTES).name == "p"


def test_the_node_limit_scales_with_the_size_limit() -> None:
    flow = "[" + ",".join(["1"] * (MAX_EXPANDED_NODES + 10)) + "]"
    text = f"projectname: p\nlots: {flow}\n"
    assert len(text.encode()) < MAX_FILE_BYTES
    with pytest.raises(SpecError, match=f"expands to more than {MAX_EXPANDED_NODES:,} nodes"):
        load_text(text)
    with pytest.raises(SpecError, match="'lots' is not a valid key"):
        load_text(text, max_bytes=2 * MAX_FILE_BYTES)  # composed: the keys are checked next


def test_a_raised_limit_still_refuses_an_alias_bomb() -> None:
    with pytest.raises(SpecError, match="expands to more than") as raised:
        load_project(BROKEN / "alias_bomb.yaml", max_bytes=16 * MAX_FILE_BYTES)
    assert raised.value.line == 8, "at the first list of more than 16 x 200,000 nodes"


def test_the_daemon_reads_a_file_above_the_default_limit_once_the_setting_allows_it(
    ws: Workspace,
) -> None:
    padding = "# a project's many declarations\n" * (1536 * 1024 // 32)
    ws.write_spec(f"projectname: big\n{padding}tasks: []\ndataSets: []\n")
    refused = ws.once()
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()[-1:]
    assert "more than the 1.0 MiB an ame.yaml may have" in line
    assert "spec.max_size / AME_SPEC_MAX_SIZE" in line
    for command in (("ame", "validate"), ("amed", "run", "--once", "--dry-run")):
        assert ws.run(*command).returncode == 2, command  # the same limit everywhere
    ws.env["AME_SPEC_MAX_SIZE"] = "2Mi"
    accepted = ws.once()
    assert accepted.returncode == 0, accepted.stderr
    for command in (("ame", "validate"), ("amed", "run", "--once", "--dry-run")):
        agreed = ws.run(*command)
        assert agreed.returncode == 0, (command, agreed.stderr)


def test_the_setting_defaults_to_the_loaders_own_limit() -> None:
    from amed.config_checks import SPEC_MAX_BYTES

    assert SPEC_MAX_BYTES == MAX_FILE_BYTES
