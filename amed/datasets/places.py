"""The three places a data set can be read from, and which one answers a call.

1. Inside a task that uses the data set (amed set `AME_TASK`, or `AME_DATASET` for a
   producing task with inputs): its version is already placed in the task's working copy,
   checked against its manifest. That copy is read; nothing goes over the network.
2. On the daemon's host: the state database (read-only) says which version is current,
   and why there is none (status, error); the bytes come from the daemon's store.
3. Anywhere else with store credentials (`store=` or `AME_STORAGE`): the data set's
   pointer in the store names the committed versions (amed.store.pointer).

A call that names a store goes to the store. Otherwise the task's copy answers for its own
inputs, a state database found here answers for the projects it knows, and `AME_STORAGE`
for the rest. Every store error leaves this module as a DatasetError.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from amed.datasets.errors import (
    ChecksumMismatch,
    DatasetError,
    Evicted,
    NoStoreReachable,
    NotReady,
    ReadError,
    UnknownDataset,
    VersionGone,
    VersionNotStored,
)
from amed.datasets.model import DatasetInfo, PlaceKind
from amed.errors import StoreError, StoreUnavailable, StoreURLError

if TYPE_CHECKING:
    from amed.store.manifest import Manifest
    from amed.store.objects import ObjectStore
    from spec import Project
    from state.read import StateReader
    from state.rows import DatasetRow

POLL_SECONDS = 0.5
GIVE_UP_STATUSES = ("failed", "blocked", "removed")
STORE_VARIABLE_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_")


@dataclass(frozen=True)
class Located:
    """One version of a data set, where a place found it: a `directory` holding its files
    (a task's working copy), or a `store` and the `manifest` to read them through."""

    project: str
    name: str
    version: int | None
    place: PlaceKind
    directory: Path | None = None
    store: ObjectStore | None = None
    manifest: Manifest | None = None

    @property
    def label(self) -> str:
        where = f"version {self.version}" if self.version is not None else "placed copy"
        return f"{self.project}/{self.name} ({where})"


class Place(Protocol):
    @property
    def kind(self) -> PlaceKind: ...

    def datasets(self, project: str | None) -> list[DatasetInfo]: ...

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located: ...


# ---- choosing the place -------------------------------------------------------------------


def place_for(
    name: str | None,
    *,
    project: str | None = None,
    store: str | None = None,
    version: int | None = None,
) -> Place:
    """The place that answers for `name` (None: for a listing). A pinned `version` is
    never answered from a task's copy, whose version number the task is not told."""
    if store is None and version is None:
        task = TaskPlace.here()
        if task is not None and (name is None or task.has(name, project)):
            return task
    if store is not None:
        return StorePlace(open_store_cached(store), project)
    state, looked = StatePlace.here()
    if state is not None and (project is None or state.knows_project(project)):
        return state
    url = os.environ.get("AME_STORAGE")
    if url:
        return StorePlace(open_store_cached(url), project)
    what = f"data set {name!r}" if name else "data sets"
    raise NoStoreReachable(
        f"no place to read {what} from: not inside a task that uses it, {looked}, and no "
        "store given (pass store='s3://bucket/prefix' or set AME_STORAGE)"
    )


_stores: dict[tuple[str, tuple[tuple[str, str], ...]], ObjectStore] = {}
_stores_lock = threading.Lock()


def open_store_cached(url: str) -> ObjectStore:
    """One store per URL and credentials in the environment, kept for the process: opening
    a remote store builds an HTTP client, and the manifests it checked are kept with it."""
    from amed.store.schemes import open_store

    credentials = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(STORE_VARIABLE_PREFIXES))
    )
    with _stores_lock:
        found = _stores.get((url, credentials))
        if found is None:
            with store_errors(url):
                found = open_store(url)
            _stores[(url, credentials)] = found
        return found


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """The store's errors as ours: unreachable, altered, gone, or failed."""
    from amed.store.publishing import NotPublished
    from amed.store.reading import ContentMismatch, ObjectGone

    try:
        yield
    except (StoreURLError, NotPublished) as exc:
        raise DatasetError(str(exc)) from None
    except StoreUnavailable as exc:
        raise NoStoreReachable(f"{exc}; is the store reachable?") from None
    except ContentMismatch as exc:
        raise ChecksumMismatch(str(exc)) from None
    except ObjectGone as exc:
        raise VersionGone(f"{exc}; read it again to get the current version") from None
    except StoreError as exc:
        raise ReadError(f"{what}: {exc}" if what not in str(exc) else str(exc)) from None


# ---- 1. a task's working copy -----------------------------------------------------------


