"""spec_hash changes exactly when what determines a data set's content changes."""

from __future__ import annotations

import re

import pytest

from spec import load_text
from tests.spec.helpers import yaml_text

BASE = """
projectname: p
tasks:
  - name: make
    executor: !pip {pythonVersion: "3.11", command: python make.py}
    env:
      - {key: SEED, val: "1"}
      - {key: MODE, val: full}
    resources: {cpu: "2", memory: 2Gi}
    triggers: {schedule: "0 3 * * *"}
    secrets:
      - !ame {key: token, injectAs: TOKEN}
dataSets:
  - name: d
    path: ./data
    size: 50Gi
    task: {taskRef: make}
"""

# The same project written differently: comments, key order, flow vs block style,
# quoting, the other env form, a trailing slash on the path, the taskRef mapping form.
REFORMATTED = """
# a comment at the top
dataSets:
  - task:
      taskRef: {name: make, project: p}   # the long form
    path: "data/"
    name: d
    size: 50Gi
projectname: 'p'
tasks:
  - executor: !pip
      command: "python make.py"
      pythonVersion: '3.11'
    name: make
    env:
      - name: MODE
        value: full
      - {val: "1", key: SEED}
    resources:
      memory: 2Gi
      cpu: "2"
    triggers:
      schedule: 0 3 * * *
    secrets: [!ame {injectAs: TOKEN, key: token}]
"""


def spec_hash(text: str) -> str:
    data_set = load_text(yaml_text(text)).data_set("d")
    assert data_set is not None
    return data_set.spec_hash


def test_spec_hash_is_hex_sha256() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", spec_hash(BASE))


def test_reformatting_the_file_keeps_the_spec_hash() -> None:
    assert spec_hash(REFORMATTED) == spec_hash(BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("size: 50Gi", "size: 60Gi"),
        ("size: 50Gi", "size:"),
        ('resources: {cpu: "2", memory: 2Gi}', 'resources: {cpu: "4"}'),
        ('triggers: {schedule: "0 3 * * *"}', 'triggers: {schedule: "0 4 * * *"}'),
        ("!ame {key: token, injectAs: TOKEN}", "!ame {key: other, injectAs: OTHER}"),
        ("- name: d", "- name: renamed"),
    ],
)
def test_what_does_not_determine_the_data_keeps_the_spec_hash(old: str, new: str) -> None:
    changed = BASE.replace(old, new)
    assert changed != BASE
    data_set = load_text(yaml_text(changed)).data_sets[0]
    assert data_set.spec_hash == spec_hash(BASE)


def test_renaming_the_producing_task_keeps_the_spec_hash() -> None:
    changed = BASE.replace("name: make", "name: build").replace("taskRef: make", "taskRef: build")
    assert spec_hash(changed) == spec_hash(BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("command: python make.py", "command: python make.py --fast"),
        ('pythonVersion: "3.11"', 'pythonVersion: "3.12"'),
        (
            '!pip {pythonVersion: "3.11", command: python make.py}',
            '!poetry {pythonVersion: "3.11", command: python make.py}',
        ),
        ('{key: SEED, val: "1"}', '{key: SEED, val: "2"}'),
        ('{key: SEED, val: "1"}', '{key: SEED2, val: "1"}'),
        ("      - {key: MODE, val: full}\n", ""),
        ("path: ./data", "path: ./data2"),
    ],
)
def test_what_determines_the_data_changes_the_spec_hash(old: str, new: str) -> None:
    changed = BASE.replace(old, new)
    assert changed != BASE
    assert spec_hash(changed) != spec_hash(BASE)


def test_env_from_a_template_counts_like_the_tasks_own() -> None:
    with_template = (
        BASE.replace("      - {key: MODE, val: full}\n", "")
        .replace(
            "tasks:\n", "templates:\n  - name: base\n    env: [{key: MODE, val: full}]\ntasks:\n"
        )
        .replace("  - name: make\n", "  - name: make\n    fromTemplate: {name: base}\n")
    )
    assert spec_hash(with_template) == spec_hash(BASE)
