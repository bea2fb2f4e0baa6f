"""A real `amed run` process for the service tests: start it, read its JSON log lines, wait
for conditions, stop or kill it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from state.heartbeat import DaemonRow
from state.read import StateReader
from tests.conftest import Workspace, command_path

WAIT_SECONDS = 30.0

HELLO_SPEC = """
projectname: demo
dataSets:
  - name: data
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && echo hello > data/hello.txt
"""
"""One data set whose task writes one small file."""


def once_log(ws: Workspace) -> list[dict[str, Any]]:
    """`amed run --once` in the workspace, which must succeed; its JSON log lines."""
    proc = ws.run("amed", "run", "--once", "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


def wait_for(predicate: Callable[[], object], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


class Daemon:
    """`amed run --interval ...` in the workspace; its log goes to a file, not a pipe, so
    a long run can never block on a full pipe."""

    def __init__(
        self,
        ws: Workspace,
        *args: str,
        env: dict[str, str] | None = None,
        unset: tuple[str, ...] = (),
        log_name: str = "amed.log",
    ) -> None:
        self.ws = ws
        self.log_path = ws.root / log_name
        full_env = ws.base_env()
        full_env.update(env or {})
        for name in unset:
            full_env.pop(name, None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [command_path("amed"), "run", "--log-format", "json", *args],
                cwd=ws.project,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines() if self.log_path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == name]

    def wait_for_log(self, name: str, count: int = 1) -> dict[str, Any]:
        def seen() -> bool:
            self.check_alive()
            return len(self.logged(name)) >= count

        wait_for(seen)
        return self.logged(name)[count - 1]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"amed exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
            )

    def send(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for a parent that may never reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def row_of(ws: Workspace, name: str) -> dict[str, Any]:
    """The data set's `ame ds list --json --all` row; {} while it is not recorded yet."""
    rows = {row["name"]: row for row in ws.datasets("--all")}
    return rows.get(name, {})


def heartbeat(ws: Workspace) -> DaemonRow | None:
    """The daemon's row, read in-process (cheaper than `ame status` for polling)."""
    reader = StateReader.in_dir(ws.state)
    try:
        return reader.daemon()
    finally:
        reader.close()


def statuses(ws: Workspace) -> dict[str, tuple[str, int | None]]:
    """{name: (status, version)} of the recorded data sets, read in-process."""
    reader = StateReader.in_dir(ws.state)
    try:
        return {row.name: (row.status, row.version) for row in reader.datasets()}
    except sqlite3.OperationalError:
        return {}  # the daemon has created the file, not yet its tables
    finally:
        reader.close()
