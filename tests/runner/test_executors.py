"""Executor kinds as data: what each one runs, before anything is run."""

from __future__ import annotations

from pathlib import Path

import pytest

from amed.engine.executors import KINDS, plan_for
from amed.engine.plans import ExecutorSpec, SharedVenv, major_minor
from amed.engine.venvs import activate, requirements_to_install, venv_install_command, venv_key
from spec.executor_kinds import EXECUTOR_TYPES


def test_every_kind_ame_yaml_can_name_has_a_module_and_no_other() -> None:
    assert set(KINDS) == set(EXECUTOR_TYPES)


def test_an_unknown_kind_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown executor kind 'conda'"):
        plan_for(ExecutorSpec(kind="conda", command="true"))


def test_custom_runs_the_command_through_the_shell_with_no_setup() -> None:
    plan = plan_for(ExecutorSpec(kind="custom", command="make data"))
    assert plan.argv == ("/bin/sh", "-c", "make data")
    assert plan.setup == ()
    assert plan.needs_tool is None
    assert plan.venv is None


def test_pip_asks_for_a_shared_venv_of_its_python_version() -> None:
    plan = plan_for(ExecutorSpec(kind="pip", command="true", python_version="3.12"))
    assert plan.venv == SharedVenv(python_version="3.12")
    assert plan.path_prepend == ()


def test_pip_in_its_venv_puts_the_venv_first_on_path_and_sets_virtual_env() -> None:
    venv = Path("/state/venvs/py3.11-abc")
    plan = activate(plan_for(ExecutorSpec(kind="pip", command="python make.py")), venv)
    assert plan.argv == ("/bin/sh", "-c", "python make.py")
    assert plan.path_prepend == ("/state/venvs/py3.11-abc/bin",)
    assert plan.env == {"VIRTUAL_ENV": "/state/venvs/py3.11-abc"}
    assert plan.env_remove == ("PYTHONHOME",)
    assert plan.venv is None


def test_poetry_installs_without_the_root_package_then_runs_through_poetry() -> None:
    plan = plan_for(ExecutorSpec(kind="poetry", command="python make.py"))
    assert plan.needs_tool == "poetry"
    assert plan.setup == (("poetry", "install", "--no-root", "--no-interaction"),)
    assert plan.argv == ("poetry", "run", "/bin/sh", "-c", "python make.py")
    assert "VIRTUAL_ENV" in plan.env_remove


def test_poetry_with_a_python_version_selects_it_before_installing() -> None:
    spec = ExecutorSpec(kind="poetry", command="true", python_version="3.10.4")
    plan = plan_for(spec)
    assert plan.setup[0] == ("poetry", "env", "use", "3.10")
    assert plan.setup[1][:2] == ("poetry", "install")


def test_pipenv_installs_then_runs_through_pipenv() -> None:
    plan = plan_for(ExecutorSpec(kind="pipEnv", command="python make.py"))
    assert plan.needs_tool == "pipenv"
    assert plan.setup == (("pipenv", "install"),)
    assert plan.argv == ("pipenv", "run", "/bin/sh", "-c", "python make.py")


@pytest.mark.parametrize(
    ("given", "expected"), [("3.9", "3.9"), ("3.12.1", "3.12"), (" 3.10 ", "3.10")]
)
def test_python_version_is_reduced_to_major_minor(given: str, expected: str) -> None:
    assert major_minor(given) == expected


@pytest.mark.parametrize("given", ["three", "3", "3.x", "../../bin/sh", "3.9;rm"])
def test_a_python_version_that_is_not_a_version_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"is not a version like 3\.11"):
        major_minor(given)


def test_only_comments_and_blank_lines_mean_nothing_to_install() -> None:
    assert not requirements_to_install(None)
    assert not requirements_to_install(b"")
    assert not requirements_to_install(b"# pinned later\n\n   \n")
    assert requirements_to_install(b"# tools\nrequests==2.32\n")


def test_venv_key_is_the_same_for_the_same_python_and_requirements() -> None:
    key = venv_key(python_version="3.11", interpreter="/usr/bin/python3.11", requirements=b"a\n")
    again = venv_key(python_version="3.11", interpreter="/usr/bin/python3.11", requirements=b"a\n")
    assert key == again
    assert key.startswith("py3.11-")


def test_venv_key_changes_with_requirements_version_or_interpreter() -> None:
    def key(version: str = "3.11", interpreter: str = "/usr/bin/python3", req: bytes = b"a") -> str:
        return venv_key(python_version=version, interpreter=interpreter, requirements=req)

    assert key(req=b"b") != key()
    assert key(version="3.12") != key()
    assert key(interpreter="/opt/python3") != key()


def test_pip_install_uses_the_venvs_own_pip_without_prompting() -> None:
    argv = venv_install_command(Path("/v"), Path("/w/requirements.txt"))
    assert argv[:4] == ("/v/bin/python", "-m", "pip", "install")
    assert "--no-input" in argv
    assert argv[-2:] == ("-r", "/w/requirements.txt")
