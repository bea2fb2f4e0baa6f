"""The one place where amed starts processes: a task's run, from working copy to exit.

A run copies the project into `<run_dir>/work`, prepares what the executor needs (a shared
virtualenv for `!pip`, `poetry install` / `pipenv install`), then runs the task's command
there. Every process of the run, setup included:

- runs in its own session and process group, with stdin from /dev/null, so the whole group
  can be stopped (SIGTERM, then SIGKILL after the grace period) on timeout or cancel, and
  processes it left behind are stopped when it exits;
- writes stdout and stderr straight into `<run_dir>/output.log` through the file descriptor,
  so no pipe can fill up or be held open by a grandchild, and output is never kept in memory;
- gets the daemon's environment without the variables that belong to the daemon alone
  (`NOTIFY_SOCKET`, `WATCHDOG_*`, `LISTEN_*`), plus the task's env and `AME_RUN_ID`.

`run_task` reports every failure of the task, its setup or its environment in the result;
it raises only for programming errors (such as a run directory that was used before).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from amed import logs
from amed.executors import (
    REQUIREMENTS_FILE,
    ExecutorSpec,
    Plan,
    major_minor,
    plan_for,
    python_version_probe,
    requirements_to_install,
    venv_create_command,
    venv_install_command,
    venv_key,
)
from amed.workspace import make_working_copy

log = logs.named(__name__)

WORK_DIR_NAME = "work"
OUTPUT_LOG_NAME = "output.log"
TAIL_BYTES = 2048
TAIL_LINES = 20

_POLL_SECONDS = 0.05
_PROBE_TIMEOUT_SECONDS = 30.0
_DAEMON_ONLY_NAMES = frozenset({"NOTIFY_SOCKET"})
_DAEMON_ONLY_PREFIXES = ("WATCHDOG_", "LISTEN_")
_PROC = Path("/proc")
_BUILD_PLAN = Plan(
    setup=(),
    argv=(),
    env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    env_remove=("VIRTUAL_ENV", "PYTHONHOME"),
)
"""Building a virtualenv must not see the daemon's own one."""


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


@dataclass(frozen=True)
class RunResult:
    """How a run ended.

    `exit_code` is the task command's status (negative: killed by that signal), or None
    when the command never ran (its setup failed, a tool was missing). `error` is None
    exactly when the command exited 0, otherwise one line a person can act on.
    `output_tail` is the end of the output log, for error messages.
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

    @property
    def ok(self) -> bool:
        return self.error is None


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


def run_task(
    req: RunRequest,
    *,
    cancel: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunResult:
    """Run one task to its end and say how it went; see the module docstring.

    `timeout_seconds` counts from the call, so it covers the copy and the setup too.
    Setting `cancel` stops the run the same way a timeout does. `on_start` is called with
    the pid of the task's command (not of its setup) as soon as it has started.
    """
    started = time.monotonic()
    work = req.run_dir / WORK_DIR_NAME
    log_path = req.run_dir / OUTPUT_LOG_NAME
    # Run directories and logs may hold what a task printed (a token, a path): owner only.
    req.run_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    req.run_dir.mkdir(exist_ok=True, mode=0o700)
    if work.exists() or work.is_symlink():
        raise FileExistsError(f"{work} already exists: every run needs a run id of its own")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
    log_fd = os.open(log_path, flags, 0o600)
    try:
        run = _Run(req, work, log_fd, cancel or threading.Event(), started)
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
        output_tail=read_tail(log_path),
        error=error,
    )


def task_environment(
    base: Mapping[str, str], task_env: Mapping[str, str], *, run_id: str, plan: Plan
) -> dict[str, str]:
    """The environment a task's processes get.

    The daemon's own variables come first, without those that would let a task speak for
    the daemon; then the task's env, the executor's, the PATH prefix and `AME_RUN_ID`.
    """
    env = dict(base)
    for name in plan.env_remove:
        env.pop(name, None)
    env.update(task_env)
    env.update(plan.env)
    if plan.path_prepend:
        rest = [env["PATH"]] if env.get("PATH") else []
        env["PATH"] = os.pathsep.join([*plan.path_prepend, *rest])
    env["AME_RUN_ID"] = run_id
    return {
        name: value
        for name, value in env.items()
        if name not in _DAEMON_ONLY_NAMES and not name.startswith(_DAEMON_ONLY_PREFIXES)
    }


def read_tail(path: Path, *, max_bytes: int = TAIL_BYTES, max_lines: int = TAIL_LINES) -> str:
    """The last `max_lines` lines within the last `max_bytes` of a log, read from its end."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            file.seek(start)
            data = file.read(max_bytes)
    except FileNotFoundError:
        return ""
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-max_lines:])


@dataclass(frozen=True)
class _Exit:
    code: int
    timed_out: bool = False
    cancelled: bool = False


