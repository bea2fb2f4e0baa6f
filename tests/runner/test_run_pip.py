"""`!pip` runs for real: a shared virtualenv per Python and requirements, built once.

Nothing here reaches the network: requirements are absent, empty, or a wheel built in
tmp_path and installed with `--no-index`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile
from pathlib import Path

import pytest

from amed.engine.local_run import run_task

from .conftest import MakeRequest

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
SHOW_VENV = 'echo "$VIRTUAL_ENV"; command -v python; python -c "import sys; print(sys.prefix)"'


def _venv_report(log: Path) -> tuple[str, str, str]:
    virtual_env, python, prefix = log.read_text().splitlines()[-3:]
    return virtual_env, python, prefix


def test_pip_without_requirements_runs_in_a_new_venv_that_the_next_run_reuses(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    first = run_task(make_request(SHOW_VENV, kind="pip"))
    assert first.ok, first.output_tail
    virtual_env, python, prefix = _venv_report(first.log_path)
    venv = Path(virtual_env)
    assert venv.parent == tmp_path / "state" / "venvs"
    assert python == str(venv / "bin" / "python")
    assert Path(prefix) == venv
    marker = (venv / "pyvenv.cfg").stat()

    second = run_task(make_request(SHOW_VENV, kind="pip", python_version=RUNNING))
    assert second.ok, second.output_tail
    assert _venv_report(second.log_path)[0] == virtual_env
    again = (venv / "pyvenv.cfg").stat()
    assert (again.st_ino, again.st_mtime_ns) == (marker.st_ino, marker.st_mtime_ns)
    assert "-m venv" not in second.log_path.read_text()
    built = [entry for entry in venv.parent.iterdir() if not entry.is_symlink()]
    assert len(built) == 1


def test_pip_with_a_comment_only_requirements_file_installs_nothing(
    make_request: MakeRequest, project: Path
) -> None:
    (project / "requirements.txt").write_text("# nothing pinned yet\n\n")
    result = run_task(make_request("true", kind="pip"))
    assert result.ok, result.output_tail
    assert "pip install" not in result.log_path.read_text()


def _write_wheel(folder: Path, name: str, source: str) -> Path:
    """A minimal pure-Python wheel, so pip can install it without building or downloading."""
    folder.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-0.1.dist-info"
    files = {
        f"{name}/__init__.py": source,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_pip_installs_the_requirements_into_the_venv_and_the_task_imports_them(
    make_request: MakeRequest, project: Path
) -> None:
    _write_wheel(project / "wheels", "amedtinypkg", "VALUE = 42\n")
    (project / "requirements.txt").write_text(
        "--no-index\n./wheels/amedtinypkg-0.1-py3-none-any.whl\n"
    )
    result = run_task(
        make_request('python -c "import amedtinypkg; print(amedtinypkg.VALUE)"', kind="pip")
    )
    assert result.ok, result.output_tail
    assert result.output_tail.splitlines()[-1] == "42"
    assert "amed: $ " in result.log_path.read_text()


def test_a_failed_install_is_a_clear_error_and_leaves_no_venv_behind(
    make_request: MakeRequest, project: Path, tmp_path: Path
) -> None:
    (project / "requirements.txt").write_text("--no-index\n./wheels/missing-0.1-py3-none-any.whl\n")
    pids: list[int] = []
    result = run_task(make_request("echo task ran", kind="pip"), on_start=pids.append)
    assert not result.ok
    assert result.exit_code is None
    assert (
        result.error
        == "could not create the venv: 'pip install -r requirements.txt' exited with code 1"
    )
    assert pids == []
    assert "task ran" not in result.log_path.read_text()
    assert list((tmp_path / "state" / "venvs").iterdir()) == []


def test_a_python_version_that_is_not_installed_is_a_clear_error(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    result = run_task(make_request("true", kind="pip", python_version="3.99"))
    assert not result.ok
    assert result.exit_code is None
    assert result.error == "Python 3.99 is not installed (needed by !pip pythonVersion)"
    assert not (tmp_path / "state" / "venvs").exists()


def test_a_python_on_path_that_does_not_run_counts_as_not_installed(
    make_request: MakeRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    broken = fake_bin / "python3.7"
    broken.write_text("#!/bin/sh\necho 'python3.7: command not found' >&2\nexit 127\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    result = run_task(make_request("true", kind="pip", python_version="3.7"))
    assert result.error == "Python 3.7 is not installed (needed by !pip pythonVersion)"


def test_a_python_version_that_is_not_a_version_is_a_clear_error(
    make_request: MakeRequest,
) -> None:
    result = run_task(make_request("true", kind="pip", python_version="latest"))
    assert result.error == "pythonVersion 'latest' is not a version like 3.11"
