"""Stopping runs: timeout, cancel, and processes a task leaves behind."""

from __future__ import annotations

import threading
from pathlib import Path

from amed.engine.local_run import run_task

from .conftest import MakeRequest
from .processes import is_dead, wait_until_dead

STUBBORN_GRANDCHILD = (
    "sh -c \"trap '' TERM; echo \\$\\$ > grandchild.pid; exec sleep 100\" &"
    " while [ ! -s grandchild.pid ]; do sleep 0.01; done; touch ready; wait"
)
"""A shell whose child ignores SIGTERM and keeps the output log open."""


def _pid(workdir: Path, name: str) -> int:
    return int((workdir / name).read_text())


def test_timeout_kills_the_whole_group_including_a_grandchild_that_ignores_sigterm(
    make_request: MakeRequest,
) -> None:
    request = make_request(STUBBORN_GRANDCHILD, timeout_seconds=2.0, stop_grace_seconds=0.5)
    result = run_task(request)
    assert result.timed_out
    assert not result.cancelled
    assert result.error == "timed out after 2 s"
    assert (result.workdir / "ready").exists()
    assert wait_until_dead(_pid(result.workdir, "grandchild.pid"))


def test_cancel_stops_the_run_and_says_so(make_request: MakeRequest) -> None:
    cancel = threading.Event()
    pids: list[int] = []

    def started(pid: int) -> None:
        pids.append(pid)
        cancel.set()

    result = run_task(make_request("sleep 100"), cancel=cancel, on_start=started)
    assert result.cancelled
    assert not result.timed_out
    assert result.error == "cancelled"
    assert result.exit_code == -15
    assert is_dead(pids[0])


def test_cancel_from_another_thread_stops_a_stubborn_group(make_request: MakeRequest) -> None:
    cancel = threading.Event()
    request = make_request(STUBBORN_GRANDCHILD, stop_grace_seconds=0.5)
    ready = request.run_dir / "work" / "ready"

    def cancel_when_ready() -> None:
        while not ready.exists():
            threading.Event().wait(0.01)
        cancel.set()

    canceller = threading.Thread(target=cancel_when_ready, daemon=True)
    canceller.start()
    result = run_task(request, cancel=cancel)
    canceller.join()
    assert result.cancelled
    assert wait_until_dead(_pid(result.workdir, "grandchild.pid"))


def test_a_run_cancelled_before_it_starts_starts_nothing(make_request: MakeRequest) -> None:
    cancel = threading.Event()
    cancel.set()
    pids: list[int] = []
    result = run_task(make_request("echo started"), cancel=cancel, on_start=pids.append)
    assert result.cancelled
    assert result.exit_code is None
    assert pids == []
    assert result.log_path.read_text() == ""


def test_processes_left_running_after_a_successful_task_are_stopped(
    make_request: MakeRequest,
) -> None:
    result = run_task(make_request("sleep 100 & echo $! > background.pid; echo done"))
    assert result.ok, result.error
    assert result.output_tail == "done"
    assert wait_until_dead(_pid(result.workdir, "background.pid"))


def test_a_background_child_that_ignores_sigterm_and_keeps_writing_does_not_hang_the_run(
    make_request: MakeRequest,
) -> None:
    command = r"""
        sh -c "trap '' TERM; echo \$\$ > ticker.pid; while :; do echo tick; sleep 0.01; done" &
        while [ ! -s ticker.pid ]; do sleep 0.01; done
        exit 0
    """
    result = run_task(make_request(command, stop_grace_seconds=0.5))
    assert result.ok, result.error
    assert wait_until_dead(_pid(result.workdir, "ticker.pid"))


SETSID_WRITER = (
    "setsid sh -c 'echo $$ > writer.pid; sleep 1; echo late >> out.txt; sleep 100' "
    "</dev/null >/dev/null 2>&1 & while [ ! -s writer.pid ]; do sleep 0.01; done; echo done"
)
"""A task whose child leaves the process group and writes after the task has exited."""


def test_a_child_that_left_the_process_group_is_ended_when_the_task_exits(
    make_request: MakeRequest,
) -> None:
    result = run_task(make_request(SETSID_WRITER, stop_grace_seconds=0.5))
    assert result.ok, result.error
    pid = _pid(result.workdir, "writer.pid")
    assert is_dead(pid)  # ended before run_task returned, not eventually
    assert not (result.workdir / "out.txt").exists()


def test_a_double_forked_child_without_the_run_tag_is_ended_and_reported(
    make_request: MakeRequest,
) -> None:
    command = (
        "env -u AME_RUN_ID setsid sh -c 'echo $$ > stray.pid; exec sleep 100' "
        "</dev/null >/dev/null 2>&1 & while [ ! -s stray.pid ]; do sleep 0.01; done"
    )
    result = run_task(make_request(command, stop_grace_seconds=0.5))
    assert result.ok, result.error
    assert is_dead(_pid(result.workdir, "stray.pid"))
    assert result.strays
