"""A run's output log: written as the task prints, masked before a byte reaches the disk.

Output is never kept in memory: a task may print gigabytes. Only the tail is read back,
for error messages, and it comes from the (already masked) log.
"""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

from amed.engine.redact import Redactor
from amed.engine.run_logs import open_log_file

TAIL_BYTES = 2048
TAIL_LINES = 20

_WAIT_SECONDS = 0.2
_PIPE_READ_BYTES = 64 * 1024


class OutputCopier:
    """Copies a run's output from a pipe into its log, masking secrets on the way.

    The pipe's write end is held by the task and anything it started; the copy ends at
    end of file, or, once the task is over and its processes ended, after a grace: a
    process that left with the pipe open cannot hold the run forever.
    """

    def __init__(self, log_fd: int, redactor: Redactor) -> None:
        self.log_fd = log_fd
        self.redactor = redactor
        self._read_fd, self.write_fd = os.pipe2(os.O_CLOEXEC)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._copy, name="output", daemon=True)

    def start(self) -> None:
        """The process holds the write end now: close ours, so end of file can come."""
        os.close(self.write_fd)
        self._thread.start()

    def close(self) -> None:
        """No process was started: nothing to copy."""
        os.close(self.write_fd)
        os.close(self._read_fd)

    def finish(self, grace_seconds: float) -> None:
        self._thread.join(timeout=max(grace_seconds, 1.0))
        self._done.set()
        self._thread.join()
        os.close(self._read_fd)

    def _copy(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], _WAIT_SECONDS)
            if not ready:
                if self._done.is_set():
                    break
                continue
            data = os.read(self._read_fd, _PIPE_READ_BYTES)
            if not data:
                break
            write_all(self.log_fd, self.redactor.feed(data))
        write_all(self.log_fd, self.redactor.flush())


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_tail(path: Path, *, max_bytes: int = TAIL_BYTES, max_lines: int = TAIL_LINES) -> str:
    """The last `max_lines` lines within the last `max_bytes` of a log, read from its end."""
    opened = open_log_file(path)  # a link a task put in the log's place is not read
    if opened is None:
        return ""
    with opened as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - max_bytes)
        file.seek(start)
        data = file.read(max_bytes)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-max_lines:])
