"""Producing one data set version: place its inputs, run the task, store its output, record
each outcome.

Runs in a worker thread (amed.act.runs). The events of a run come in a fixed order
(`run_started` is appended before the worker starts, then `run_succeeded` and
`version_stored`, or `run_failed`), and `version_stored` is appended only after the manifest
is in the store: a crash at any point leaves at worst debris that the next sweep deletes,
never a `ready` data set without its data. The inputs are in use from `run_started` to the
run's last event; `version_stored` records what the version was made from (its identity).
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from amed import logs
from amed.act.inputs import Placed
from amed.act.requests import engine_for, task_request
from amed.act.runs import Runs, RunSetup
from amed.engine.base import Detached, OutputVersion, Run, RunRequest, RunResult
from amed.engine.redact import Redactor
from amed.engine.secrets import SecretError
from amed.errors import OutOfSpace, StoreError
from amed.plan.actions import Produce
from amed.plan.backoff import retry_delay_seconds
from amed.store.manifest import Manifest
from amed.store.objects import ObjectStore
from spec import format_bytes
from state.events import Event, RunFailed, RunStarted, RunSucceeded, VersionStored
from state.timefmt import format_time

Stage = Literal["task", "store", "space"]
_STAGES: dict[str, Stage] = {"task": "task", "store": "store", "space": "space"}


def _leaves(workdir: Path, data_path: str) -> str | None:
    """Why the data directory may not be stored, if it resolves outside the working copy:
    a task that links `data` to /etc must not have /etc uploaded. The store itself never
    follows links out of the data directory; this guards the directory's own path."""
    source = workdir / data_path
    try:
        real = source.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        return None  # missing: the store says the task did not create it
    if real.is_relative_to(workdir.resolve()):
        return None
    return f"{data_path} leads outside the task's working copy (a symbolic link?); nothing stored"


