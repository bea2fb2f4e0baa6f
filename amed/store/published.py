"""Reading what the owning state published, from nothing but the store.

A reader (`published`) trusts a manifest only when the data set's pointer
(amed.store.pointer) lists its version with the sha256 of exactly those bytes; then each
file comes out verified (`open_file`, `fetch_version`). Manifests never change, so one that
was checked is kept, by its digest, for the next reads of the same version.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import obstore

from amed import logs
from amed.errors import StoreError
from amed.store.checksum import Hasher
from amed.store.datafiles import local_error, run_all
from amed.store.manifest import (
    DATASETS_PREFIX,
    FileEntry,
    Manifest,
    file_key,
    manifest_key,
    project_prefix,
    version_prefix,
)
from amed.store.pointer import PointedVersion, Pointer, manifest_digest, pointer_key
from amed.store.reading import VerifiedRaw
from amed.store.sharing import SharedAccess
from amed.store.sources import Chunk, ContentMismatch, ObjectGone, ObjectSource, RemoteSource

if TYPE_CHECKING:
    from obstore.store import ObjectStore as Backend

log = logs.named(__name__)

READ_ATTEMPTS = 3
"""How often a reader reads the pointer again when the version it named went away before
its manifest could be fetched (it was superseded and deleted in between)."""
MANIFEST_CACHE_SIZE = 64
FETCH_WORKERS = 16
WHOLE_GET_FETCH_BYTES = 1024 * 1024
"""A file up to this size is fetched by one get through obstore, whatever the store: its
open, reads and close then happen outside the GIL, and the one request is bound to one
object. From the threads of a fetch on two busy cores, reading 2,000 local files of 64 KiB
with system calls of our own (each a release of the GIL and a wait to take it back) took
twice as long as the same through obstore."""


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


class PublishedReads(SharedAccess):
    def __init__(self, backend: Backend, url: str, *, secrets: Collection[str] = ()) -> None:
        super().__init__(backend, url, secrets=secrets)
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._manifests_lock = threading.Lock()

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

    def fetch_version(self, manifest: Manifest, dest: Path) -> None:
        """Every file of a version into `dest` (created, and new), read-only, each checked
        against the manifest as it is written. For a staging directory the caller throws
        away whole when this raises: files are written in place, without the temporary
        name and rename per file `download_version` needs to leave a destination it does
        not own either as it was or complete. A few workers take files from one queue, so
        thousands of small files cost no more than their requests and writes."""
        try:
            dest.mkdir(parents=True)
            for directory in sorted({str(Path(e.path).parent) for e in manifest.files}):
                (dest / directory).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise local_error(f"cannot create {dest}", exc) from None
        root = str(dest)
        run_all(
            lambda entry: self._fetch_file(manifest, entry, f"{root}/{entry.path}"),
            list(manifest.files),
            None,
            FETCH_WORKERS,
        )

    def _fetch_file(self, manifest: Manifest, entry: FileEntry, target: str) -> None:
        m = manifest
        key = file_key(m.project, m.dataset, m.version, entry.path)
        digest = entry.hasher()
        if entry.size_bytes <= WHOLE_GET_FETCH_BYTES:
            # Checked before a byte is written: a mismatch leaves no file behind.
            data = self._get_view(key)
            if data is None:
                raise ObjectGone(f"{_label(m, entry)}: no longer in the store (deleted?)")
            digest.update(data)
            _check(m, entry, len(data), digest)
            _write_new(target, (data,))
            return
        source = self._open_source(key, _label(m, entry), entry.size_bytes)
        try:
            written = _write_new(target, _hashed(source.chunks(), digest))
        finally:
            source.close()
        _check(m, entry, written, digest)

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


def _label(m: Manifest, entry: FileEntry) -> str:
    return f"{m.dataset} version {m.version}: {entry.path}"


def _check(m: Manifest, entry: FileEntry, size_bytes: int, digest: Hasher) -> None:
    if entry.problem(size_bytes, digest.hexdigest()) is not None:
        raise ContentMismatch(
            f"{_label(m, entry)}: content differs from its manifest's checksum; not read"
        )


def _hashed(chunks: Iterable[Chunk], digest: Hasher) -> Iterator[Chunk]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _write_new(target: str, chunks: Iterable[Chunk]) -> int:
    """Write `chunks` into the new file `target`, created read-only (the mode applies to
    later opens, not to this descriptor, so no chmod is needed); the bytes written."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    except OSError as exc:
        raise local_error(f"cannot write {target}", exc) from None
    written = 0
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            written += len(chunk)
    except OSError as exc:
        raise local_error(f"cannot write {target}", exc) from None
    finally:
        os.close(fd)
    return written


def file_entry(manifest: Manifest, path: str) -> FileEntry | None:
    """The manifest's entry for `path` (files are sorted by path)."""
    files = manifest.files
    at = bisect.bisect_left(files, path, key=lambda entry: entry.path)
    return files[at] if at < len(files) and files[at].path == path else None
