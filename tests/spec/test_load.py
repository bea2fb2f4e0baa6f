"""Loading a valid ame.yaml: every accepted form, templates, references, files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from spec import (
    CustomExecutor,
    DataSetRef,
    EnvVar,
    PipEnvExecutor,
    PipExecutor,
    PoetryExecutor,
    Resources,
    Secret,
    SpecError,
    Triggers,
    load_project,
    load_text,
)
from spec.document import ProjectDoc
from spec.strict import yaml_context
from spec.yaml_loader import read_located
from tests.spec.helpers import GOOD_PROJECT, load

GI = 1024**3


def test_the_example_project_loads_with_every_field_resolved() -> None:
    project = load_project(GOOD_PROJECT)

    assert project.name == "mnist_project"
    assert [task.name for task in project.tasks] == ["fetch_mnist", "train"]
    fetch = project.task("fetch_mnist")
    assert fetch is not None
    assert fetch.executor == CustomExecutor(command="python fetch.py")
    assert fetch.env == (
        EnvVar(key="SEED", val="1"),
        EnvVar(key="MIRROR", val="https://example.org/mnist"),
    )
    assert fetch.resources == Resources(
        cpu=0.5, memory_bytes=2 * GI, storage_bytes=30 * 1000**3, gpu=1
    )
    train = project.task("train")
    assert train is not None
    assert train.executor == PoetryExecutor(command="python train.py", python_version="3.10")
    assert train.secrets == (Secret(key="blob_password", inject_as="BLOB_PASSWORD"),)
    assert train.triggers == Triggers(schedule="0 3 * * *")
    assert project.task("nope") is None


def test_data_sets_resolve_their_producers() -> None:
    project = load_project(GOOD_PROJECT)

    mnist = project.data_set("mnist")
    assert mnist is not None
    assert (mnist.path, mnist.size_bytes, mnist.task_ref) == ("data", 50 * GI, "fetch_mnist")
    assert mnist.producer == project.task("fetch_mnist")
    features = project.data_set("features")
    assert features is not None
    assert features.task_ref == "fetch_mnist"
    assert features.size_bytes == 3 * 1024**4 // 2
    inline = project.data_set("inline_one")
    assert inline is not None
    assert inline.task_ref is None
    assert inline.size_bytes is None
    assert inline.producer.name == "inline_one"
    assert inline.producer.executor == PipExecutor(command="python make.py", python_version="3.11")
    assert inline.producer.data_sets == (DataSetRef(name="mnist"),)
    named = project.data_set("inline_named")
    assert named is not None
    assert named.producer.name == "make_out2"
    assert named.producer.executor == PipEnvExecutor(command="python make2.py")
    assert project.data_set("nope") is None


def test_template_fields_fill_in_and_the_tasks_own_fields_win() -> None:
    train = load_project(GOOD_PROJECT).task("train")
    assert train is not None
    # env merged by key: the task's EPOCHS wins, the template's CUDA_VISIBLE_DEVICES is added
    assert dict((env.key, env.val) for env in train.env) == {
        "EPOCHS": "10",
        "CUDA_VISIBLE_DEVICES": "0",
    }
    # resources merged by key: the task's memory, the template's cpu and gpu
    assert train.resources == Resources(cpu=4.0, memory_bytes=8 * GI, gpu=2)
    # a whole field the task sets itself is not merged
    assert train.triggers == Triggers(schedule="0 3 * * *")


def test_template_supplies_the_executor_a_task_leaves_out() -> None:
    project = load(
        """
        projectname: p
        templates:
          - name: base
            executor: !custom {command: make data}
            resources: {cpu: "1"}
        tasks:
          - name: produce
            fromTemplate: {name: base}
        dataSets:
          - name: d
            path: d
            task: {taskRef: produce}
        """
    )
    data_set = project.data_set("d")
    assert data_set is not None
    assert data_set.producer.executor == CustomExecutor(command="make data")
    assert data_set.producer.resources == Resources(cpu=1.0)


def test_env_accepts_key_val_and_name_value_and_keeps_values_as_text() -> None:
    project = load(
        """
        projectname: p
        tasks:
          - name: t
            env:
              - {key: A, val: "1"}
              - {name: B, value: two}
              - {key: C, value: 3}
              - {name: D, val: yes}
              - {key: E, val: ""}
        """
    )
    task = project.task("t")
    assert task is not None
    assert [(env.key, env.val) for env in task.env] == [
        ("A", "1"),
        ("B", "two"),
        ("C", "3"),
        ("D", "yes"),
        ("E", ""),
    ]


def test_consumed_data_sets_accept_names_and_ame_ref_form() -> None:
    project = load(
        """
        projectname: p
        tasks:
          - name: t
            dataSets:
              - a
              - ref: {name: a}
              - ref: {name: a, project: p}
              - {name: a}
              - ref: {name: elsewhere, project: other}
        dataSets:
          - {name: a, path: a, task: {executor: !custom {command: x}}}
        """
    )
    task = project.task("t")
    assert task is not None
    # a reference into this project always has project None, however it was written
    assert task.data_sets == (
        DataSetRef(name="a"),
        DataSetRef(name="a"),
        DataSetRef(name="a"),
        DataSetRef(name="a"),
        DataSetRef(name="elsewhere", project="other"),
    )


@pytest.mark.parametrize("key", ["projectname", "name", "project"])
def test_project_name_may_be_given_under_three_keys(key: str) -> None:
    assert load(f"{key}: my_project\n").name == "my_project"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("./data", "data"),
        ("data/", "data"),
        ("./a/./b//c/", "a/b/c"),
        ("a/../b", "b"),
        ('".hidden"', ".hidden"),
    ],
)
def test_data_set_paths_are_normalized(written: str, stored: str) -> None:
    project = load(
        f"""
        projectname: p
        dataSets:
          - name: d
            path: {written}
            task: {{executor: !custom {{command: x}}}}
        """
    )
    data_set = project.data_set("d")
    assert data_set is not None
    assert data_set.path == stored


def test_unquoted_numbers_keep_their_text() -> None:
    project = load(
        """
        projectname: "007"
        tasks:
          - name: t
            executor: !pip {pythonVersion: 3.10, command: python run.py}
            env: [{key: RATE, val: 0.50}]
        """
    )
    task = project.task("t")
    assert project.name == "007"
    assert task is not None
    assert task.executor == PipExecutor(command="python run.py", python_version="3.10")
    assert task.env == (EnvVar(key="RATE", val="0.50"),)


def test_anchors_aliases_and_merge_keys_work_within_limits() -> None:
    project = load(
        """
        projectname: p
        templates: []
        tasks:
          - name: a
            executor: &run !custom {command: python run.py}
            env: &env [{key: A, val: "1"}]
          - name: b
            executor: *run
            env: *env
            resources:
              <<: {cpu: "1", memory: 1Gi}
              memory: 2Gi
        """
    )
    a, b = project.tasks
    assert a.executor == b.executor == CustomExecutor(command="python run.py")
    assert a.env == b.env
    assert b.resources == Resources(cpu=1.0, memory_bytes=2 * GI)


def test_load_project_takes_a_directory_with_ame_yml(tmp_path: Path) -> None:
    (tmp_path / "ame.yml").write_text("projectname: from_yml\n", encoding="utf-8")
    project = load_project(tmp_path)
    assert project.name == "from_yml"
    assert project.file == str(tmp_path / "ame.yml")


def test_load_project_prefers_ame_yaml_and_records_the_absolute_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ame.yaml").write_text("projectname: from_yaml\n", encoding="utf-8")
    (tmp_path / "ame.yml").write_text("projectname: from_yml\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    project = load_project("ame.yaml")
    assert project.name == "from_yaml"
    assert project.file == str(tmp_path / "ame.yaml")
    assert load_project(".").name == "from_yaml"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "ame.yaml"
    file.write_bytes(b"\xef\xbb\xbfprojectname: p\n")
    assert load_project(file).name == "p"


def test_a_directory_without_ame_yaml_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no ame\.yaml or ame\.yml"):
        load_project(tmp_path)


def test_a_missing_file_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError) as raised:
        load_project(missing)
    assert str(raised.value).startswith(f"{missing}: no such file; run in the project directory")


def test_errors_name_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ame.yaml").write_text("projectname: p\nbogus: 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as raised:
        load_project("sub")
    assert str(raised.value).startswith("sub/ame.yaml:2:1: ")
    assert raised.value.file == "sub/ame.yaml"
    assert (raised.value.line, raised.value.column) == (2, 1)


def test_models_are_frozen() -> None:
    project = load_project(GOOD_PROJECT)
    with pytest.raises(ValueError, match="frozen"):
        project.name = "other"  # type: ignore[misc]


SHARED_REFS = """
projectname: p
tasks:
  - name: make
    executor: !custom {command: make}
dataSets:
  - {name: a, path: a, task: {taskRef: make}}
  - {name: b, path: b, task: {taskRef: make}}
  - {name: c, path: c, task: {taskRef: {name: make}}}
  - {name: d, path: d, task: {taskRef: {name: make}}}
"""


def test_data_sets_naming_a_task_alike_share_one_validated_reference() -> None:
    located = read_located(SHARED_REFS, positions=False)
    assert located is not None
    doc = ProjectDoc.model_validate(located.data, context=yaml_context())
    a, b, c, d = (data_set.task for data_set in doc.data_sets)
    assert a is b is c is d, "the two spellings of one reference are equal models"
    assert a.task_ref is not None and a.task_ref.name == "make"


def test_a_bad_reference_after_a_good_one_is_placed_where_it_is_written() -> None:
    text = SHARED_REFS.replace(
        "{name: d, path: d, task: {taskRef: {name: make}}}",
        "{name: d, path: d, task: {taskRef: {name: make, extra: x}}}",
    )
    with pytest.raises(SpecError, match="'extra' is not a valid key") as raised:
        load_text(text)
    assert (raised.value.line, raised.value.column) == (10, 53)
