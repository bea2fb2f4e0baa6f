"""The Ray engine's parts that need no cluster: the package it ships, the job file and the
result line, the refusals made before anything is submitted, Ray's errors as one line."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from amed.engine.base import InputVersion, OutputVersion, RunRequest, StoreWork
from amed.engine.plans import ExecutorSpec
from amed.engine.ray import RayEngine
from amed.engine.ray_client import _one_line
from amed.engine.ray_job import JOB_FILE, JobResult, JobSpec, split_result
from amed.engine.ray_package import PackageTooBig, zip_working_copy


def test_the_package_holds_the_copy_and_no_file_a_link_leads_to_outside_it(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the cluster\n")
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "main.py").write_text("print('hi')\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    (work / "inside").symlink_to("src/main.py")
    (work / "leak").symlink_to(outside)
    (work / "dirlink").symlink_to(tmp_path)
    package = tmp_path / "package.zip"
    zip_working_copy(work, package, extra={JOB_FILE: b"{}"})
    with zipfile.ZipFile(package) as zf:
        names = sorted(zf.namelist())
        assert names == [JOB_FILE, "inside", "run.sh", "src/main.py"]
        assert zf.read("inside") == b"print('hi')\n"
        assert (zf.getinfo("run.sh").external_attr >> 16) & 0o777 == 0o755
        assert all(b"not for the cluster" not in zf.read(n) for n in names)


def test_a_package_at_rays_limit_is_refused_in_one_line_before_any_upload(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "big.bin").write_bytes(os.urandom(64 * 1024))
    package = tmp_path / "package.zip"
    with pytest.raises(PackageTooBig) as refused:
        zip_working_copy(work, package, extra={}, limit_bytes=32 * 1024)
    assert "\n" not in str(refused.value)
    assert "Ray's package limit" in str(refused.value) and ".ameignore" in str(refused.value)
    assert not package.exists()


def test_the_job_file_reads_back_what_was_written() -> None:
    spec = JobSpec(
        run_id="out-v2-abc",
        executor=ExecutorSpec(kind="pip", command="python make.py", python_version="3.11"),
        env_names=("A", "B"),
        pass_env=("HF_*",),
        timeout_seconds=60.0,
        stop_grace_seconds=2.0,
        store=StoreWork(
            store_url="s3://bucket/prefix",
            state_id="s-1",
            project="demo",
            inputs=(InputVersion("raw", 3, "raw", "d1"),),
            output=OutputVersion("out", 2, "out", "2026-01-01T00:00:00Z", 10),
        ),
        pip_ready=True,
    )
    assert JobSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="not a valid job file"):
        JobSpec.from_json(b'{"format": 1}')


def test_the_result_line_is_found_and_taken_out_of_the_logs() -> None:
    result = JobResult(exit_code=3, error="exited with code 3")
    logs = f"line one\nline two\n{result.line()}\n"
    body, found = split_result(logs)
    assert (body, found) == ("line one\nline two\n", result)
    assert split_result("no result here\n") == ("no result here\n", None)
    # The worker writes its line after a line break of its own: output that did not end
    # its last line keeps its result, and output that did gets no extra blank line.
    assert split_result(f"done\n{result.line()}\n") == ("done\n", result)
    assert split_result(f"line one\n\n{result.line()}\n") == ("line one\n", result)


def test_a_task_with_secrets_is_refused_before_anything_reaches_ray(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    engine = RayEngine()
    engine.configure("http://127.0.0.1:9", detach_on_stop=False)  # nothing listens there
    request = RunRequest(
        run_id="out-v1-0",
        project_dir=tmp_path / "project",
        run_dir=tmp_path / "runs" / "out-v1-0",
        executor=ExecutorSpec(kind="custom", command="true"),
        env={"TOKEN": "s3cr3t-value", "MODE": "fast"},
        exclude=(),
        timeout_seconds=60,
        venv_root=tmp_path / "venvs",
        redact=("s3cr3t-value",),
    )
    result = engine.start(request).wait()
    assert result.error is not None and result.error.startswith("task secrets (!ame)")
    assert "s3cr3t-value" not in result.error
    assert not (tmp_path / "runs" / "out-v1-0" / "package.zip").exists()


def test_rays_server_errors_become_their_last_line() -> None:
    error = RuntimeError(
        "Request failed with status code 500: Traceback (most recent call last):\n"
        '  File "job_head.py", line 419, in submit_job\n'
        "ValueError: Job with submission_id x already exists.\n.\n."
    )
    assert _one_line(error) == "Job with submission_id x already exists."
    assert _one_line(ConnectionError("refused")) == "refused"


def test_amed_without_ray_says_what_to_install_in_one_line(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['ray'] = None  # what an interpreter without Ray finds\n"
        "from amed.cli.amed_cmd import main\n"
        "sys.argv = ['amed', 'run', '--once', '--engine', 'ray',"
        " '--ray-address', 'http://127.0.0.1:8265']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "RAY_"))}
    env["AME_STATE_DIR"] = str(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    needs = "engine.kind: ray needs Ray's job client: pip install 'amed[ray]'"
    assert done.stderr == f"error: {needs}\n"
