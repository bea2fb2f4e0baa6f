"""One run of the `local` engine: a task as child processes of the daemon, from working copy
to exit.

A run copies the project into `<run_dir>/work`, prepares what the executor's plan needs (a
shared virtualenv, amed.engine.venvs; setup commands such as `poetry install`), then runs
the task's command there. Every process of the run, setup included:

- runs in its own session and process group, with stdin from /dev/null, so the whole group
  can be stopped (amed.engine.process_group) on timeout or cancel; when it exits, every
  process it started is ended, in its group or not (amed.engine.proctree);
- writes stdout and stderr into `<run_dir>/output.log` (mode 0600): straight through the
  file descriptor when there is nothing to mask, else through a pipe that
  amed.engine.output masks every secret value in before a byte is written;
- gets a clean environment, never the daemon's (amed.engine.environment).

`run_task` reports every failure of the task, its setup or its environment in the result;
it raises only for programming errors (such as a run directory that was used before).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from amed.engine import proctree
from amed.engine.base import RunRequest, RunResult
from amed.engine.environment import task_environment
from amed.engine.executors import plan_for
from amed.engine.output import OutputCopier, read_tail, write_all
from amed.engine.plans import Plan
from amed.engine.process_group import returncode, signal_name, stop_group
from amed.engine.redact import Redactor
from amed.engine.run_logs import OUTPUT_LOG_NAME
from amed.engine.venvs import BUILD_PLAN, VenvError, activate, ensure_venv, resolve_python
from amed.engine.workspace import make_working_copy

WORK_DIR_NAME = "work"

_POLL_SECONDS = 0.05


class Cancel(Protocol):
    """Anything that says whether a run must stop; a `threading.Event` will do."""

    def is_set(self) -> bool: ...


def run_task(
    req: RunRequest,
    *,
    cancel: Cancel | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunResult:
    """Run one task to its end and say how it went; see the module docstring.

    `timeout_seconds` counts from the call, so it covers the copy and the setup too.
    Setting `cancel` stops the run the same way a timeout does. `on_start` is called with
    the pid of the task's command (not of its setup) as soon as it has started.
    """
    started = time.monotonic()
    proctree.become_subreaper()
    redactor = Redactor(req.redact)
    work = req.run_dir / WORK_DIR_NAME
    log_path = req.run_dir / OUTPUT_LOG_NAME
    # Run directories and logs hold what a task printed (secrets masked): the owner and the
    # state's group (`ame ds logs` as a member of it), nobody else.
    req.run_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    req.run_dir.mkdir(exist_ok=True, mode=0o750)
    if work.exists() or work.is_symlink():
        raise FileExistsError(f"{work} already exists: every run needs a run id of its own")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
    log_fd = os.open(log_path, flags, 0o640)
    try:
        run = _Run(req, work, log_fd, cancel or threading.Event(), started, redactor)
        try:
            exit_code: int | None = run.execute(on_start)
            error: str | None = None
            timed_out = cancelled = False
        except _RunFailed as failure:
            exit_code, error = failure.exit_code, failure.message
            timed_out, cancelled = failure.timed_out, failure.cancelled
    finally:
        os.close(log_fd)
    return RunResult(
        run_id=req.run_id,
        exit_code=exit_code,
        timed_out=timed_out,
        cancelled=cancelled,
        seconds=time.monotonic() - started,
        workdir=work,
        log_path=log_path,
        output_tail=redactor.text(read_tail(log_path)),
        error=redactor.optional(error),
        strays=run.strays,
    )


class _RunFailed(Exception):
    """A run stopped early: the message is the result's error line."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        timed_out: bool = False,
        cancelled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.cancelled = cancelled


@dataclass(frozen=True)
class _Exit:
    code: int
    timed_out: bool = False
    cancelled: bool = False