class _Run:
    """The state of one run while it goes: where to log, until when, whether to stop."""

    def __init__(
        self, req: RunRequest, work: Path, log_fd: int, cancel: threading.Event, started: float
    ) -> None:
        self.req = req
        self.work = work
        self.log_fd = log_fd
        self.cancel = cancel
        self.deadline = started + req.timeout_seconds

    def execute(self, on_start: Callable[[int], None] | None) -> int:
        executor = self.req.executor
        if executor.kind == "pip":
            build_env = self._environment(_BUILD_PLAN)
            version, interpreter = self._resolve_python(build_env)
            self._copy_project()
            venv = self._ensure_venv(version, interpreter, build_env)
            plan = plan_for(executor, venv_dir=venv)
        else:
            plan = plan_for(executor, venv_dir=None)
            if plan.needs_tool is not None:
                env = self._environment(plan)
                if shutil.which(plan.needs_tool, path=env.get("PATH")) is None:
                    raise _RunFailed(f"executor !{executor.kind} needs '{plan.needs_tool}' on PATH")
            self._copy_project()
        env = self._environment(plan)
        for argv in plan.setup:
            self._step(argv, env, failure=f"setup command '{shlex.join(argv)}'")
        outcome = self._run(plan.argv, env, on_start=on_start)
        if outcome.code != 0:
            raise self._failure(outcome, "", exit_code=outcome.code)
        return outcome.code

    def _environment(self, plan: Plan) -> dict[str, str]:
        return task_environment(os.environ, self.req.env, run_id=self.req.run_id, plan=plan)

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

    def _ensure_venv(self, version: str, interpreter: str, env: Mapping[str, str]) -> Path:
        """The shared virtualenv for this Python and requirements.txt, built if missing.

        It is built in a directory of its own next to the others, then published by
        creating the `<venv_root>/<key>` symlink to it: creating a symlink either succeeds
        or finds one there, so a run sees a complete virtualenv or none, and when two
        runs race the loser removes its build and uses the winner's. The build is never
        renamed, because a virtualenv's scripts hold its absolute path.
        """
        try:
            return self._build_venv(version, interpreter, env)
        except OSError as error:
            raise _RunFailed(f"could not create the venv: {_one_line(error)}") from None

    def _build_venv(self, version: str, interpreter: str, env: Mapping[str, str]) -> Path:
        requirements_path = self.work / REQUIREMENTS_FILE
        requirements = requirements_path.read_bytes() if requirements_path.is_file() else None
        key = venv_key(python_version=version, interpreter=interpreter, requirements=requirements)
        link = self.req.venv_root / key
        if link.is_dir():
            return link
        self.req.venv_root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=self.req.venv_root))
        published = False
        try:
            failure = "could not create the venv: '{}'"
            create = venv_create_command(interpreter, build)
            self._step(create, env, failure=failure.format(f"{interpreter} -m venv"))
            if requirements_to_install(requirements):
                install = venv_install_command(build, requirements_path)
                self._step(install, env, failure=failure.format("pip install -r requirements.txt"))
            published = self._publish(build, link)
        finally:
            if not published:
                shutil.rmtree(build, ignore_errors=True)
        if published:
            log.info("venv_created", venv=str(link), python=version)
        return link

    @staticmethod
    def _publish(build: Path, link: Path) -> bool:
        """Point `link` at `build`; False when another run published first."""
        for _ in range(2):
            try:
                link.symlink_to(build.name, target_is_directory=True)
                return True
            except FileExistsError:
                if link.is_dir():
                    return False
                link.unlink(missing_ok=True)
        raise _RunFailed(f"could not create the venv: {link} keeps being replaced")

    def _resolve_python(self, env: Mapping[str, str]) -> tuple[str, str]:
        """The `major.minor` and interpreter for a `!pip` executor's pythonVersion."""
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        requested = self.req.executor.python_version
        if requested is None:
            return running, sys.executable
        try:
            wanted = major_minor(requested)
        except ValueError as error:
            raise _RunFailed(str(error)) from None
        if wanted == running:
            return running, sys.executable
        interpreter = shutil.which(f"python{wanted}", path=env.get("PATH"))
        if interpreter is None or _probe_version(interpreter, env) != wanted:
            raise _RunFailed(f"Python {wanted} is not installed (needed by !pip pythonVersion)")
        return wanted, interpreter

    def _step(self, argv: Sequence[str], env: Mapping[str, str], *, failure: str) -> None:
        """Run a command the task needs before its own; raise if it does not exit 0."""
        os.write(self.log_fd, f"amed: $ {shlex.join(argv)}\n".encode())
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
            name = _signal_name(-outcome.code)
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
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=self.work,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=self.log_fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except (OSError, ValueError) as error:
            raise _RunFailed(f"could not start '{argv[0]}': {_one_line(error)}") from None
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
                    _stop_group(process, grace_seconds)
                    return _Exit(_returncode(process), cancelled=True)
                if time.monotonic() >= self.deadline:
                    _stop_group(process, grace_seconds)
                    return _Exit(_returncode(process), timed_out=True)
        except BaseException:
            _stop_group(process, 0.0)
            raise
        if _group_alive(process.pid):
            log.warning("leftover_processes_stopped", run_id=self.req.run_id, pgid=process.pid)
            _stop_group(process, grace_seconds)
        return _Exit(code)


def _stop_group(process: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM the process group; SIGKILL it if anything of it still lives after the grace.

    The leader is reaped here. Its pid is the group id; while any member lives the kernel
    does not give that number to another process, so signalling the group is safe.
    """
    pgid = process.pid
    _signal_group(pgid, signal.SIGTERM)
    until = time.monotonic() + grace_seconds
    while time.monotonic() < until:
        if process.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(_POLL_SECONDS)
    if process.poll() is None or _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies do not count)."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 2 and fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            return True
    return False


def _returncode(process: subprocess.Popen[bytes]) -> int:
    code = process.returncode
    return code if code is not None else -signal.SIGKILL


def _probe_version(interpreter: str, env: Mapping[str, str]) -> str | None:
    """The `major.minor` an interpreter reports, or None when it does not run."""
    try:
        completed = subprocess.run(
            list(python_version_probe(interpreter)),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.decode(errors="replace").strip()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
