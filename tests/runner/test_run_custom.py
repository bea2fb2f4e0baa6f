"""`!custom` runs for real: output, exit codes, environment and the working copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from amed.engine.local_run import run_task

from .conftest import MakeRequest


def test_a_successful_command_is_ok_and_its_output_is_in_the_log(
    make_request: MakeRequest,
) -> None:
    result = run_task(make_request("echo to-stdout; echo to-stderr >&2"))
    assert result.ok
    assert result.error is None
    assert result.exit_code == 0
    assert not result.timed_out
    assert not result.cancelled
    assert result.log_path == result.workdir.parent / "output.log"
    assert result.log_path.read_text() == "to-stdout\nto-stderr\n"
    assert result.output_tail == "to-stdout\nto-stderr"


def test_a_failing_command_reports_its_exit_code_and_the_end_of_its_output(
    make_request: MakeRequest,
) -> None:
    command = "for i in $(seq 1 100); do echo line-$i; done; echo boom >&2; exit 3"
    result = run_task(make_request(command))
    assert not result.ok
    assert result.exit_code == 3
    assert result.error == "exited with code 3"
    tail = result.output_tail.splitlines()
    assert len(tail) == 20
    assert tail[-2:] == ["line-100", "boom"]


def test_a_command_killed_by_a_signal_says_which(make_request: MakeRequest) -> None:
    result = run_task(make_request("kill -KILL $$"))
    assert result.exit_code == -9
    assert result.error == "was killed by signal SIGKILL"
    assert not result.timed_out


def test_the_task_gets_its_env_and_the_run_id_but_not_the_daemons_notify_socket(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    monkeypatch.setenv("LISTEN_FDS", "2")
    monkeypatch.setenv("FROM_THE_DAEMON", "inherited")
    monkeypatch.setenv("OVERRIDDEN", "daemon value")
    request = make_request("env", env={"GREETING": "hello world", "OVERRIDDEN": "task value"})
    result = run_task(request)
    assert result.ok, result.error
    seen = dict(line.split("=", 1) for line in result.log_path.read_text().splitlines())
    assert seen["GREETING"] == "hello world"
    assert seen["OVERRIDDEN"] == "task value"
    assert seen["AME_RUN_ID"] == request.run_id
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "FROM_THE_DAEMON"):
        assert name not in seen


def test_stdin_is_empty_and_the_command_runs_in_the_working_copy(
    make_request: MakeRequest,
) -> None:
    result = run_task(make_request("pwd; wc -c"))
    assert result.ok, result.error
    cwd, stdin_bytes = result.log_path.read_text().split()
    assert Path(cwd).resolve() == result.workdir.resolve()
    assert stdin_bytes == "0"


def test_on_start_gets_the_pid_of_the_task(make_request: MakeRequest) -> None:
    pids: list[int] = []
    result = run_task(make_request("echo $$"), on_start=pids.append)
    assert result.ok
    assert pids == [int(result.log_path.read_text())]


def test_the_working_copy_has_neither_git_nor_old_data_and_the_task_cannot_harm_the_project(
    make_request: MakeRequest, project: Path
) -> None:
    command = (
        "test ! -e .git && test ! -e data/out"
        " && echo changed > src/input.txt && rm keep.txt && mkdir -p data/out"
        " && echo new > data/out/result.csv"
    )
    result = run_task(make_request(command))
    assert result.ok, result.output_tail
    assert (result.workdir / "src" / "input.txt").read_text() == "changed\n"
    assert not (result.workdir / "keep.txt").exists()
    assert (project / "src" / "input.txt").read_text() == "original\n"
    assert (project / "keep.txt").read_text() == "keep me\n"
    assert (project / "data" / "out" / "old.csv").read_text() == "stale\n"
    assert not (project / "data" / "out" / "result.csv").exists()


def test_two_runs_of_the_same_task_do_not_share_files(make_request: MakeRequest) -> None:
    first = run_task(make_request("echo first >> shared.txt"))
    second = run_task(make_request("echo second >> shared.txt"))
    assert (first.workdir / "shared.txt").read_text() == "first\n"
    assert (second.workdir / "shared.txt").read_text() == "second\n"


def test_a_huge_output_goes_to_the_log_and_the_tail_is_its_end(
    make_request: MakeRequest,
) -> None:
    fifty_megabytes = 50 * 1024 * 1024
    command = f"head -c {fifty_megabytes} /dev/zero | tr '\\0' x; printf '\\nend-1\\nend-2\\n'"
    result = run_task(make_request(command))
    assert result.ok, result.error
    assert result.log_path.stat().st_size == fifty_megabytes + len("\nend-1\nend-2\n")
    assert result.output_tail == "end-1\nend-2"


def test_a_run_directory_used_before_is_refused(make_request: MakeRequest) -> None:
    request = make_request("true")
    assert run_task(request).ok
    with pytest.raises(FileExistsError, match="already exists"):
        run_task(request)


def test_a_missing_project_is_a_clear_error_not_an_exception(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    result = run_task(make_request("true", project_dir=tmp_path / "nowhere"))
    assert not result.ok
    assert result.exit_code is None
    assert result.error is not None
    assert result.error.startswith("could not copy the project: ")
    assert "nowhere" in result.error
