"""Two projects in one state dir (a project renamed in ame.yaml leaves the old one's rows,
held by the mass-deletion guard): tables say whose each row is, every command takes
`PROJECT/NAME`, and a bare name found in both is a one-line question, never a silent pick.
A name the state does not know is the same one line, exit 2, for every command."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from state.db import StateStore
from state.events import (
    DatasetDeclared,
    DatasetUndeclared,
    RunFailed,
    RunStarted,
    TaskDeclared,
)
from tests.conftest import command_path

NOW = datetime(2026, 5, 1, tzinfo=UTC)
GRACE_ENDS = NOW + timedelta(days=7)


def seed(state_dir: Path) -> None:
    """Project `old` renamed `new`: both hold `good` (made by task `make`, which failed once
    in each) and consumer task `train`; old's are deleting, held back."""
    with StateStore.in_dir(state_dir) as store:
        for project in ("old", "new"):
            common = {"at": NOW, "project": project}
            store.append(
                [
                    DatasetDeclared(
                        **common, dataset="good", spec_hash="h", path="good", task="make"
                    ),
                    TaskDeclared(**common, task="train", data_sets=("good",)),
                    RunStarted(
                        **common, dataset="good", run_id=f"{project}-r1", version=1,
                        spec_hash="h", task="make", attempt=1,
                    ),
                    RunFailed(
                        **common, dataset="good", run_id=f"{project}-r1", stage="task",
                        reason=f"{project} failed",
                    ),
                ]
            )  # fmt: skip
        store.append(
            [DatasetUndeclared(at=NOW, project="old", dataset="good", delete_after=GRACE_ENDS)]
        )


def ame(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "NO_COLOR"))}
    return subprocess.run(
        [command_path("ame"), *args, "--state-dir", str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=state_dir,
    )


@pytest.fixture
def two(tmp_path: Path) -> Path:
    seed(tmp_path)
    return tmp_path


def test_the_listings_carry_a_project_column_when_two_projects_are_recorded(two: Path) -> None:
    shown = ame(two, "ds", "list")
    assert shown.returncode == 0
    header, *rows = shown.stdout.splitlines()
    assert header.split()[:3] == ["PROJECT", "NAME", "STATUS"]
    assert sorted(r.split()[:3] for r in rows) == [
        ["new", "good", "failed"],
        ["old", "good", "deleting"],
    ]
    tasks = ame(two, "task", "list")
    assert tasks.returncode == 0
    header, *rows = tasks.stdout.splitlines()
    assert header.split()[:2] == ["PROJECT", "NAME"]
    assert sorted(r.split()[:2] for r in rows) == [
        ["new", "make"],
        ["new", "train"],
        ["old", "make"],
        ["old", "train"],
    ]
    listed = json.loads(ame(two, "ds", "list", "--json").stdout)
    assert sorted((d["project"], d["name"]) for d in listed) == [("new", "good"), ("old", "good")]
    assert {t["project"] for t in json.loads(ame(two, "task", "list", "--json").stdout)} == {
        "new",
        "old",
    }


def test_one_project_has_no_project_column(tmp_path: Path) -> None:
    with StateStore.in_dir(tmp_path) as store:
        store.append(
            [DatasetDeclared(at=NOW, project="p", dataset="d", spec_hash="h", path="d", task="t")]
        )
    assert ame(tmp_path, "ds", "list").stdout.split()[0] == "NAME"
    assert ame(tmp_path, "task", "list").stdout.split()[0] == "NAME"


@pytest.mark.parametrize(
    "command",
    [
        ("ds", "show", "good"),
        ("ds", "logs", "good"),
        ("ds", "pull", "good"),
        ("ds", "rebuild", "good"),
        ("events", "--dataset", "good"),
        ("task", "logs", "make"),
        ("task", "logs", "train"),
    ],
)
def test_a_bare_name_in_two_projects_is_one_line_listing_the_choices(
    two: Path, command: tuple[str, ...]
) -> None:
    proc = ame(two, *command)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    name = command[-1]
    what = "task" if command[0] == "task" else "data set"
    assert line == f"error: {what} {name!r} is in 2 projects; give one of: new/{name}, old/{name}"


def test_project_slash_name_picks_the_project(two: Path) -> None:
    for project in ("new", "old"):
        doc = json.loads(ame(two, "ds", "show", f"{project}/good", "--json").stdout)
        assert (doc["project"], doc["name"]) == (project, "good")
        events = ame(two, "events", "--json", "--dataset", f"{project}/good")
        assert events.returncode == 0
        lines = [json.loads(line) for line in events.stdout.splitlines()]
        assert lines and {e["project"] for e in lines} == {project}
        logs = ame(two, "ds", "logs", f"{project}/good", "--run", "nope")
        assert logs.returncode == 1
        runs = f"(its last runs: {project}-r1)"
        assert logs.stderr == f"error: data set {project}/good has no run 'nope' {runs}\n"


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (("ds", "show", "nope"), "data set"),
        (("ds", "logs", "nope"), "data set"),
        (("ds", "pull", "nope"), "data set"),
        (("ds", "rebuild", "nope"), "data set"),
        (("events", "--dataset", "nope"), "data set"),
        (("ds", "show", "other/good"), "data set"),
        (("task", "logs", "nope"), "task"),
    ],
)
def test_an_unknown_name_is_one_line_and_exit_2_everywhere(
    two: Path, command: tuple[str, ...], what: str
) -> None:
    proc = ame(two, *command)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == f"error: no {what} named {command[-1]!r} in {two}\n"
