"""Commands that read ame.yaml name only the ways to give it that exist: each takes
`--project DIR` (as `amed run` does), AME_PROJECT works for each, and a missing ame.yaml is
one located line that says so."""

from __future__ import annotations

import os
import subprocess
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from state.db import StateStore
from state.events import DatasetDeclared
from tests.conftest import command_path

SPEC = """
projectname: demo
tasks:
  - name: train
    dataSets: [kept]
    executor: !custom
      command: "true"
dataSets:
  - name: kept
    path: kept
    task:
      executor: !custom
        command: mkdir -p kept
"""


def ame(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    return subprocess.run(
        [command_path("ame"), *args],
        cwd=cwd,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(project dir with ame.yaml, state dir recording `kept` and the undeclared `gone`,
    an empty directory elsewhere)."""
    project, state, elsewhere = tmp_path / "project", tmp_path / "state", tmp_path / "elsewhere"
    for folder in (project, state, elsewhere):
        folder.mkdir()
    (project / "ame.yaml").write_text(textwrap.dedent(SPEC).lstrip())
    at = datetime(2026, 5, 1, tzinfo=UTC)
    with StateStore.in_dir(state) as store:
        store.append(
            [
                DatasetDeclared(
                    at=at, project="demo", dataset=name, spec_hash="h", path=name, task="t"
                )
                for name in ("kept", "gone")
            ]
        )
    return project, state, elsewhere


def test_delete_outside_the_project_names_the_ways_that_exist(
    places: tuple[Path, Path, Path],
) -> None:
    project, state, elsewhere = places
    args = ("ds", "delete", "--all-pending", "--confirm", "--state-dir", str(state))
    refused = ame(elsewhere, *args)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (
        f"{elsewhere / 'ame.yaml'}: no such file; run in the project directory, or name the "
        "directory with --project DIR or AME_PROJECT\n"
    )
    by_flag = ame(elsewhere, *args, "--project", str(project))
    assert by_flag.returncode == 0, by_flag.stderr
    assert by_flag.stdout == "deleting gone\n"
    by_variable = ame(elsewhere, *args, AME_PROJECT=str(project))
    assert by_variable.returncode == 0, by_variable.stderr


def test_validate_takes_a_project_dir_and_a_missing_file_names_no_flag_it_lacks(
    places: tuple[Path, Path, Path],
) -> None:
    project, _, elsewhere = places
    for how in (("--project", str(project)),):
        proc = ame(elsewhere, "validate", *how)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{project / 'ame.yaml'}: valid: project demo, 1 data set, 1 task\n"
    by_variable = ame(elsewhere, "validate", AME_PROJECT=str(project))
    assert by_variable.returncode == 0, by_variable.stderr
    missing = ame(elsewhere, "validate", str(elsewhere / "nope.yaml"))
    assert missing.returncode == 2
    assert missing.stderr == f"{elsewhere / 'nope.yaml'}: no such file; check the path\n"
    both = ame(elsewhere, "validate", "x.yaml", "--project", str(project))
    assert both.returncode == 2 and len(both.stderr.splitlines()) == 1


def test_task_run_takes_a_project_dir(places: tuple[Path, Path, Path]) -> None:
    project, state, elsewhere = places
    args = ("task", "run", "train", "--state-dir", str(state))
    unknown = ame(elsewhere, *args)
    assert unknown.returncode == 2, "train is declared in the project's ame.yaml only"
    proc = ame(elsewhere, *args, "--project", str(project))
    assert proc.returncode == 0, proc.stderr
    assert "warning: no amed daemon is running" in proc.stderr
