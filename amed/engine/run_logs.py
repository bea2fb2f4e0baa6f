"""Opening a run's `output.log` for reading, the one way every reader does it.

A task runs as the daemon's user in `runs/<run id>/work`, so it can write next to its own
log: rename a symbolic link over `output.log` (or over its run directory) and every reader
that follows it would show whatever the link names, the state's secret files included, past
the masking its output went through. So the log is opened without following a link, and
only a regular file counts as one.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

OUTPUT_LOG_NAME = "output.log"


def open_output_log(runs_dir: Path, run_id: str) -> BinaryIO | None:
    """The run's output log open for reading, or None when there is none to show: missing,
    a symbolic link, not a regular file, or in a run directory that is itself a link."""
    run_dir = runs_dir / run_id
    if run_dir.is_symlink():
        return None
    return open_log_file(run_dir / OUTPUT_LOG_NAME)


def open_log_file(path: Path) -> BinaryIO | None:
    """`path` open for reading if it is a regular file and not a symbolic link, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # missing, or a link (ELOOP)
        return None
    log = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        log.close()
        return None
    return log
