"""Publishing committed versions to readers that have nothing but the store, and reading
them back verified.

The owning state writes the pointer (amed.store.pointer) after a version's `version_stored`
event is committed (`publish`) and rewrites it before that version's objects are deleted
(`unpublish`, which `delete_version` calls first); the debris sweep keeps it, mends it
after a crash between the event and the pointer, and drops what no committed version
accounts for (`_tidy_pointers`). A reader (`published`) trusts a manifest only when the
pointer lists its version with the sha256 of exactly those bytes.

Pointer writes are read-modify-write: `_pointer_lock` serializes them within the one
process that owns the project (the claim keeps other states out).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import obstore

from amed import logs
from amed.errors import StoreError
from amed.store.datafiles import run_all
from amed.store.manifest import (
    DATASETS_PREFIX,
    FileEntry,
    Manifest,
    file_key,
    manifest_key,
    project_prefix,
    version_prefix,
)
from amed.store.pointer import (
    PointedVersion,
    Pointer,
    manifest_digest,
    pointer_key,
)
from amed.store.reading import ObjectSource, RemoteSource, VerifiedRaw
from amed.store.sharing import SharedAccess
from state.timefmt import format_time

if TYPE_CHECKING:
    from obstore.store import ObjectStore as Backend

log = logs.named(__name__)

Owner = tuple[str, str, int]  # (project, dataset, version)

READ_ATTEMPTS = 3
"""How often a reader reads the pointer again when the version it named went away before
its manifest could be fetched (it was superseded and deleted in between)."""
MANIFEST_CACHE_SIZE = 64


class NotPublished(StoreError):
    """No published version answers the question. `pointer` is what the store holds for the
    data set (None: no pointer at all), for the caller to say why."""

    def __init__(self, message: str, pointer: Pointer | None) -> None:
        super().__init__(message)
        self.pointer = pointer


@dataclass(frozen=True)
class Published:
    """A committed version a reader may trust: the pointer that named it and its manifest,
    which has the digest the pointer lists."""

    pointer: Pointer
    manifest: Manifest

    @property
    def version(self) -> int:
        return self.manifest.version


class Publishing(SharedAccess):
    def __init__(self, backend: Backend, url: str, *, secrets: Collection[str] = ()) -> None:
        super().__init__(backend, url, secrets=secrets)
        self._pointer_lock = threading.Lock()
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._manifests_lock = threading.Lock()

    # ---- the owning state's side ----------------------------------------------------------

    def publish(self, manifest: Manifest) -> Pointer:
        """Make a committed version its data set's current one for readers with only the
        store. Call it after the version's `version_stored` event is committed, never
        before: until then the version may still turn out to be debris."""
        p, d, v = manifest.project, manifest.dataset, manifest.version
        with self._pointer_lock:
            self._require_claim(p, take_free=False)
            data = self._get_bytes(manifest_key(p, d, v))
            if data is None:
                raise StoreError(f"{self.url}: {manifest_key(p, d, v)} is missing; not published")
            if Manifest.from_json(data) != manifest:
                raise StoreError(
                    f"{self.url}: {manifest_key(p, d, v)} is not the manifest that was stored"
                )
            added = PointedVersion.of(manifest, data)
            found = self._read_pointer(p, d, lenient=True)
            if found is None or found.state_id != self.state_id:  # none, or a former owner's
                pointer = Pointer(p, d, v, (added,), self.state_id, _now())
            else:
                pointer = found.with_version(added, updated_at=_now())
            self._put_bytes(pointer_key(p, d), pointer.to_json())
        return pointer

    def unpublish(self, project: str, dataset: str, version: int) -> None:
        """Stop naming a version, before its objects are deleted: a reader that read the
        pointer before then fails cleanly on the missing objects, one that reads it after
        never sees the version. The pointer goes with the last version it names."""
        with self._pointer_lock:
            self._require_claim(project, take_free=True)
            pointer = self._read_pointer(project, dataset, lenient=True)
            if pointer is None or pointer.entry(version) is None:
                return
            rest = pointer.without(version, updated_at=_now())
            key = pointer_key(project, dataset)
            if rest is None:
                self._delete([key])
            else:
                self._put_bytes(key, rest.to_json())

    def _tidy_pointers(
        self,
        pointed: set[tuple[str, str]],
        owned: set[Owner],
        committed: Mapping[Owner, tuple[Manifest, str]],
        current: Collection[Owner] | None,
    ) -> list[str]:
        """Part of the debris sweep, for the (project, dataset) pairs in `pointed` (those with
        a pointer or a current version): make each pointer list only versions the log owns
        and whose manifests have the listed digest, and, when the log's `current` versions
        are given, name each one that is committed but missing (a crash between its event
        and `publish`). `committed` holds each owned version's manifest and digest. A
        version published after `owned` was read is in it (it was being produced), so a
        publish that races the sweep is never undone. Returns the pointer keys deleted."""
        wanted = {(p, d): v for p, d, v in current or ()}
        removed: list[str] = []
        with self._pointer_lock:
            for project, dataset in sorted(pointed):
                key = pointer_key(project, dataset)
                found = self._read_pointer(project, dataset, lenient=True)
                entries = [
                    entry
                    for entry in (found.versions if found is not None else ())
                    if _still_valid((project, dataset, entry.version), entry, owned, committed)
                ]
                listed = {entry.version for entry in entries}
                current_version = found.current if found is not None else None
                if current_version not in listed:
                    current_version = None
                version = wanted.get((project, dataset))
                if version is not None and (project, dataset, version) in committed:
                    manifest, digest = committed[(project, dataset, version)]
                    if version not in listed:
                        entries.append(
                            PointedVersion(
                                version,
                                digest,
                                manifest.size_bytes,
                                len(manifest.files),
                                manifest.created_at,
                            )
                        )
                    if current_version is None or current_version < version:
                        current_version = version
                entries.sort(key=lambda entry: entry.version)
                if not entries:
                    if found is not None:
                        self._delete([key])
                        removed.append(key)
                    continue
                tidy = Pointer(
                    project,
                    dataset,
                    current_version,
                    tuple(entries),
                    self.state_id,
                    found.updated_at if found is not None else _now(),
                )
                if tidy != found:
                    tidy = Pointer(
                        project, dataset, current_version, tuple(entries), self.state_id, _now()
                    )
                    self._put_bytes(key, tidy.to_json())
                    log.info("pointer_mended", store=self.url, key=key, current=current_version)
        return removed

    # ---- the reader's side ------------------------------------------------------------

    def read_pointer(self, project: str, dataset: str) -> Pointer | None:
        """The data set's pointer, or None when it has none; a malformed one is an error."""
        return self._read_pointer(project, dataset, lenient=False)

    def published(self, project: str, dataset: str, version: int | None = None) -> Published:
        """The current version (or `version`) as the pointer names it, with its manifest
        checked against the pointer's digest. NotPublished when the pointer names no such
        version; a manifest that disagrees with the pointer is never used."""
        for _ in range(READ_ATTEMPTS):
            pointer = self.read_pointer(project, dataset)
            if pointer is None:
                raise NotPublished(f"{self.url}: {dataset} has no published version", None)
            number = pointer.current if version is None else version
            entry = None if number is None else pointer.entry(number)
            if entry is None:
                what = "no current version" if version is None else f"no version {version}"
                raise NotPublished(f"{self.url}: {dataset} has {what} published", pointer)
            manifest = self._manifest(project, dataset, entry, pointer.state_id)
            if manifest is not None:
                return Published(pointer, manifest)
        raise NotPublished(
            f"{self.url}: version {number} of {dataset} keeps disappearing while being read",
            pointer,
        )

    def published_all(self, project: str) -> dict[str, Pointer | None]:
        """Every data set with objects under `project`, with its pointer (None: none)."""
        names = self._child_names(project_prefix(project))
        pointers = run_all(lambda name: self.read_pointer(project, name), names, None)
        return dict(zip(names, pointers, strict=True))

    def projects(self) -> list[str]:
        """The projects with anything under `datasets/`."""
        return self._child_names(DATASETS_PREFIX)

    def open_file(self, m: Manifest, entry: FileEntry) -> VerifiedRaw:
        """One file of a committed version as a verified, seekable raw stream."""
        key = file_key(m.project, m.dataset, m.version, entry.path)
        label = f"{m.dataset} version {m.version}: {entry.path}"
        return VerifiedRaw(self._open_source(key, label, entry.size_bytes), entry)

    def _open_source(self, key: str, label: str, size_bytes: int) -> ObjectSource:
        """Where a file's bytes come from. A hook: a file:// store reads its files itself."""
        return RemoteSource(label, size_bytes, self._backend, key, self._errors)

    # ---- internals ------------------------------------------------------------------------

    def _read_pointer(self, project: str, dataset: str, *, lenient: bool) -> Pointer | None:
        """`lenient`: a malformed pointer reads as none (the owner rewrites it)."""
        key = pointer_key(project, dataset)
        data = self._get_bytes(key)
        if data is None:
            return None
        try:
            pointer = Pointer.from_json(data)
            if (pointer.project, pointer.dataset) != (project, dataset):
                raise ValueError(f"it names {pointer.project}/{pointer.dataset}")
        except ValueError as exc:
            if lenient:
                log.warning("pointer_unreadable", store=self.url, key=key, error=str(exc))
                return None
            raise StoreError(f"{self.url}: {key} is not a valid pointer: {exc}") from None
        return pointer

    def _manifest(
        self, project: str, dataset: str, entry: PointedVersion, state_id: str | None
    ) -> Manifest | None:
        """The manifest the pointer's entry names; None when it is gone (deleted since the
        pointer was read). Manifests never change, so one checked is kept by its digest."""
        with self._manifests_lock:
            cached = self._manifests.get(entry.manifest_sha256)
            if cached is not None:
                self._manifests.move_to_end(entry.manifest_sha256)
                return cached
        mkey = manifest_key(project, dataset, entry.version)
        data = self._get_bytes(mkey)
        if data is None:
            return None
        if manifest_digest(data) != entry.manifest_sha256:
            raise StoreError(
                f"{self.url}: {mkey} is not the manifest that was published for version "
                f"{entry.version} (left by a crash, or altered); not read"
            )
        try:
            manifest = Manifest.from_json(data)
        except ValueError as exc:
            raise StoreError(f"{self.url}: {mkey} is not a valid manifest: {exc}") from None
        if (manifest.project, manifest.dataset, manifest.version) != (
            project,
            dataset,
            entry.version,
        ) or manifest.state_id not in (None, state_id):
            raise StoreError(f"{self.url}: {mkey} does not match its pointer; not read")
        with self._manifests_lock:
            self._manifests[entry.manifest_sha256] = manifest
            while len(self._manifests) > MANIFEST_CACHE_SIZE:
                self._manifests.popitem(last=False)
        return manifest

    def _child_names(self, prefix: str) -> list[str]:
        """The names one level below `prefix` (a `/`-terminated key prefix)."""
        with self._errors(f"list {prefix}"):
            found = obstore.list_with_delimiter(self._backend, prefix.rstrip("/"))
        names = {p.rstrip("/").rsplit("/", 1)[-1] for p in found["common_prefixes"]}
        return sorted(name for name in names if _plain_name(prefix, name))


def _plain_name(prefix: str, name: str) -> bool:
    try:
        if prefix == DATASETS_PREFIX:
            project_prefix(name)
        else:
            version_prefix(prefix.split("/")[1], name, 1)
    except ValueError:
        return False
    return True


def file_entry(manifest: Manifest, path: str) -> FileEntry | None:
    """The manifest's entry for `path` (files are sorted by path)."""
    files = manifest.files
    at = bisect.bisect_left(files, path, key=lambda entry: entry.path)
    return files[at] if at < len(files) and files[at].path == path else None


def _still_valid(
    owner: Owner,
    entry: PointedVersion,
    owned: set[Owner],
    committed: Mapping[Owner, tuple[Manifest, str]],
) -> bool:
    """A pointer entry the sweep keeps: a committed version whose manifest has the listed
    digest, or an owned version the sweep's listing saw no manifest of yet (published
    while the sweep ran)."""
    if owner not in owned:
        return False
    if owner not in committed:
        return True
    return committed[owner][1] == entry.manifest_sha256


def _now() -> str:
    return format_time(datetime.now(UTC))
