"""Each kind of mistake is one located line that points at the offending node.

Positions are 1-based ``line:column``: the value for a bad value, the key for an unknown or
duplicate key, the enclosing mapping for a missing key.
"""

from __future__ import annotations

import pytest

from spec import SpecError, load_text
from tests.spec.helpers import spec_error

TASK = """
        projectname: p
        tasks:
          - name: t
            executor: !custom {command: x}
"""

CASES: list[tuple[str, str, str, str]] = [
    # (case, file, expected "line:column: path", a phrase the message must hold)
    (
        "unknown key with a close match",
        """
        projectname: p
        tasks:
          - name: t
            exector: !custom {command: x}
        """,
        "4:5: tasks[0]",
        "'exector' is not a valid key for a task; did you mean 'executor'? (known keys: name,",
    ),
    (
        "unknown top-level key",
        """
        projectname: p
        dataset:
          - name: d
        """,
        "2:1:",
        "did you mean 'dataSets'?",
    ),
    (
        "unknown key in resources",
        """
        projectname: p
        tasks:
          - name: t
            resources: {cpu: "1", memroy: 1Gi}
        """,
        "4:27: tasks[0].resources",
        "did you mean 'memory'?",
    ),
    (
        "unknown key inside ref",
        """
        projectname: p
        tasks:
          - name: t
            dataSets:
              - ref: {name: d, projct: p}
        """,
        "5:24: tasks[0].dataSets[0].ref",
        "did you mean 'project'?",
    ),
    (
        "taskRef directly on a data set",
        """
        projectname: p
        dataSets:
          - name: d
            path: ./data
            taskRef: t
        """,
        "5:5: dataSets[0]",
        "'taskRef' is not valid here; did you mean to put it under 'task:'?",
    ),
    (
        "executor directly on a data set",
        """
        projectname: p
        dataSets:
          - name: d
            path: ./data
            executor: !custom {command: x}
        """,
        "5:5: dataSets[0]",
        "'executor' is not valid here; did you mean to put it under 'task:'?",
    ),
    (
        "bad quantity",
        TASK
        + """
        dataSets:
          - name: d
            path: d
            size: 5Zi
            task: {taskRef: t}
        """,
        "9:11: dataSets[0].size",
        "'5Zi' is not a quantity (use e.g. 50Gi, 500M, 1.5Ti",
    ),
    (
        "negative memory",
        """
        projectname: p
        tasks:
          - name: t
            resources:
              memory: -1Gi
        """,
        "5:15: tasks[0].resources.memory",
        "negative",
    ),
    (
        "missing required key",
        """
        projectname: p
        dataSets:
          - name: d
            task: {executor: !custom {command: x}}
        """,
        "3:5: dataSets[0]",
        "missing required key 'path'",
    ),
    (
        "missing project name",
        """
        tasks: []
        """,
        "1:1:",
        "missing required key 'name' (the project's name)",
    ),
    (
        "missing command in a tagged executor",
        """
        projectname: p
        tasks:
          - name: t
            executor: !poetry
              pythonVersion: "3.11"
        """,
        "4:15: tasks[0].executor",
        "missing required key 'command'",
    ),
    (
        "empty command",
        """
        projectname: p
        tasks:
          - name: t
            executor: !custom {command: ""}
        """,
        "4:33: tasks[0].executor.command",
        "must not be empty",
    ),
    (
        "executor without a tag",
        """
        projectname: p
        tasks:
          - name: t
            executor: {command: x}
        """,
        "4:15: tasks[0].executor",
        "an executor needs a tag",
    ),
    (
        "mlflow executor producing a data set",
        """
        projectname: p
        dataSets:
          - name: d
            path: d
            task:
              executor: !mlflow {command: x}
        """,
        "6:7: dataSets[0].task",
        "the task that produces 'd' has an !mlflow executor, which amed cannot run; use one of",
    ),
    (
        "mlflow executor of a task a data set refers to",
        """
        projectname: p
        tasks:
          - name: t
            executor: !mlflow
        dataSets:
          - {name: d, path: d, task: {taskRef: t}}
        """,
        "6:40: dataSets[0].task.taskRef",
        "task 't' produces data set 'd' but has an !mlflow executor, which amed cannot run",
    ),
    (
        "unknown tag",
        """
        projectname: p
        tasks:
          - name: t
            executor: !docker {image: x}
        """,
        "4:15:",
        "unknown tag '!docker'",
    ),
    (
        "standard tag ame.yaml never needs",
        """
        projectname: !!binary aGVsbG8=
        """,
        "1:14:",
        "unknown tag '!!binary'",
    ),
    (
        "executor tag on a scalar",
        """
        projectname: p
        tasks:
          - name: t
            executor: !custom python run.py
        """,
        "4:15:",
        "!custom needs a mapping",
    ),
    (
        "duplicate key",
        """
        projectname: p
        tasks:
          - name: t
            name: u
        """,
        "4:5:",
        "duplicate key 'name' (first at line 3, column 5)",
    ),
    (
        "duplicate data set name",
        TASK
        + """
        dataSets:
          - {name: d, path: a, task: {taskRef: t}}
          - {name: d, path: b, task: {taskRef: t}}
        """,
        "8:12: dataSets[1].name",
        "duplicate data set name 'd'",
    ),
    (
        "duplicate task name",
        TASK
        + """
          - name: t
            executor: !custom {command: y}
        """,
        "6:11: tasks[1].name",
        "duplicate task name 't'",
    ),
    (
        "duplicate template name",
        """
        projectname: p
        templates:
          - name: base
          - name: base
        """,
        "4:11: templates[1].name",
        "duplicate template name 'base'",
    ),
    (
        "dangling taskRef",
        TASK
        + """
        dataSets:
          - name: d
            path: d
            task:
              taskRef: fetch
        """,
        "10:16: dataSets[0].task.taskRef",
        "no task named 'fetch' (tasks: t)",
    ),
    (
        "taskRef to another project",
        TASK
        + """
        dataSets:
          - name: d
            path: d
            task:
              taskRef: {name: t, project: other}
        """,
        "10:16: dataSets[0].task.taskRef",
        "taskRef to another project is not supported",
    ),
    (
        "taskRef next to inline task fields",
        TASK
        + """
        dataSets:
          - name: d
            path: d
            task:
              taskRef: t
              env: []
        """,
        "11:7: dataSets[0].task",
        "'env' cannot be combined with 'taskRef'",
    ),
    (
        "dangling fromTemplate",
        """
        projectname: p
        tasks:
          - name: t
            fromTemplate: {name: gpu}
        """,
        "4:19: tasks[0].fromTemplate",
        "no template named 'gpu'",
    ),
    (
        "AME's older format: tasks by name with runcommand",
        """
        projectname: echo
        tasks:
          echo:
            runcommand: python echo.py myoutput
        """,
        "3:3: tasks",
        "expected a list, got a mapping (this is AME's older format, tasks by name with"
        " 'runcommand'; write each as '- name: NAME' with an executor",
    ),
    (
        "consumer names an undeclared data set",
        """
        projectname: p
        tasks:
          - name: t
            dataSets: [mnist, missing]
        dataSets:
          - {name: mnist, path: m, task: {executor: !custom {command: x}}}
        """,
        "4:23: tasks[0].dataSets[1]",
        "data set 'missing' is not declared in this project",
    ),
    (
        "consumer ref names an undeclared data set of this project",
        """
        projectname: p
        templates:
          - name: base
            dataSets:
              - ref: {name: missing, project: p}
        """,
        "5:9: templates[0].dataSets[0]",
        "data set 'missing' is not declared",
    ),
    (
        "producer without executor",
        """
        projectname: p
        tasks:
          - name: t
        dataSets:
          - name: d
            path: d
            task: {taskRef: t}
        """,
        "7:21: dataSets[0].task.taskRef",
        "task 't' produces data set 'd' but has no executor",
    ),
    (
        "inline producer without executor",
        """
        projectname: p
        dataSets:
          - name: d
            path: d
            task:
              env: [{key: A, val: "1"}]
        """,
        "6:7: dataSets[0].task",
        "has no executor",
    ),
    (
        "data set that depends on itself",
        """
        projectname: p
        dataSets:
          - name: a
            path: a
            task: {executor: !custom {command: x}, dataSets: [b]}
          - name: b
            path: b
            task: {executor: !custom {command: x}, dataSets: [a]}
        """,
        "3:5: dataSets[0]",
        "data set 'a' depends on itself: a -> b -> a",
    ),
    (
        "env key given twice",
        """
        projectname: p
        tasks:
          - name: t
            env:
              - {key: A, val: "1"}
              - {name: A, value: "2"}
        """,
        "6:9: tasks[0].env[1]",
        "'A' is set twice in env",
    ),
    (
        "env entry with both key and name",
        """
        projectname: p
        tasks:
          - name: t
            env:
              - {key: A, name: A, val: "1"}
        """,
        "5:18: tasks[0].env[0]",
        "use 'key' or 'name', not both",
    ),
    (
        "env entry without a value",
        """
        projectname: p
        tasks:
          - name: t
            env:
              - key: A
        """,
        "5:9: tasks[0].env[0]",
        "missing required key 'val' (or 'value')",
    ),
    (
        "unsafe data set name",
        """
        projectname: p
        dataSets:
          - name: ../escape
            path: d
            task: {executor: !custom {command: x}}
        """,
        "3:11: dataSets[0].name",
        "is not a valid name",
    ),
    (
        "unsafe project name",
        """
        projectname: my project
        """,
        "1:14: projectname",
        "names become storage paths",
    ),
    (
        "absolute path",
        """
        projectname: p
        dataSets:
          - {name: d, path: /etc, task: {executor: !custom {command: x}}}
        """,
        "3:21: dataSets[0].path",
        "is absolute",
    ),
    (
        "path escaping the project",
        """
        projectname: p
        dataSets:
          - {name: d, path: data/../../x, task: {executor: !custom {command: x}}}
        """,
        "3:21: dataSets[0].path",
        "leaves the project directory",
    ),
    (
        "path is the project itself",
        """
        projectname: p
        dataSets:
          - {name: d, path: ./, task: {executor: !custom {command: x}}}
        """,
        "3:21: dataSets[0].path",
        "the project directory itself",
    ),
    (
        "empty path",
        """
        projectname: p
        dataSets:
          - {name: d, path: "", task: {executor: !custom {command: x}}}
        """,
        "3:21: dataSets[0].path",
        "the path is empty",
    ),
    (
        "path into .git",
        """
        projectname: p
        dataSets:
          - {name: d, path: .git/objects, task: {executor: !custom {command: x}}}
        """,
        "3:21: dataSets[0].path",
        "points into .git",
    ),
    (
        "a list where a mapping belongs",
        """
        projectname: p
        tasks:
          - name: t
            resources: [cpu]
        """,
        "4:16: tasks[0].resources",
        "expected a mapping, got a list",
    ),
    (
        "a scalar where a list belongs",
        """
        projectname: p
        tasks: none
        """,
        "2:8: tasks",
        "expected a list, got 'none'",
    ),
    (
        "fractional gpu",
        """
        projectname: p
        tasks:
          - name: t
            resources:
              nvidia.com/gpu: 0.5
        """,
        "5:23: tasks[0].resources.nvidia.com/gpu",
        "is not a whole number",
    ),
    (
        "data sets under the key AME does not read",
        """
        projectname: p
        data_sets:
          - name: d
        """,
        "2:1:",
        "'data_sets' is not read by AME (it reads 'dataSets'), so these data sets would be"
        " lost; did you mean 'dataSets'?",
    ),
    (
        "two keys name the project",
        """
        projectname: p
        name: q
        """,
        "2:1:",
        "'name' and 'projectname' both name the project",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "phrase"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_mistake_is_reported_at_the_offending_node(text: str, where: str, phrase: str) -> None:
    error = spec_error(text)
    assert str(error).startswith(f"ame.yaml:{where}"), str(error)
    assert phrase in error.message, str(error)
    assert "\n" not in str(error)


def test_message_follows_location_then_field_path_then_problem() -> None:
    error = spec_error(
        TASK
        + """
        dataSets:
          - name: d
            path: d
            size: 5Zi
            task: {taskRef: t}
        """
    )
    assert str(error) == (
        "ame.yaml:9:11: dataSets[0].size: '5Zi' is not a quantity (use e.g. 50Gi, 500M, 1.5Ti;"
        " suffixes: Ki Mi Gi Ti Pi Ei m k M G T P E)"
    )
    assert (error.file, error.line, error.column) == ("ame.yaml", 9, 11)


AME_DOCS_COMMENTED_TASK = """\
dataSets:
  - name: mnist
    path: ./data # Specifies where the tasks stores data.
#    task:
      taskRef: fetch_mnist # References a task which produces data.
"""


def test_commented_out_task_key_from_ames_docs_points_at_task_ref() -> None:
    with pytest.raises(SpecError) as raised:
        load_text(AME_DOCS_COMMENTED_TASK)
    assert str(raised.value) == (
        "ame.yaml:5:7: 'taskRef' is not valid here; did you mean to put it under 'task:'?"
    )


def test_task_ref_indented_under_a_plain_value_gets_the_same_hint() -> None:
    error = spec_error(
        """
        dataSets:
          - name: mnist
            path: ./data
              taskRef: fetch_mnist
        """
    )
    assert str(error) == (
        "ame.yaml:4:7: 'taskRef' is not valid here; did you mean to put it under 'task:'?"
    )


def test_filename_given_to_load_text_is_used_in_errors() -> None:
    with pytest.raises(SpecError) as raised:
        load_text("projectname: p\nbogus: 1\n", filename="projects/x/ame.yaml")
    assert str(raised.value).startswith("projects/x/ame.yaml:2:1: ")


@pytest.mark.parametrize(
    ("text", "where", "phrase"),
    [
        ("projectname: p\ntasks: [a, b\n", "3:1:", "invalid YAML"),
        ("projectname: 'p\n", "2:1:", "invalid YAML: found unexpected end of stream"),
        ("projectname: p\ntasks:\n\t- a\n", "3:1:", "a tab cannot indent YAML"),
        ("a: b: c\n", "1:5:", "a ':' followed by a space is not allowed here"),
        ("projectname: p\n---\nprojectname: q\n", "2:1:", "more than one YAML document"),
        ("a:\n  b: 1\n c: 2\n", "3:2:", "'c' is not lined up with the keys above it"),
        ("projectname: *nowhere\n", "1:14:", "invalid YAML"),
    ],
)
def test_yaml_syntax_errors_are_one_plain_line_at_the_problem(
    text: str, where: str, phrase: str
) -> None:
    with pytest.raises(SpecError) as raised:
        load_text(text)
    assert str(raised.value).startswith(f"ame.yaml:{where} "), str(raised.value)
    assert phrase in raised.value.message
    assert "\n" not in str(raised.value)


def test_spec_error_str_leaves_out_unknown_parts() -> None:
    assert str(SpecError("bad", "f.yaml", 3, 4)) == "f.yaml:3:4: bad"
    assert str(SpecError("bad", "f.yaml", 3)) == "f.yaml:3: bad"
    assert str(SpecError("bad", "f.yaml")) == "f.yaml: bad"
    assert str(SpecError("two\nlines")) == "ame.yaml: two lines"


def test_every_problem_of_the_files_shape_is_one_line_in_file_order() -> None:
    error = spec_error(
        """
        projectname: p
        tasks:
          - name: t
            executor: !custom {command: x, shel: sh}
            env: {A: b}
        dataSets:
          - name: d
            pth: data
            task: {taskRef: t}
        """
    )
    assert error.lines == (
        "ame.yaml:4:36: tasks[0].executor: 'shel' is not a valid key for a !custom executor"
        " (known keys: command, pythonVersion)",
        "ame.yaml:5:10: tasks[0].env: expected a list, got a mapping",
        "ame.yaml:8:5: dataSets[0]: 'pth' is not a valid key for a data set; did you mean"
        " 'path'? (known keys: name, path, size, task)",
    )
    assert str(error) == "\n".join(error.lines)
    assert error.message == error.problems[0].text, "the first problem is the error's own"


def test_every_problem_found_once_the_shape_is_valid_is_one_line() -> None:
    error = spec_error(
        """
        projectname: p
        tasks:
          - name: t
            executor: !custom {command: x}
            fromTemplate: nowhere
          - name: t
        dataSets:
          - {name: a, path: a, task: {taskRef: t}}
          - {name: b, path: a, task: {taskRef: gone}}
        """
    )
    assert [line.split(": ", 2)[:2] for line in error.lines] == [
        ["ame.yaml:5:19", "tasks[0].fromTemplate"],
        ["ame.yaml:6:11", "tasks[1].name"],
        ["ame.yaml:9:21", "dataSets[1].path"],
        ["ame.yaml:9:40", "dataSets[1].task.taskRef"],
    ]
    assert "no template named 'nowhere'" in error.lines[0]
    assert "no task named 'gone'" in error.lines[3]
