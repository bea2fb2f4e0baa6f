"""One daemon per state dir: an exclusive `flock` on `<state dir>/amed.lock`.

Two daemons on one state dir would both act on the same records: both start the same run,
one sweeps the other's upload as debris. The lock is held for the life of the process and
released by the kernel when it ends, however it ends (a SIGKILL included), so there is no
stale lock to clean up. The file holds the holder's pid, for the message a second daemon
prints. The descriptor is not inherited by tasks: a task that outlives a killed daemon must
not keep the next one out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from amed.errors import ConfigError

LOCK_FILENAME = "amed.lock"
_PID_MAX_BYTES = 32


class StateDirInUse(ConfigError):
    """Another amed holds the state dir: a usage error (exit 2), reported in one line."""


class DaemonLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path) -> DaemonLock:
        """Take the state dir (created if missing, readable by its group), or raise
        StateDirInUse. The lock file stays the owner's: no reader needs it."""
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        path = state_dir / LOCK_FILENAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"another amed (pid {holder})" if holder else "another amed"
            raise StateDirInUse(
                f"{state_dir}: {who} is already running with this state directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Unlock; the file stays (removing it would let two daemons lock two files)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, _PID_MAX_BYTES, 0).decode("ascii").strip()
        return int(text) if text else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
