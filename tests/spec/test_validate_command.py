"""Where a user sees what the loader says: `ame validate` and `amed run --once` run as a
user runs them (a refused ame.yaml is one located line per problem and exit 2, a suspicious
one a located warning on stderr and still exit 0), `ame validate --json` for scripts, and
the daemon's log and its spec_invalid alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from amed.daemon import spec_file
from amed.daemon.spec_file import SpecFile
from amed.plan.capacity import Usage
from amed.plan.conditions import conditions
from amed.plan.facts import Facts
from tests.conftest import Workspace


def test_validate_refuses_overlapping_data_sets_with_one_located_line(ws: Workspace) -> None:
    path = ws.write_spec(
        """
        projectname: p
        dataSets:
          - name: raw
            path: data
            task: {executor: !custom {command: x}}
          - name: clean
            path: ./data/clean/
            task: {executor: !custom {command: x}}
        """
    )
    proc = ws.run("ame", "validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"{path}:7:11: dataSets[1].path: data set 'clean' ('data/clean') is inside data set"
        " 'raw' ('data'); data sets' directories must not overlap\n"
    )


def test_validate_prints_a_tiny_size_as_a_warning_and_succeeds(ws: Workspace) -> None:
    path = ws.write_spec(
        """
        projectname: p
        dataSets:
          - name: raw
            path: data
            size: 1e-9
            task: {executor: !custom {command: x}}
        """
    )
    proc = ws.run("ame", "validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        f"{path}:5:11: warning: dataSets[0].size: '1e-9' is 1 byte, under 1 KiB"
        " (a size without a unit is in bytes); did you mean 1Gi?\n"
    )
    assert proc.stdout == f"{path}: valid: project p, 1 data set, 0 tasks\n"


def test_the_daemon_logs_each_warning_once_per_load_of_the_file(ws: Workspace) -> None:
    text = """
        projectname: p
        dataSets:
          - {name: raw, path: data, size: "500", task: {executor: !custom {command: x}}}
        """
    path = ws.write_spec(text)
    spec = SpecFile(path)
    with capture_logs() as logged:
        assert spec.load() is not None
        assert spec.load() is not None  # unchanged: not loaded again, nothing said again
    warnings = [entry for entry in logged if entry["event"] == "spec_warning"]
    assert [(entry["log_level"], entry["warning"]) for entry in warnings] == [
        (
            "warning",
            f"{path}:3:35: warning: dataSets[0].size: '500' is 500 bytes, under 1 KiB"
            " (a size without a unit is in bytes); did you mean 500Gi?",
        )
    ]


FOUR_PROBLEMS = """
    name: four
    tasks:
      - name: fetch
        executor: !custom
          command: python fetch.py
          shel: bash
    dataSets:
      - name: raw
        path: data/raw
        sizee: 5Gi
        task: {taskRef: fetch}
      - name: Bad/Name
        path: data/bad
        task: {taskRef: fetch}
      - name: clean
        path: data/clean
        size: 5Zi
        task: {taskRef: fetch}
    """
FOUR_LINES = [
    (6, 7, "tasks[0].executor", "'shel' is not a valid key for a !custom executor"),
    (10, 5, "dataSets[0]", "'sizee' is not a valid key for a data set; did you mean 'size'?"),
    (12, 11, "dataSets[1].name", "'Bad/Name' is not a valid name"),
    (17, 11, "dataSets[2].size", "'5Zi' is not a quantity"),
]


def assert_four_lines(stderr: str, path: object) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 4, stderr
    for got, (line, column, where, phrase) in zip(lines, FOUR_LINES, strict=True):
        assert got.startswith(f"{path}:{line}:{column}: {where}: {phrase}"), got


def test_validate_prints_every_problem_in_file_order_and_exits_2(ws: Workspace) -> None:
    path = ws.write_spec(FOUR_PROBLEMS)
    proc = ws.run("ame", "validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_four_lines(proc.stderr, path)


def test_validate_json_gives_every_problem_as_an_object(ws: Workspace) -> None:
    path = ws.write_spec(FOUR_PROBLEMS)
    proc = ws.run("ame", "validate", "--json", str(path))
    assert proc.returncode == 2, proc.stderr
    problems = json.loads(proc.stdout)
    assert [(p["line"], p["column"], p["path"]) for p in problems] == [
        (line, column, where) for line, column, where, _ in FOUR_LINES
    ]
    for problem, (_, _, _, phrase) in zip(problems, FOUR_LINES, strict=True):
        assert problem["file"] == str(path)
        assert problem["message"].startswith(phrase)
        assert problem["severity"] == "error"


def test_validate_json_of_a_valid_file_gives_its_warnings(ws: Workspace) -> None:
    path = ws.write_spec(
        """
        name: p
        models:
          - name: m
        """
    )
    proc = ws.run("ame", "validate", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {
            "file": str(path),
            "line": 2,
            "column": 1,
            "path": "",
            "message": "amed ignores 'models': AME trains and deploys models, amed keeps data sets",
            "severity": "warning",
        }
    ]


def test_amed_run_once_prints_every_problem_and_exits_2(ws: Workspace) -> None:
    path = ws.write_spec(FOUR_PROBLEMS)
    proc = ws.once()
    assert proc.returncode == 2, proc.stderr
    assert_four_lines(proc.stderr, path)
    assert not ws.state.exists() or not any(ws.state.iterdir()), "nothing was written"


def test_the_spec_invalid_alert_gives_every_problem_one_a_line(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec_file, "SETTLE_SECONDS", 0.0)
    path = ws.write_spec("name: four\n")
    spec = SpecFile(path)
    good = spec.load()
    assert good is not None
    ws.write_spec(FOUR_PROBLEMS)
    assert spec.changed_on_disk()
    with capture_logs() as logged:
        assert spec.load() is good, "the last good spec is kept"
    assert spec.last_error is not None
    assert_four_lines(spec.last_error, path)
    (invalid,) = [entry for entry in logged if entry["event"] == "spec_invalid"]
    assert invalid["error"] == spec.last_error
    usage = Usage(capacity_bytes=None, held_bytes=0, reserved_bytes=0)
    facts = Facts(now=datetime.now(UTC), spec_error=spec.last_error)
    (alert,) = [c for c in conditions(good, {}, [], [], usage, facts) if c.key.startswith("spec_")]
    assert_four_lines(alert.body.split("\named keeps acting", 1)[0], path)
