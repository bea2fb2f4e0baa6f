"""Data sets each get a directory of their own, never the project file, and a size that can
hold something; a size that is valid but surely a slip loads with a located warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spec import DataSet, SpecError, Task, load_project
from tests.spec.helpers import yaml_text

HEAD = "projectname: p\ndataSets:\n"


def entry(name: str, path: str, size: str | None = None) -> str:
    sized = f", size: {size}" if size is not None else ""
    return (
        f"  - {{name: {name}, path: {path}{sized}, task: {{executor: !custom {{command: x}}}}}}\n"
    )


def write(tmp_path: Path, text: str, name: str = "ame.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, name: str = "ame.yaml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(SpecError) as raised:
        load_project(path)
    line = str(raised.value)
    assert line.startswith(f"{path}:"), line
    assert "\n" not in line
    return line.removeprefix(f"{path}:")


@pytest.mark.parametrize(
    ("first", "second"),
    [("./x", "x/"), ("x", "x"), ("data/raw", "./data/./raw/"), ("a/b", "a/c/../b")],
)
def test_two_data_sets_with_the_same_path_are_refused_at_the_second(
    tmp_path: Path, first: str, second: str
) -> None:
    where = load_error(tmp_path, HEAD + entry("a", first) + entry("b", second))
    assert where.startswith("4:21: dataSets[1].path: data set 'b' has the same path as"), where
    assert "data set 'a'" in where
    assert "dataSets[0].path" in where


@pytest.mark.parametrize(
    ("first", "second", "relation"),
    [
        ("data", "data/sub", "is inside"),
        ("./data/", "data/a/b/c", "is inside"),
        ("data/sub", "data", "contains"),
        ("data/a/b", "./data/", "contains"),
    ],
)
def test_overlapping_paths_are_refused_naming_both_data_sets(
    tmp_path: Path, first: str, second: str, relation: str
) -> None:
    where = load_error(tmp_path, HEAD + entry("a", first) + entry("b", second))
    assert where.startswith("4:21: dataSets[1].path: data set 'b' ("), where
    assert f") {relation} data set 'a' (" in where
    assert "directories must not overlap" in where


def test_every_overlap_is_reported_in_file_order(tmp_path: Path) -> None:
    text = HEAD + entry("a", "a") + entry("b", "b") + entry("c", "b/c") + entry("d", "a")
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as raised:
        load_project(path)
    lines = [line.removeprefix(f"{path}:") for line in raised.value.lines]
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        "5:21: dataSets[2].path: data set 'c' ('b/c') is inside data set 'b'"
    )
    assert lines[1].startswith("6:21: dataSets[3].path: data set 'd' has the same path as data set")


def test_paths_that_share_a_prefix_of_characters_but_not_of_segments_load(
    tmp_path: Path,
) -> None:
    text = (
        HEAD
        + entry("raw", "data/raw")
        + entry("processed", "data/processed")
        + entry("other", "data2")
        + entry("raw_copy", "data/raw2")
        + entry("dotted", "data.old")
    )
    project = load_project(write(tmp_path, text))
    assert [d.path for d in project.data_sets] == [
        "data/raw",
        "data/processed",
        "data2",
        "data/raw2",
        "data.old",
    ]
    assert project.warnings == ()


@pytest.mark.parametrize(
    "path", ["ame.yaml", "./ame.yaml", "ame.yml", "sub/../ame.yml", "AME.yaml"]
)
def test_a_data_set_at_the_project_file_is_refused(tmp_path: Path, path: str) -> None:
    where = load_error(tmp_path, HEAD + entry("a", path))
    assert where.startswith("3:21: dataSets[0].path: '"), where
    assert "is the project file; data set 'a' would overwrite it" in where


def test_a_data_set_at_the_name_the_project_file_was_given_is_refused(tmp_path: Path) -> None:
    where = load_error(tmp_path, HEAD + entry("a", "./project.yaml"), name="project.yaml")
    assert where.startswith("3:21: dataSets[0].path: 'project.yaml' is the project file"), where


@pytest.mark.parametrize("path", [".", "./", "data/.."])
def test_a_data_set_at_the_project_directory_which_holds_the_file_is_refused(
    tmp_path: Path, path: str
) -> None:
    where = load_error(tmp_path, HEAD + entry("a", path))
    assert where.startswith("3:21: dataSets[0].path: "), where
    assert "is the project directory itself" in where


@pytest.mark.parametrize("size", ["0", "-0", "0.0", "0Gi", "-0Ki", "0e5", '"0"'])
def test_a_size_of_zero_is_refused(tmp_path: Path, size: str) -> None:
    where = load_error(tmp_path, HEAD + entry("a", "d", size))
    assert where.startswith("3:30: dataSets[0].size: '"), where
    assert "is 0 bytes; a size must be more than 0" in where
    assert "leave 'size' out when it is not known" in where


@pytest.mark.parametrize("size", ["-1", "-5Gi", "-0.5", "-1e-9"])
def test_a_negative_size_is_refused(tmp_path: Path, size: str) -> None:
    where = load_error(tmp_path, HEAD + entry("a", "d", size))
    assert where == f"3:30: dataSets[0].size: '{size}' is negative; a quantity cannot be below 0"


def test_a_size_of_zero_is_refused_from_python_too() -> None:
    producer = Task(name="t")
    with pytest.raises(ValidationError, match="is 0 bytes"):
        DataSet(name="d", path="d", size_bytes=0, producer=producer)


@pytest.mark.parametrize(
    ("size", "warning"),
    [
        (
            "1e-9",
            "'1e-9' is 1 byte, under 1 KiB (a size without a unit is in bytes); did you mean 1Gi?",
        ),
        (
            "500",
            "'500' is 500 bytes, under 1 KiB (a size without a unit is in bytes);"
            " did you mean 500Gi?",
        ),
        ("1m", "'1m' is 1 byte, under 1 KiB ('m' is a thousandth); did you mean 1Mi?"),
        ("1k", "'1k' is 1000 bytes, under 1 KiB; did you mean 1Gi?"),
        (
            "1023",
            "'1023' is 1023 bytes, under 1 KiB (a size without a unit is in bytes);"
            " did you mean 1023Gi?",
        ),
    ],
)
def test_a_size_under_one_kib_loads_with_a_located_warning(
    tmp_path: Path, size: str, warning: str
) -> None:
    path = write(tmp_path, HEAD + entry("a", "d", size))
    project = load_project(path)
    assert project.data_sets[0].size_bytes is not None
    assert project.warnings == (f"{path}:3:30: warning: dataSets[0].size: {warning}",)


@pytest.mark.parametrize("size", ["1Ki", "1024", "2k", "1.5Ki", "50Gi"])
def test_a_size_of_one_kib_or_more_gives_no_warning(tmp_path: Path, size: str) -> None:
    assert load_project(write(tmp_path, HEAD + entry("a", "d", size))).warnings == ()


def test_warnings_point_at_each_tiny_size_in_block_style(tmp_path: Path) -> None:
    text = yaml_text(
        """
        projectname: p
        tasks:
          - name: make
            executor: !custom {command: x}
        dataSets:
          - name: a
            path: a
            size: 1e-9
            task: {taskRef: make}
          - name: b
            path: b
            size: 10Gi
            task: {taskRef: make}
          - name: c
            path: c
            size: "12"
            task: {taskRef: make}
        """
    )
    path = write(tmp_path, text)
    warnings = load_project(path).warnings
    assert [w.split(" warning: ")[0] for w in warnings] == [f"{path}:8:11:", f"{path}:16:11:"]
    assert warnings[1].endswith(
        "dataSets[2].size: '12' is 12 bytes, under 1 KiB"
        " (a size without a unit is in bytes); did you mean 12Gi?"
    )
