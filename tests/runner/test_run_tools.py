"""`!poetry` and `!pipEnv`: the tool must be on PATH; setup runs before the command.

A stand-in `poetry`/`pipenv` script on PATH records its arguments, so the sequence of
commands is checked with real processes but without the real tools or the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amed.engine.local_run import run_task

from .conftest import MakeRequest

STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> calls.log
if [ "$1" = run ]; then shift; exec "$@"; fi
exit {install_exit_code}
"""


def _put_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> None:
    folder = tmp_path / "tools"
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(STAND_IN.format(install_exit_code=code))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("kind", "tool"), [("poetry", "poetry"), ("pipEnv", "pipenv")])
def test_a_missing_tool_is_a_clear_error_and_nothing_is_started(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch, kind: str, tool: str
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    pids: list[int] = []
    result = run_task(make_request("true", kind=kind), on_start=pids.append)
    assert result.error == f"executor !{kind} needs '{tool}' on PATH"
    assert result.exit_code is None
    assert pids == []
    assert not result.workdir.exists()


def test_poetry_installs_then_runs_the_command_through_poetry(
    make_request: MakeRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_on_path(tmp_path, monkeypatch, "poetry", 0)
    monkeypatch.setenv("VIRTUAL_ENV", "/the/daemons/own/venv")
    result = run_task(make_request('echo "venv=${VIRTUAL_ENV:-none}"', kind="poetry"))
    assert result.ok, result.output_tail
    calls = (result.workdir / "calls.log").read_text().splitlines()
    assert calls == [
        "poetry install --no-root --no-interaction",
        'poetry run /bin/sh -c echo "venv=${VIRTUAL_ENV:-none}"',
    ]
    assert result.output_tail.splitlines()[-1] == "venv=none"


def test_a_failing_install_stops_the_run_before_the_command(
    make_request: MakeRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_on_path(tmp_path, monkeypatch, "pipenv", 4)
    pids: list[int] = []
    result = run_task(make_request("echo never", kind="pipEnv"), on_start=pids.append)
    assert result.error == "setup command 'pipenv install' exited with code 4"
    assert result.exit_code is None
    assert pids == []
    assert (result.workdir / "calls.log").read_text() == "pipenv install\n"
