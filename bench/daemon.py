"""A running `amed run` daemon, watched from outside: its log lines, memory and CPU time.

Everything is read the way an operator would: JSON log lines on stderr, /proc for memory,
the state database (read-only) for data set status.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import Workspace, command

POLL_SECONDS = 0.05
PAGE_KIB = 4


class Daemon:
    def __init__(self, ws: Workspace, *extra: str) -> None:
        self.ws = ws
        self.log_path = ws.root / f"amed-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [command("amed"), "run", "--log-format", "json", *extra],
            cwd=ws.project,
            env=ws.amed_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def __enter__(self) -> Daemon:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    # -- what it says ---------------------------------------------------------------------

    def log_events(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return lines

    def wait_for_log(self, event: str, timeout: float, count: int = 1) -> None:
        wait_until(
            lambda: sum(1 for e in self.log_events() if e.get("event") == event) >= count,
            timeout,
            f"the daemon to log {event!r}",
            self,
        )

    # -- what it costs --------------------------------------------------------------------

    def status_kib(self, field: str) -> int:
        """A field of /proc/<pid>/status in KiB: VmRSS now, VmHWM the peak so far."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.proc.pid}/status")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def wait_idle(self, quiet_seconds: float = 1.5, timeout: float = 120.0) -> None:
        """Until the daemon has used no CPU for `quiet_seconds` (its first pass is over)."""
        deadline = time.monotonic() + timeout
        last = self.cpu_seconds()
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_seconds:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not go idle")
            self.check_alive()
            time.sleep(0.25)
            now = self.cpu_seconds()
            if now - last > 0.02:
                quiet_since = time.monotonic()
            last = now

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"amed run exited {self.proc.returncode}: {' | '.join(tail)}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its own threads, not its children)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, daemon: Daemon | None = None
) -> float:
    """Poll until `condition` holds; returns when it did (time.time())."""
    deadline = time.monotonic() + timeout
    while not condition():
        if daemon is not None:
            daemon.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)
    return time.time()


def dataset_status(state_dir: Path, name: str) -> str | None:
    db = state_dir / "state.db"
    if not db.exists():
        return None
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT status FROM datasets WHERE name = ?", (name,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def bare_python(code: str) -> subprocess.Popen[bytes]:
    """A Python process doing `code`: the floor an idle daemon is compared with."""
    return subprocess.Popen(
        [command("python"), "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")
