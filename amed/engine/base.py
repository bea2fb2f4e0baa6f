"""What an engine is: the one door through which amed runs a task, wherever it runs.

The act side asks an engine to start a run and waits for, polls or cancels it; it never
starts a process itself. `local` runs tasks as child processes of the daemon
(amed.engine.local); another engine may run them elsewhere, so the request and the result
are plain data, and a run is named by its run id, which outlives the daemon: after a
restart, `attach` asks the engine for a run an earlier daemon started.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from amed.engine.plans import ExecutorSpec


@dataclass(frozen=True)
class InputVersion:
    """A committed version to place at `path` in the working copy; `digest`: the content
    digest its manifest must have (None: not checked)."""

    name: str
    version: int
    path: str
    digest: str | None = None


@dataclass(frozen=True)
class OutputVersion:
    """The version a producing run stores from `path` in its working copy."""

    dataset: str
    version: int
    path: str
    created_at: str
    budget_bytes: int | None = None


@dataclass(frozen=True)
class StoreWork:
    """What a run on another machine does with the store itself, as plain data: it places
    `inputs` and stores `output` (files, then the manifest, as the daemon would), so that
    data never passes through the daemon. `store_url` carries no credentials: the machine
    running the task takes them from its own environment. The local engine ignores this
    (the daemon places and stores through `prepare` and amed.act.produce)."""

    store_url: str
    state_id: str
    project: str
    inputs: tuple[InputVersion, ...] = ()
    output: OutputVersion | None = None


@dataclass(frozen=True)
class Resources:
    """What a task asks of the machine that runs it; the local engine does not hold it to
    them, an engine that places tasks on a cluster reserves them."""

    cpu: float | None = None
    gpus: int | None = None
    memory_bytes: int | None = None


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
    resources: Resources = Resources()
    store_work: StoreWork | None = None


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
    # The run stored `store_work.output` itself (its manifest is written): the daemon checks
    # it and commits, it does not store the working copy. `stage` says where a failed run
    # failed ("task", "store" or "space"), for engines that store themselves.
    stored: bool = False
    stage: str = "task"
    # The digest of the manifest the run wrote, when it stored: the daemon commits that
    # manifest and no other (one an earlier attempt left is not this run's).
    manifest_digest: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Detached(Exception):
    """The daemon stops and leaves this run going (an engine whose runs outlive it, told to
    detach): nothing is recorded, so that the next daemon attaches to it again."""


class CannotAttach(Exception):
    """The engine cannot follow this run (any more); one line that says why. Whatever the
    run left behind has been or will be ended by `end_leftovers`, never adopted."""


class Run(Protocol):
    """A run an engine started or attached to."""

    @property
    def run_id(self) -> str: ...

    def poll(self) -> RunResult | None:
        """The result once the run is over, else None; never blocks."""
        ...

    def wait(self) -> RunResult:
        """Block until the run is over. Failures of the task are in the result; an
        exception means the engine itself failed (a programming error)."""
        ...

    def cancel(self) -> None:
        """Ask the run to stop as on a timeout; `wait` then reports it cancelled."""
        ...


class ThreadedRun:
    """What a run followed on a thread of its own has whatever the engine: the result kept
    with the handle once it is over, and the thread started with the starter's bound log
    context (data set, run id). An engine's run sets `_result` from its thread."""

    def __init__(self) -> None:
        self._result: Future[RunResult] = Future()

    def _start_thread(self, name: str, target: Callable[..., None], *args: object) -> None:
        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(target, *args), name=name).start()

    def poll(self) -> RunResult | None:
        return self._result.result() if self._result.done() else None

    def wait(self) -> RunResult:
        return self._result.result()


class Engine(Protocol):
    """Where tasks run. Picked by name from amed.engine.engines.ENGINES."""

    @property
    def name(self) -> str: ...

    def start(self, request: RunRequest, *, cancel: threading.Event | None = None) -> Run:
        """Begin a run and return at once. Setting `cancel` (one event for many runs,
        such as the daemon's stop) cancels it as `Run.cancel` does."""
        ...

    def attach(self, run_id: str, *, cancel: threading.Event | None = None) -> Run:
        """The run with this id, to wait for or cancel again; CannotAttach when the engine
        cannot follow it (for instance, it was started by a daemon that is gone). `cancel`
        is as for `start`, for a run found again that this daemon did not start."""
        ...

    def end_leftovers(self, runs_dir: Path) -> int:
        """At a daemon's start, before any run: end what runs under `runs_dir` left that
        nobody can attach to; how many were ended."""
        ...
