"""The one place where amed starts processes: a task's run, from working copy to exit.

A run copies the project into `<run_dir>/work`, prepares what the executor needs (a shared
virtualenv for `!pip`, `poetry install` / `pipenv install`), then runs the task's command
there. Every process of the run, setup included:

- runs in its own session and process group, with stdin from /dev/null, so the whole group
  can be stopped (SIGTERM, then SIGKILL after the grace period) on timeout or cancel; when
  it exits, every process it started is ended, in its group or not (amed.engine.proctree);
- writes stdout and stderr into `<run_dir>/output.log` (mode 0600): straight through the
  file descriptor when there is nothing to mask, else through a pipe that amed.engine.redact
  masks every secret value in before a byte is written; output is never kept in memory;
- gets a clean environment, never the daemon's: the names of `PASS_ENV` (and of
  `tasks.pass_env`) taken from the daemon's, then the task's env and secrets, and
  `AME_RUN_ID`, which also marks every process of the run.

`run_task` reports every failure of the task, its setup or its environment in the result;
it raises only for programming errors (such as a run directory that was used before).
"""

from __future__ import annotations

import contextlib
import os
import select
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
from amed.engine import proctree
from amed.engine.executors import (
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
from amed.engine.redact import Redactor
from amed.engine.workspace import make_working_copy

log = logs.named(__name__)

WORK_DIR_NAME = "work"
OUTPUT_LOG_NAME = "output.log"
TAIL_BYTES = 2048
TAIL_LINES = 20

_POLL_SECONDS = 0.05
_PROBE_TIMEOUT_SECONDS = 30.0
_PIPE_READ_BYTES = 64 * 1024
_DAEMON_ONLY_NAMES = frozenset({"NOTIFY_SOCKET"})
_DAEMON_ONLY_PREFIXES = ("WATCHDOG_", "LISTEN_")
"""Never passed, even when asked for: with them a task could speak for the daemon."""
_PROC = Path("/proc")

PASS_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "TZ",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
)
"""What a task takes from the daemon's environment: where programs, home and temporary
files are, the locale, and how to reach package indexes and proxies. Nothing else: the
daemon's environment may hold store credentials, and a task must not be able to read
them. More names (or `PREFIX_*` patterns) come from `tasks.pass_env`."""
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
    proctree.become_subreaper()
    redactor = Redactor(req.redact)
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


def task_environment(
    base: Mapping[str, str],
    task_env: Mapping[str, str],
    *,
    run_id: str,
    plan: Plan,
    pass_env: Sequence[str] = (),
) -> dict[str, str]:
    """The environment a task's processes get.

    The names of PASS_ENV and `pass_env` from the daemon's environment come first; then
    the task's env (and secrets), the executor's, the PATH prefix and `AME_RUN_ID`.
    """
    env = passed_env(base, pass_env)
    env.setdefault("PATH", os.defpath)
    for name in plan.env_remove:
        env.pop(name, None)
    env.update(task_env)
    env.update(plan.env)
    if plan.path_prepend:
        rest = [env["PATH"]] if env.get("PATH") else []
        env["PATH"] = os.pathsep.join([*plan.path_prepend, *rest])
    env[proctree.RUN_TAG] = run_id
    return env


def passed_env(base: Mapping[str, str], extra: Sequence[str] = ()) -> dict[str, str]:
    """The daemon's variables a task may see: PASS_ENV and `extra`, exact names or
    `PREFIX_*` patterns."""
    names = {n for n in (*PASS_ENV, *extra) if not n.endswith("*")}
    prefixes = tuple(n[:-1] for n in (*PASS_ENV, *extra) if n.endswith("*") and len(n) > 1)
    return {
        name: value
        for name, value in base.items()
        if (name in names or (prefixes and name.startswith(prefixes)))
        and name not in _DAEMON_ONLY_NAMES
        and not name.startswith(_DAEMON_ONLY_PREFIXES)
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
        self,
        req: RunRequest,
        work: Path,
        log_fd: int,
        cancel: threading.Event,
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
        copier = _Copier(self.log_fd, self.redactor) if self.redactor else None
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
                    _stop_group(process, grace_seconds)
                    self._end_the_rest(process.pid, grace_seconds)
                    return _Exit(_returncode(process), cancelled=True)
                if time.monotonic() >= self.deadline:
                    _stop_group(process, grace_seconds)
                    self._end_the_rest(process.pid, grace_seconds)
                    return _Exit(_returncode(process), timed_out=True)
        except BaseException:
            _stop_group(process, 0.0)
            self._end_the_rest(process.pid, 0.0)
            raise
        self._end_the_rest(process.pid, grace_seconds)
        return _Exit(code)

    def _end_the_rest(self, pgid: int, grace_seconds: float) -> None:
        """Nothing the run started may outlive it: see amed.engine.proctree."""
        if proctree.end_run(self.req.run_id, pgid, grace_seconds):
            self.strays = True


class _Copier:
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
        os.close(self.write_fd)
        self._thread.start()

    def close(self) -> None:
        os.close(self.write_fd)
        os.close(self._read_fd)

    def finish(self, grace_seconds: float) -> None:
        self._thread.join(timeout=max(grace_seconds, 1.0))
        self._done.set()
        self._thread.join()
        os.close(self._read_fd)

    def _copy(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], _POLL_SECONDS * 4)
            if not ready:
                if self._done.is_set():
                    break
                continue
            data = os.read(self._read_fd, _PIPE_READ_BYTES)
            if not data:
                break
            self._write(self.redactor.feed(data))
        self._write(self.redactor.flush())

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.log_fd, view)
            view = view[written:]


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
        with proctree.starting() as started:
            process = subprocess.Popen(
                list(python_version_probe(interpreter)),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            started(process.pid)
    except OSError:
        return None
    try:
        stdout, _ = process.communicate(timeout=_PROBE_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    finally:
        proctree.waited(process.pid)
    if process.returncode != 0:
        return None
    return stdout.decode(errors="replace").strip()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
