"""A killed daemon cannot end its tasks; the next one must, before it does anything else: a
task of a dead daemon still writing into its working copy, or into a file that a new run
links into the store, would change data nobody is watching."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import process_gone, wait_for

SPEC = """
projectname: demo
dataSets:
  - name: slow
    path: ./data
    task:
      executor: !custom
        command: >-
          setsid sh -c 'echo $$ > "$PIDS_DIR/escaped"; exec sleep 300' </dev/null >/dev/null 2>&1 &
          sleep 300 & echo $! > "$PIDS_DIR/child";
          echo $$ > "$PIDS_DIR/task"; wait
"""


def pids(directory: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in directory.iterdir() if p.read_text().strip()}


def test_tasks_of_a_killed_daemon_do_not_survive_the_next_start(
    ws: Workspace, start_daemon: StartDaemon, tmp_path: Path
) -> None:
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    ws.write_spec(SPEC)
    first = start_daemon("--interval", "3600", env={"PIDS_DIR": str(pids_dir)})
    wait_for(lambda: len(pids(pids_dir)) == 3)
    first.kill()
    left = pids(pids_dir)
    assert not any(process_gone(pid) for pid in left.values()), "SIGKILL ends no task"

    second = start_daemon("--interval", "3600", log_name="second.log")
    ended = second.wait_for_log("leftover_processes_stopped")
    assert ended["processes"] >= 3
    # Ended before the start went on, not eventually: once the next step of the start is
    # logged, they are gone (the line above is written as the ending begins).
    second.wait_for_log("stale_working_copies_deleted")
    assert all(process_gone(pid) for pid in left.values()), left
    assert second.stop() == 0
