"""A run of a task asked for and how it ended, as plain data, wherever the task runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from amed.engine.plans import ExecutorSpec


@dataclass(frozen=True)
class RunRequest:
    """One run of one task. `run_dir` (`<state>/runs/<run_id>`) must not hold a `work` yet."""

    run_id: str
    project_dir: Path
    run_dir: Path
    executor: ExecutorSpec
    env: Mapping[str, str]
    exclude: tuple[str, ...]
    timeout_seconds: float
    venv_root: Path
    stop_grace_seconds: float = 10.0
    # Called with the working copy once it is made, before any setup: a consumer's data
    # sets are placed there. An exception fails the run with its message.
    prepare: Callable[[Path], None] | None = None
    # Values masked as *** in the log, the tail and the error: the task's secrets and the
    # daemon's credentials.
    redact: tuple[str, ...] = ()
    # Names (or `PREFIX_*` patterns) passed from the daemon's environment besides PASS_ENV.
    pass_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    `exit_code` is the task command's status (negative: killed by that signal), or None
    when the command never ran (its setup failed, a tool was missing). `error` is None
    exactly when the command exited 0, otherwise one line a person can act on.
    `output_tail` is the end of the output log, for error messages. Both are masked.
    `strays`: a process that had dropped its run's tag was ended at the end of this run;
    it may have been this run's and held its files open, so they must be copied, not
    linked, into a store.
    """

    run_id: str
    exit_code: int | None
    timed_out: bool
    cancelled: bool
    seconds: float
    workdir: Path
    log_path: Path
    output_tail: str
    error: str | None
    strays: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None
