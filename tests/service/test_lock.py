"""One daemon per state dir: a second `amed` on it exits 2 with one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amed.daemon.lock import LOCK_FILENAME, DaemonLock, StateDirInUse
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && echo x > data/x
"""


def test_a_second_lock_on_the_same_state_dir_is_refused_with_the_holders_pid(
    tmp_path: Path,
) -> None:
    with DaemonLock.acquire(tmp_path / "state") as held:
        assert held.path.read_text().strip() == str(os.getpid())
        with pytest.raises(StateDirInUse) as refused:
            DaemonLock.acquire(tmp_path / "state")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'state'}: another amed (pid ")
    assert message.endswith("is already running with this state directory")
    with DaemonLock.acquire(tmp_path / "state"):
        pass  # released: a later daemon takes it


def test_the_lock_file_and_a_new_state_dir_are_private(tmp_path: Path) -> None:
    with DaemonLock.acquire(tmp_path / "state"):
        assert (tmp_path / "state").stat().st_mode & 0o777 == 0o750  # the group reads state
        assert (tmp_path / "state" / LOCK_FILENAME).stat().st_mode & 0o777 == 0o600


def test_a_second_daemon_and_a_once_run_on_a_busy_state_dir_exit_2_in_one_line(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(SPEC)
    first = start_daemon("--interval", "0.2")
    first.wait_for_log("started")
    for args in (("amed", "run", "--interval", "0.2"), ("amed", "run", "--once")):
        proc = ws.run(*args, timeout=30)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines == [
            f"error: {ws.state}: another amed (pid {first.pid}) is already running "
            "with this state directory"
        ]
    first.check_alive()
    assert first.stop() == 0
    assert ws.once().returncode == 0, "the lock dies with its daemon"
