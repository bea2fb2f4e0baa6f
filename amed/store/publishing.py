"""Publishing committed versions to readers that have nothing but the store.

The owning state writes the pointer (amed.store.pointer) after a version's `version_stored`
event is committed (`publish`) and rewrites it before that version's objects are deleted
(`unpublish`, which `delete_version` calls first); the debris sweep keeps it, mends it
after a crash between the event and the pointer, and drops what no committed version
accounts for (`_tidy_pointers`). Readers are amed.store.published's.

Pointer writes are read-modify-write: `_pointer_lock` serializes them within the one
process that owns the project (the claim keeps other states out).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from amed import logs
from amed.errors import StoreError
from amed.store.manifest import Manifest, manifest_key
from amed.store.pointer import PointedVersion, Pointer, pointer_key
from amed.store.published import PublishedReads
from state.timefmt import format_time

if TYPE_CHECKING:
    from obstore.store import ObjectStore as Backend

log = logs.named(__name__)

Owner = tuple[str, str, int]  # (project, dataset, version)


class Publishing(PublishedReads):
    def __init__(self, backend: Backend, url: str, *, secrets: Collection[str] = ()) -> None:
        super().__init__(backend, url, secrets=secrets)
        self._pointer_lock = threading.Lock()

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
        only: Collection[tuple[str, str]] | None = None,
    ) -> list[str]:
        """Part of the debris sweep, for the (project, dataset) pairs in `pointed` (those with
        a pointer or a current version): make each pointer list only versions the log owns
        and whose manifests have the listed digest, and, when the log's `current` versions
        are given, name each one that is committed but missing (a crash between its event
        and `publish`). `committed` holds each owned version's manifest and digest. A
        version published after `owned` was read is in it (it was being produced), so a
        publish that races the sweep is never undone. With `only`, the pairs outside it are
        left unread: reading a pointer is a request per data set, most of a sweep that finds
        nothing to do, and the caller knows those pointers are as they were last tidied (the
        log changed none of their data sets since, and no crash came in between). Returns
        the pointer keys deleted."""
        wanted = {(p, d): v for p, d, v in current or ()}
        removed: list[str] = []
        if only is not None:
            pointed = pointed & set(only)
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
