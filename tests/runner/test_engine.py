"""The engine seam: runs are started, polled, waited for, cancelled and looked up by run id
through an Engine; `local` is the first one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from amed.engine.base import CannotAttach, Engine
from amed.engine.engines import DEFAULT_ENGINE, ENGINES, UnknownEngine, engine_named
from amed.engine.local import LocalEngine

from .conftest import MakeRequest
from .processes import WAIT_LIMIT_SECONDS, wait_until_dead

WAIT_FOR_START = "touch started; sleep 100"


def _wait_for(path: Path) -> None:
    limit = time.monotonic() + WAIT_LIMIT_SECONDS
    while not path.exists():
        assert time.monotonic() < limit, f"{path} never appeared"
        time.sleep(0.01)


def test_the_local_engine_is_picked_by_name_and_made_once() -> None:
    assert DEFAULT_ENGINE in ENGINES
    engine = engine_named("local")
    assert isinstance(engine, LocalEngine)
    assert engine.name == "local"
    assert engine_named("local") is engine


def test_an_unknown_engine_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEngine, match=r"unknown engine 'k8s' \(one of local, ray\)"):
        engine_named("k8s")


def test_a_run_started_through_the_engine_ends_as_run_task_would(
    make_request: MakeRequest,
) -> None:
    engine: Engine = LocalEngine()
    run = engine.start(make_request("echo hello"))
    result = run.wait()
    assert result.ok, result.error
    assert result.run_id == run.run_id
    assert result.output_tail == "hello"
    assert run.poll() is result


def test_poll_says_nothing_until_the_run_is_over_and_cancel_ends_it(
    make_request: MakeRequest,
) -> None:
    engine = LocalEngine()
    request = make_request(WAIT_FOR_START)
    run = engine.start(request)
    _wait_for(request.run_dir / "work" / "started")
    assert run.poll() is None
    run.cancel()
    result = run.wait()
    assert result.cancelled
    assert result.error == "cancelled"


def test_the_starters_event_cancels_every_run_it_was_given_to(
    make_request: MakeRequest,
) -> None:
    engine = LocalEngine()
    stop = threading.Event()
    requests = [make_request(WAIT_FOR_START) for _ in range(2)]
    runs = [engine.start(request, cancel=stop) for request in requests]
    for request in requests:
        _wait_for(request.run_dir / "work" / "started")
    stop.set()
    assert all(run.wait().cancelled for run in runs)


def test_a_live_run_is_attached_to_by_its_id_and_a_finished_one_is_not(
    make_request: MakeRequest,
) -> None:
    engine = LocalEngine()
    request = make_request(WAIT_FOR_START)
    run = engine.start(request)
    _wait_for(request.run_dir / "work" / "started")
    again = engine.attach(request.run_id)
    again.cancel()
    assert run.wait().cancelled
    with pytest.raises(CannotAttach, match="cannot re-attach to the processes of an earlier"):
        engine.attach(request.run_id)


def test_a_run_id_of_an_earlier_daemon_cannot_be_attached_to() -> None:
    with pytest.raises(CannotAttach, match="run old-1 is not running in this daemon"):
        LocalEngine().attach("old-1")


def test_the_same_run_id_cannot_run_twice_at_once(make_request: MakeRequest) -> None:
    engine = LocalEngine()
    request = make_request(WAIT_FOR_START)
    run = engine.start(request)
    with pytest.raises(FileExistsError):
        engine.start(request)
    run.cancel()
    assert run.wait().cancelled


def test_a_programming_error_in_a_run_is_raised_to_whoever_waits(
    make_request: MakeRequest,
) -> None:
    engine = LocalEngine()
    request = make_request("true")
    (request.run_dir / "work").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="every run needs a run id of its own"):
        engine.start(request).wait()


def test_leftovers_of_an_earlier_daemons_run_are_ended_and_live_runs_are_not(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "state" / "runs"
    (runs_dir / "old-1").mkdir(parents=True)
    env = {**os.environ, "AME_RUN_ID": "old-1"}
    leftover = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(300)"], env=env, start_new_session=True
    )
    engine = LocalEngine()
    request = make_request(WAIT_FOR_START)
    run = engine.start(request)
    try:
        _wait_for(request.run_dir / "work" / "started")
        assert engine.end_leftovers(runs_dir) == 1
        assert wait_until_dead(leftover.pid)
        assert run.poll() is None
    finally:
        leftover.kill()
        leftover.wait()
        run.cancel()
    assert run.wait().cancelled