class Producer:
    def __init__(
        self,
        store: ObjectStore,
        append: Callable[[list[Event]], None],
        runs: Runs,
        clock: Callable[[], datetime],
        jitter: Callable[[], float],
        report_store: Callable[[StoreError | None], None],
        credentials: tuple[str, ...],
    ) -> None:
        """`report_store`: how the store answered (amed.act.upkeep.StoreHealth).
        `credentials`: the store's and alert channels' secrets, masked in what tasks print."""
        self.store = store
        self.append = append
        self.runs = runs
        self.clock = clock
        self.jitter = jitter
        self.report_store = report_store
        self.credentials = credentials

    def start(self, action: Produce, setup: RunSetup) -> None:
        data_set = action.data_set
        run_id = f"{data_set.name}-v{action.version}-{secrets.token_hex(3)}"
        started = RunStarted(
            at=self.clock(),
            project=action.project,
            dataset=data_set.name,
            run_id=run_id,
            version=action.version,
            spec_hash=data_set.spec_hash,
            task=data_set.producer.name,
            attempt=action.attempt,
            inputs={i.name: i.version for i in action.inputs},
            code_digest=action.code_digest,
        )
        self.runs.start(run_id, started, lambda: self.produce(action, run_id, setup))
        logs.get().info(
            "run_started",
            dataset=data_set.name,
            run_id=run_id,
            version=action.version,
            attempt=action.attempt,
            reason=action.reason,
            inputs={i.name: i.version for i in action.inputs} or None,
            budget=format_bytes(action.budget_bytes) if action.budget_bytes is not None else None,
        )

    def produce(self, action: Produce, run_id: str, setup: RunSetup) -> None:
        data_set = action.data_set
        log = logs.get(dataset=data_set.name, run_id=run_id)
        try:
            request = self._request(action, run_id, setup)
            engine = engine_for(setup.settings, self.credentials)
            self._clear_uncommitted(action)
            run = engine.start(request, cancel=self.runs.cancel)
            self.finish(action, run, setup)
        except StoreError as exc:
            self.report_store(exc)
            self._failed(action, run_id, setup, "store", str(exc), None)
            log.warning("store_failed", error=str(exc))
        except SecretError as exc:
            self._failed(action, run_id, setup, "task", str(exc), None)
            log.warning("run_failed", error=str(exc))
        except Exception as exc:  # the daemon must outlive any one run
            log.exception("run_crashed")
            reason = Redactor(self.credentials).text(f"internal error: {exc}")
            self._failed(action, run_id, setup, "task", reason, None)
        finally:
            shutil.rmtree(setup.settings.state_dir / "runs" / run_id / "work", ignore_errors=True)

    def _clear_uncommitted(self, action: Produce) -> None:
        """Before every run, whichever engine stores its output: what an earlier attempt
        left under this number, even a manifest, is not committed (the number follows the
        last stored version), and only the daemon knows it. A cluster's worker deletes
        nothing, so a job the daemon no longer follows cannot delete a version that a
        later attempt stored and committed."""
        self.store.delete_version(action.project, action.data_set.name, action.version)

    def resume(self, action: Produce, run: Run, setup: RunSetup) -> None:
        """Finish a run an earlier daemon started (amed.act.reattach), as `produce` does."""
        log = logs.get(dataset=action.data_set.name, run_id=run.run_id)
        try:
            self.finish(action, run, setup)
        except Exception as exc:  # the daemon must outlive any one run
            log.exception("run_crashed")
            reason = Redactor(self.credentials).text(f"internal error: {exc}")
            self._failed(action, run.run_id, setup, "task", reason, None)

    def finish(self, action: Produce, run: Run, setup: RunSetup) -> None:
        """Wait for a run, started here or attached to after a restart, and record how it
        ended. Raises what the engine raises, except `Detached`: the run goes on without
        this daemon, and its next one records it."""
        data_set = action.data_set
        run_id = run.run_id
        log = logs.get(dataset=data_set.name, run_id=run_id)
        try:
            result = run.wait()
        except Detached:
            log.info("run_detached")
            return
        if not result.ok:
            stage = _STAGES.get(result.stage, "task")
            self._failed(action, run_id, setup, stage, result.error or "failed", result)
            log.warning("run_failed", error=result.error, exit_code=result.exit_code)
            return
        self.append(
            [
                RunSucceeded(
                    at=self.clock(),
                    project=action.project,
                    dataset=data_set.name,
                    run_id=run_id,
                    seconds=round(result.seconds, 3),
                )
            ]
        )
        log.info("run_succeeded", seconds=round(result.seconds, 3))
        if result.stored:
            self._commit_stored(action, run_id, setup, result.manifest_digest)
        else:
            self._store(action, run_id, setup, result)

    def _store(self, action: Produce, run_id: str, setup: RunSetup, result: RunResult) -> None:
        data_set = action.data_set
        log = logs.get(dataset=data_set.name, run_id=run_id)
        escape = _leaves(result.workdir, data_set.path)
        if escape is not None:
            self._failed(action, run_id, setup, "task", escape, None)
            log.warning("store_refused", error=escape)
            return
        began = self.clock()
        try:
            manifest = self.store.put_version(
                action.project,
                data_set.name,
                action.version,
                result.workdir / data_set.path,
                created_at=format_time(began),
                budget_bytes=action.budget_bytes,
                # The working copy is deleted once the run is over, and nothing the task
                # started still runs: its files may be linked into place. Not when a process
                # that hid from its run had to be ended: it may have held them open.
                owned=not result.strays,
                root=result.workdir,  # a file with a name outside the working copy is not stored
            )
        except StoreError as exc:
            self.report_store(exc)
            stage: Stage = "space" if isinstance(exc, OutOfSpace) else "store"
            self._failed(action, run_id, setup, stage, str(exc), None)
            log.warning("store_failed", error=str(exc), out_of_space=stage == "space")
            return
        self.report_store(None)
        self._commit(action, run_id, manifest, (self.clock() - began).total_seconds())

    def _commit_stored(
        self, action: Produce, run_id: str, setup: RunSetup, digest: str | None
    ) -> None:
        """The run stored the version itself (on a worker): commit it once its manifest is
        in the store, this state's, the one the run says it wrote (`digest`), and every
        file it lists is there with its size."""
        data_set = action.data_set
        log = logs.get(dataset=data_set.name, run_id=run_id)
        began = self.clock()
        try:
            manifest = self.store.read_manifest(action.project, data_set.name, action.version)
            problems = ["the run wrote no manifest"] if manifest is None else []
            if manifest is not None and manifest.content_digest != digest:
                problems = ["its manifest is not the one the run says it wrote"]
            elif manifest is not None:
                problems = self.store.verify(manifest)
        except StoreError as exc:
            self.report_store(exc)
            self._failed(action, run_id, setup, "store", str(exc), None)
            log.warning("store_failed", error=str(exc))
            return
        self.report_store(None)
        if manifest is None or problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            reason = f"version {action.version} as the run stored it: {problems[0]}{more}"
            self._failed(action, run_id, setup, "store", reason, None)
            log.warning("store_failed", error=reason)
            return
        self._commit(action, run_id, manifest, (self.clock() - began).total_seconds())

    def _commit(self, action: Produce, run_id: str, manifest: Manifest, seconds: float) -> None:
        data_set = action.data_set
        log = logs.get(dataset=data_set.name, run_id=run_id)
        for skipped in manifest.skipped:
            log.warning("file_skipped", detail=skipped)
        self.append(
            [
                VersionStored(
                    at=self.clock(),
                    project=action.project,
                    dataset=data_set.name,
                    run_id=run_id,
                    version=action.version,
                    spec_hash=data_set.spec_hash,
                    size_bytes=manifest.size_bytes,
                    files=len(manifest.files),
                    seconds=round(seconds, 3),
                    content_digest=manifest.content_digest,
                    code_digest=action.code_digest,
                    inputs={i.name: i.digest for i in action.inputs},
                )
            ]
        )
        log.info(
            "version_stored",
            version=action.version,
            bytes=manifest.size_bytes,
            files=len(manifest.files),
            seconds=round(seconds, 3),
        )
        try:  # only now: readers with nothing but the store trust what the pointer names
            self.store.publish(manifest)
        except StoreError as exc:  # the next sweep names it
            log.warning("publish_failed", version=action.version, error=str(exc))

    def _failed(
        self,
        action: Produce,
        run_id: str,
        setup: RunSetup,
        stage: Stage,
        reason: str,
        result: RunResult | None,
    ) -> None:
        now = self.clock()
        delay = retry_delay_seconds(
            action.attempt, self.jitter(), base_seconds=setup.settings.retry_base_seconds
        )
        self.append(
            [
                RunFailed(
                    at=now,
                    project=action.project,
                    dataset=action.data_set.name,
                    run_id=run_id,
                    stage=stage,
                    reason=reason,
                    exit_code=result.exit_code if result else None,
                    output_tail=result.output_tail if result else None,
                    retry_at=now + timedelta(seconds=delay),
                )
            ]
        )

    def _request(self, action: Produce, run_id: str, setup: RunSetup) -> RunRequest:
        data_set = action.data_set
        return task_request(
            data_set.producer,
            run_id,
            setup,
            env={"AME_DATASET": data_set.name, "AME_DATASET_PATH": data_set.path},
            store=self.store,
            project=action.project,
            inputs=[Placed(i.name, i.version, i.path, i.digest) for i in action.inputs],
            credentials=self.credentials,
            output=OutputVersion(
                dataset=data_set.name,
                version=action.version,
                path=data_set.path,
                created_at=format_time(self.clock()),
                budget_bytes=action.budget_bytes,
            ),
        )