class _Run:
    """The state of one run while it goes: where to log, until when, whether to stop."""

    def __init__(
        self,
        req: RunRequest,
        work: Path,
        log_fd: int,
        cancel: Cancel,
        started: float,
        redactor: Redactor,
    ) -> None:
        self.req = req
        self.work = work
        self.log_fd = log_fd
        self.cancel = cancel
        self.deadline = started + req.timeout_seconds
        self.redactor = redactor
        self.strays = False

    def execute(self, on_start: Callable[[int], None] | None) -> int:
        executor = self.req.executor
        try:
            plan = plan_for(executor)
        except ValueError as error:
            raise _RunFailed(str(error)) from None
        if plan.needs_tool is not None:
            path = self._environment(plan).get("PATH")
            if shutil.which(plan.needs_tool, path=path) is None:
                raise _RunFailed(f"executor !{executor.kind} needs '{plan.needs_tool}' on PATH")
        if plan.venv is not None:
            plan = self._in_venv(plan, plan.venv.python_version)
        else:
            self._copy_project()
        env = self._environment(plan)
        for argv in plan.setup:
            self._step(argv, env, f"setup command '{shlex.join(argv)}'")
        outcome = self._run(plan.argv, env, on_start=on_start)
        if outcome.code != 0:
            raise self._failure(outcome, "", exit_code=outcome.code)
        return outcome.code

    def _in_venv(self, plan: Plan, python_version: str | None) -> Plan:
        """The plan run in its shared virtualenv; the Python is found before the copy, so
        that a missing one costs nothing."""
        build_env = self._environment(BUILD_PLAN)
        try:
            version, interpreter = resolve_python(python_version, build_env)
            self._copy_project()
            venv_dir = ensure_venv(
                root=self.req.venv_root,
                work=self.work,
                version=version,
                interpreter=interpreter,
                env=build_env,
                step=self._step,
            )
        except VenvError as error:
            raise _RunFailed(str(error)) from None
        return activate(plan, venv_dir)

    def _environment(self, plan: Plan) -> dict[str, str]:
        return task_environment(
            os.environ, self.req.env, run_id=self.req.run_id, plan=plan, pass_env=self.req.pass_env
        )

    def _copy_project(self) -> None:
        try:
            make_working_copy(self.req.project_dir, self.work, exclude=self.req.exclude)
        except shutil.Error as error:
            problems = error.args[0] if error.args and isinstance(error.args[0], list) else []
            if not problems:
                raise _RunFailed(f"could not copy the project: {_one_line(error)}") from None
            source, _, why = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise _RunFailed(f"could not copy the project: {source}: {why}{more}") from None
        except OSError as error:
            raise _RunFailed(f"could not copy the project: {_one_line(error)}") from None
        if self.req.prepare is not None:
            try:
                self.req.prepare(self.work)
            except Exception as error:  # noqa: BLE001 - any failure to place data ends the run
                raise _RunFailed(f"could not place the data sets: {_one_line(error)}") from None

    def _step(self, argv: Sequence[str], env: Mapping[str, str], failure: str) -> None:
        """Run a command the task needs before its own; raise if it does not exit 0."""
        line = self.redactor.text(f"amed: $ {shlex.join(argv)}\n")  # masked as output is
        write_all(self.log_fd, line.encode())
        outcome = self._run(argv, env)
        if outcome.code != 0:
            raise self._failure(outcome, failure, exit_code=None)

    def _failure(self, outcome: _Exit, what: str, *, exit_code: int | None) -> _RunFailed:
        if outcome.timed_out:
            return self._timed_out(exit_code)
        if outcome.cancelled:
            return _RunFailed("cancelled", exit_code=exit_code, cancelled=True)
        prefix = f"{what} " if what else ""
        if outcome.code < 0:
            name = signal_name(-outcome.code)
            return _RunFailed(f"{prefix}was killed by signal {name}", exit_code=exit_code)
        return _RunFailed(f"{prefix}exited with code {outcome.code}", exit_code=exit_code)

    def _timed_out(self, exit_code: int | None = None) -> _RunFailed:
        message = f"timed out after {self.req.timeout_seconds:g} s"
        return _RunFailed(message, exit_code=exit_code, timed_out=True)

    def _run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        on_start: Callable[[int], None] | None = None,
    ) -> _Exit:
        """Run one process group to its end, the timeout or the cancel, whichever is first."""
        if self.cancel.is_set():
            raise _RunFailed("cancelled", cancelled=True)
        if time.monotonic() >= self.deadline:
            raise self._timed_out()
        copier = OutputCopier(self.log_fd, self.redactor) if self.redactor else None
        try:
            with proctree.starting() as started:
                process = subprocess.Popen(
                    list(argv),
                    cwd=self.work,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=copier.write_fd if copier else self.log_fd,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                started(process.pid)
        except (OSError, ValueError) as error:
            if copier is not None:
                copier.close()
            raise _RunFailed(f"could not start '{argv[0]}': {_one_line(error)}") from None
        if copier is not None:
            copier.start()
        try:
            return self._wait(process, on_start)
        finally:
            proctree.waited(process.pid)
            if copier is not None:
                copier.finish(self.req.stop_grace_seconds)

    def _wait(
        self, process: subprocess.Popen[bytes], on_start: Callable[[int], None] | None
    ) -> _Exit:
        grace_seconds = self.req.stop_grace_seconds
        try:
            if on_start is not None:
                on_start(process.pid)
            while True:
                remaining_seconds = self.deadline - time.monotonic()
                try:
                    code = process.wait(timeout=max(0.0, min(_POLL_SECONDS, remaining_seconds)))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self.cancel.is_set():
                    stop_group(process, grace_seconds)
                    self._end_the_rest(process.pid, grace_seconds)
                    return _Exit(returncode(process), cancelled=True)
                if time.monotonic() >= self.deadline:
                    stop_group(process, grace_seconds)
                    self._end_the_rest(process.pid, grace_seconds)
                    return _Exit(returncode(process), timed_out=True)
        except BaseException:
            stop_group(process, 0.0)
            self._end_the_rest(process.pid, 0.0)
            raise
        self._end_the_rest(process.pid, grace_seconds)
        return _Exit(code)

    def _end_the_rest(self, pgid: int, grace_seconds: float) -> None:
        """Nothing the run started may outlive it: see amed.engine.proctree."""
        if proctree.end_run(self.req.run_id, pgid, grace_seconds):
            self.strays = True


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
