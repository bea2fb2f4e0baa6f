"""Fixtures that build a project folder and a state dir in a few lines, and run the real
`amed` and `ame` commands as subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The rows are compared in tests.plan.world: a failing row should show both lists. Here, not
# in tests/plan, because tests elsewhere import it before tests/plan's conftest is read.
pytest.register_assert_rewrite("tests.plan.world")

BIN_DIR = Path(sys.executable).parent


def command_path(name: str) -> str:
    found = BIN_DIR / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    assert which, f"{name} is not installed; run pip install -e ."
    return which


@dataclass
class Workspace:
    """A project dir, a state dir and a file:// store, all under one tmp_path."""

    root: Path
    project: Path
    state: Path
    objects: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def storage_url(self) -> str:
        return self.objects.as_uri()

    def write_spec(self, text: str) -> Path:
        path = self.project / "ame.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def write(self, relative: str, text: str) -> Path:
        path = self.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
        env.update(
            AME_STATE_DIR=str(self.state),
            AME_STORAGE=self.storage_url,
            AME_PROJECT=str(self.project),
            RUNS_LOG=str(self.root / "runs.log"),
            # Tasks get a clean environment: the tests' own variables are passed on purpose.
            AME_TASK_PASS_ENV="RUNS_LOG PIDS_DIR",
        )
        env.update(self.env)
        return env

    def run(
        self, *args: str, timeout: float = 120, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        program, *rest = args
        proc = subprocess.run(
            [command_path(program), *rest],
            cwd=self.project,
            env=self.base_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def once(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("amed", "run", "--once", *extra)

    def datasets(self, *extra: str) -> list[dict[str, Any]]:
        """`ame ds list --json`; none before amed has made its state database."""
        if not (self.state / "state.db").exists():
            return []
        proc = self.run("ame", "ds", "list", "--json", *extra, check=True)
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    def dataset(self, name: str) -> dict[str, Any]:
        rows = {row["name"]: row for row in self.datasets("--all")}
        return rows[name]

    def event_count(self) -> int:
        proc = self.run("ame", "events", "--json", check=True)
        return len(proc.stdout.splitlines())

    def store_keys(self) -> list[str]:
        """The data in the store: keys under datasets/ (a project's claim is not data, nor
        is a data set's pointer for readers, datasets/<project>/<name>/current.json)."""
        from amed.store.pointer import parse_pointer_key

        data = self.objects / "datasets"
        if not data.exists():
            return []
        keys = (p.relative_to(self.objects).as_posix() for p in data.rglob("*") if p.is_file())
        return sorted(key for key in keys if parse_pointer_key(key) is None)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    project = tmp_path / "project"
    project.mkdir()
    yield Workspace(
        root=tmp_path, project=project, state=tmp_path / "state", objects=tmp_path / "objects"
    )
