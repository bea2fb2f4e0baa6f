"""Builders for runner tests: a small project folder and a run request in tmp_path."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from amed.engine.base import RunRequest
from amed.engine.plans import ExecutorSpec

MakeRequest = Callable[..., RunRequest]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a source file, a git directory and an old copy of a data set."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "input.txt").write_text("original\n")
    (root / "keep.txt").write_text("keep me\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "data" / "out").mkdir(parents=True)
    (root / "data" / "out" / "old.csv").write_text("stale\n")
    return root


@pytest.fixture
def make_request(tmp_path: Path, project: Path) -> MakeRequest:
    """A request for one run of `command`; each call gets a new run id, unique on the host:
    ending a run ends every process tagged with its id, so another test running at the
    same time (an xdist worker) must never share one."""
    counter = iter(range(1, 1_000_000))
    prefix = f"run-{secrets.token_hex(4)}"

    def make(
        command: str,
        *,
        kind: str = "custom",
        python_version: str | None = None,
        env: Mapping[str, str] | None = None,
        exclude: tuple[str, ...] = ("data/out",),
        timeout_seconds: float = 60.0,
        stop_grace_seconds: float = 10.0,
        project_dir: Path | None = None,
        **overrides: Any,
    ) -> RunRequest:
        run_id = f"{prefix}-{next(counter)}"
        return RunRequest(
            run_id=run_id,
            project_dir=project_dir or project,
            run_dir=tmp_path / "state" / "runs" / run_id,
            executor=ExecutorSpec(kind=kind, command=command, python_version=python_version),
            env=dict(env or {}),
            exclude=exclude,
            timeout_seconds=timeout_seconds,
            venv_root=tmp_path / "state" / "venvs",
            stop_grace_seconds=stop_grace_seconds,
            **overrides,
        )

    return make