@dataclass(frozen=True)
class TaskPlace:
    """The working copy of the task running this process, and the inputs placed in it."""

    root: Path
    project: str
    inputs: Mapping[str, Path]
    kind: PlaceKind = "task"

    @classmethod
    def here(cls) -> TaskPlace | None:
        """The task this process runs in, found from its environment and the ame.yaml of
        the working copy around the current directory; None outside a task."""
        task, producing = os.environ.get("AME_TASK"), os.environ.get("AME_DATASET")
        if not task and not producing:
            return None
        root = _project_root(Path.cwd())
        if root is None:
            return None
        spec = _load_spec(root)
        if spec is None:
            return None
        if task:
            found = spec.task(task)
            refs = found.data_sets if found is not None else ()
        else:
            data_set = spec.data_set(producing or "")
            refs = data_set.producer.data_sets if data_set is not None else ()
        inputs: dict[str, Path] = {}
        for ref in refs:
            declared = spec.data_set(ref.name)
            if ref.project not in (None, spec.name) or declared is None:
                continue
            directory = root / declared.path
            if directory.is_dir():
                inputs[ref.name] = directory
        return cls(root, spec.name, inputs)

    def has(self, name: str, project: str | None) -> bool:
        return name in self.inputs and project in (None, self.project)

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        if project not in (None, self.project):
            return []
        return [self._info(name) for name in sorted(self.inputs)]

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        if not self.has(name, project):
            raise UnknownDataset(
                f"{name}: not an input of this task (it uses: {', '.join(self.inputs) or 'none'})"
            )
        return Located(self.project, name, None, "task", directory=self.inputs[name])

    def _info(self, name: str) -> DatasetInfo:
        sizes = [p.stat().st_size for p in self.inputs[name].rglob("*") if p.is_file()]
        return DatasetInfo(
            name, self.project, "ready", None, sum(sizes), len(sizes), None, None, "task"
        )


def _project_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / "ame.yaml").is_file() or (directory / "ame.yml").is_file():
            return directory
    return None


_specs: dict[tuple[Path, int], Project] = {}


def _load_spec(root: Path) -> Project | None:
    """The working copy's ame.yaml, loaded once per process and file version."""
    from spec import SpecError, load_project

    file = root / "ame.yaml" if (root / "ame.yaml").is_file() else root / "ame.yml"
    try:
        key = (file, file.stat().st_mtime_ns)
        if key not in _specs:
            _specs[key] = load_project(file)
    except (OSError, SpecError):
        return None
    return _specs[key]


# ---- 2. the daemon's state database ------------------------------------------------------


class StatePlace:
    """A daemon's state directory on this host: its database read-only, its store."""

    kind: PlaceKind = "state"

    def __init__(self, state_dir: Path, storage_url: str) -> None:
        self.state_dir = state_dir
        self.storage_url = storage_url

    @classmethod
    def here(cls) -> tuple[StatePlace | None, str]:
        """The state this host's settings name (flags aside: AME_STATE_DIR, AME_CONFIG,
        then the defaults), if it has a database; else None and where it looked."""
        from amed.config import ConfigError, resolve

        try:
            settings = resolve({})
        except ConfigError as exc:
            return None, f"no usable amed settings ({exc})"
        if not (settings.state_dir / "state.db").is_file():
            return None, f"no amed state in {settings.state_dir}"
        return cls(settings.state_dir, settings.storage_url), ""

    @contextmanager
    def _reader(self) -> Iterator[StateReader]:
        from state.read import StateReader

        reader = StateReader.in_dir(self.state_dir)
        try:
            yield reader
        finally:
            reader.close()

    @property
    def store(self) -> ObjectStore:
        return open_store_cached(self.storage_url)

    def knows_project(self, project: str) -> bool:
        with self._reader() as reader:
            return any(row.project == project for row in reader.datasets(include_removed=True))

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        with self._reader() as reader:
            rows = reader.datasets()
        return [_row_info(row) for row in rows if project in (None, row.project)]

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        with self._reader() as reader:
            row = reader.dataset(name, project)
            state_id = reader.state_id()
            if row is None or row.status == "removed":
                known = sorted({r.name for r in reader.datasets()})
                gone = " (removed: no longer in ame.yaml)" if row is not None else ""
                raise UnknownDataset(
                    f"{name}: no such data set in {self.state_dir}{gone}; "
                    f"known: {', '.join(known) or 'none'}"
                )
            if version is not None:
                stored = [v.version for v in reader.versions(row.project, row.name)]
                if version not in stored:
                    raise VersionNotStored(
                        f"{name}: version {version} is not stored (stored: "
                        f"{', '.join(map(str, stored)) or 'none'})"
                    )
        if version is None and row.version is None:
            row = self._wait_for_version(row, request, timeout_seconds)
        number = version if version is not None else row.version
        assert number is not None
        with store_errors(self.storage_url):
            manifest = self.store.read_manifest(row.project, row.name, number, state_id=state_id)
        if manifest is None:
            raise VersionGone(
                f"{name}: version {number} is no longer in {self.store.url} (deleted just now?); "
                "read it again to get the current version"
            )
        return Located(row.project, row.name, number, "state", store=self.store, manifest=manifest)

    def _wait_for_version(self, row: DatasetRow, request: bool, timeout: float) -> DatasetRow:
        """A version of a data set that has none: asked of the daemon and waited for with
        `request`, as `ame ds pull` does; otherwise why there is none."""
        if not request or row.status in ("blocked",):
            raise _not_ready(row, "" if request else "; request=True asks the daemon for it")
        with self._reader() as reader:
            daemon = reader.daemon()
        asked = datetime.now(UTC)
        if row.status in ("evicted", "failed"):
            from state.db import StateStore
            from state.events import DatasetRequested

            try:
                asking = DatasetRequested(
                    at=asked, project=row.project, dataset=row.name, reason="read"
                )
                with StateStore.in_dir(self.state_dir) as writer:
                    writer.append([asking])
            except Exception as exc:  # noqa: BLE001 - sqlite3 or OSError: report as ours
                raise NotReady(
                    f"{row.name}: cannot ask the daemon for it ({exc})", status=row.status
                ) from None
        if daemon is None or not daemon.alive_at(asked):
            raise _not_ready(row, f"; no amed daemon is running for {self.state_dir} to produce it")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            with self._reader() as reader:
                current = reader.dataset(row.name, row.project)
            if current is None:
                break
            if current.version is not None and current.status == "ready":
                return current
            if current.status == "blocked" or (
                current.status in GIVE_UP_STATUSES and current.updated_at >= asked
            ):
                raise _not_ready(current, "")
        raise NotReady(
            f"{row.name}: not ready within {timeout:g} s of asking for it", status=row.status
        )


