"""The `local` engine: tasks run as child processes of the daemon (amed.engine.local_run)."""

from __future__ import annotations

from amed.engine.base import RunRequest, RunResult
from amed.engine.environment import PASS_ENV
from amed.engine.local_run import OUTPUT_LOG_NAME, WORK_DIR_NAME, run_task

__all__ = [
    "OUTPUT_LOG_NAME",
    "PASS_ENV",
    "WORK_DIR_NAME",
    "RunRequest",
    "RunResult",
    "run_task",
]