def _not_ready(row: DatasetRow, hint: str) -> NotReady:
    why = (row.error or "").strip().splitlines()
    reason = f": {why[0]}" if why else ""
    kind = Evicted if row.status == "evicted" else NotReady
    return kind(f"{row.name} is {row.status}{reason}{hint}", status=row.status, error=row.error)


def _row_info(row: DatasetRow) -> DatasetInfo:
    return DatasetInfo(
        row.name,
        row.project,
        row.status,
        row.version,
        row.size_bytes,
        row.files,
        row.updated_at,
        row.error,
        "state",
    )


# ---- 3. the store alone ------------------------------------------------------------------


class StorePlace:
    """A store and the pointers its owning daemons keep in it."""

    kind: PlaceKind = "store"

    def __init__(self, store: ObjectStore, project: str | None) -> None:
        self.store = store
        self.project = project

    def project_name(self, project: str | None) -> str:
        """The project asked for; without one, the store's only project or the one of the
        ame.yaml in AME_PROJECT (or the current directory)."""
        chosen = project or self.project
        if chosen:
            return chosen
        with store_errors(self.store.url):
            projects = self.store.projects()
        if len(projects) == 1:
            return projects[0]
        spec = _load_spec(Path(os.environ.get("AME_PROJECT") or "."))
        if spec is not None and spec.name in projects:
            return spec.name
        raise DatasetError(
            f"{self.store.url} holds {'no projects' if not projects else 'several projects'}"
            f"{': ' + ', '.join(projects) if projects else ''}; name one with project='...'"
        )

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        name = self.project_name(project)
        with store_errors(self.store.url):
            pointers = self.store.published_all(name)
        infos = []
        for dataset, pointer in pointers.items():
            entry = None
            if pointer is not None and pointer.current is not None:
                entry = pointer.entry(pointer.current)
            updated = None
            if pointer is not None:
                from state.timefmt import parse_time

                updated = parse_time(pointer.updated_at)
            infos.append(
                DatasetInfo(
                    dataset,
                    name,
                    "ready" if entry is not None else None,
                    entry.version if entry is not None else None,
                    entry.size_bytes if entry is not None else None,
                    entry.files if entry is not None else None,
                    updated,
                    None,
                    "store",
                )
            )
        return infos

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        from amed.store.publishing import NotPublished

        chosen = self.project_name(project)
        try:
            with store_errors(self.store.url):
                try:
                    published = self.store.published(chosen, name, version)
                except NotPublished as exc:
                    raise self._why_not(chosen, name, version, exc, request) from None
        except StoreURLError as exc:
            raise DatasetError(str(exc)) from None
        manifest = published.manifest
        return Located(chosen, name, manifest.version, "store", store=self.store, manifest=manifest)

    def _why_not(
        self, project: str, name: str, version: int | None, exc: Exception, request: bool
    ) -> DatasetError:
        from amed.store.publishing import NotPublished

        pointer = exc.pointer if isinstance(exc, NotPublished) else None
        hint = "; request=True needs the daemon's state dir (AME_STATE_DIR)" if request else ""
        if pointer is not None and version is not None:
            listed = ", ".join(str(e.version) for e in pointer.versions)
            return VersionNotStored(
                f"{name}: version {version} is not stored in {self.store.url} (stored: {listed})"
            )
        if pointer is not None:
            return NotReady(
                f"{name}: no current version in {self.store.url} (evicted or being deleted; "
                f"older versions stored: {', '.join(str(e.version) for e in pointer.versions)})"
                f"{hint}"
            )
        names = self.store.published_all(project)
        if name not in names:
            return UnknownDataset(
                f"{name}: no such data set in project {project} at {self.store.url}; "
                f"found: {', '.join(names) or 'none'}"
            )
        return NotReady(
            f"{name}: no published version in {self.store.url} (not produced yet, evicted, "
            f"or stored before pointers existed: the daemon names it at its next start){hint}"
        )
