"""The commit protocol over any obstore store: versions of data sets in and out, debris
swept away.

Commit protocol (see amed.store.manifest for the layout): a version's files are uploaded first,
its manifest.json last, each durable before the next step starts (a store's put is; a
file:// store syncs, and amed.store.local says why that is enough). A version prefix
without a manifest is never a committed version, so whatever a crash leaves behind is
debris that `sweep_debris` removes.

A store may be shared by several states (amed.store.sharing). Once `bind` tells it which
state it serves, it writes and deletes under a project only while that state's claim holds,
and hands out only manifests that state wrote: the store itself, not each caller, keeps one
state off another's data.

Nothing here knows what kind of store is behind it. A kind that can do better than the
object API (amed.store.local) overrides the access methods and the hooks marked as such;
stores are opened by URL in amed.store.schemes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from amed import logs
from amed.errors import OutOfSpace, StoreError
from amed.store.access import CHUNK_SIZE_BYTES
from amed.store.datafiles import (
    UPLOAD_WORKERS,
    SourceFile,
    WholeTree,
    collect_sources,
    local_error,
    run_all,
)
from amed.store.manifest import (
    DATASETS_PREFIX,
    FileEntry,
    Manifest,
    file_key,
    manifest_key,
    parse_version_key,
    project_prefix,
    version_prefix,
)
from amed.store.pointer import manifest_digest, parse_pointer_key
from amed.store.publishing import Publishing

log = logs.named(__name__)

# Files above one multipart chunk hold up to PART_CONCURRENCY chunks in memory while they
# upload; capping how many run at once keeps peak memory near
# BIG_FILE_SLOTS * PART_CONCURRENCY * CHUNK_SIZE_BYTES (about 220 MiB) whatever the data
# set looks like. Two files of ten parts each keep more requests going than one would.
BIG_FILE_SLOTS = 2

Owner = tuple[str, str, int]  # (project, dataset, version)


class ObjectStore(Publishing):
    """A store reached through obstore, with data sets laid out as amed.store.manifest says.

    `url` is the URL it was opened with, minus any credentials: safe to log.
    """

    upload_workers = UPLOAD_WORKERS
    """Files stored at once: requests in flight, for a store across a network."""

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    # ---- versions -------------------------------------------------------------------

    def put_version(
        self,
        project: str,
        dataset: str,
        version: int,
        src_dir: Path,
        *,
        created_at: str,
        budget_bytes: int | None = None,
        owned: bool = False,
        root: Path | None = None,
    ) -> Manifest:
        """Store the tree under `src_dir` as a new version and return its manifest.

        `owned`: the files are the caller's to give up (a run's working copy, deleted once
        stored). A file:// store on the same file system then links each file that has no
        other name into place instead of copying it: no data is written twice, and a data
        set never needs twice its size on disk while it is stored. When `src_dir` holds
        nothing but such files and their directories, and lies inside `root`, the store
        moves it into place whole instead: one rename, not a link per file (`src_dir` is
        then gone from the working copy).

        Symlinks to files or directories inside `src_dir` are stored as what they point to;
        a symlink that leaves `src_dir`, a broken link, a link looping back to a parent and
        anything that is not a regular file (fifo, socket, device) are not stored and are
        listed in the returned manifest's `skipped`; so is a file hard-linked from outside
        `root` (the working copy holding `src_dir`; `src_dir` itself when not given).
        Empty directories are not recorded.
        On any failure everything this call wrote is deleted (best effort) before raising.
        Versions are immutable: storing over a committed version is a StoreError.
        """
        prefix = version_prefix(project, dataset, version)
        Manifest(project, dataset, version, created_at, ())  # checks created_at up front
        if not src_dir.is_dir():
            if src_dir.exists():
                raise StoreError(f"{src_dir} is not a directory")
            raise StoreError(f"the task did not create {src_dir}")
        sources, skipped, whole = collect_sources(src_dir, root)
        total_bytes = sum(source.size_bytes for source in sources)
        if budget_bytes is not None and total_bytes > budget_bytes:
            raise OutOfSpace(
                f"{prefix} needs {total_bytes} bytes but the budget allows {budget_bytes}"
            )
        free_bytes = self.free_bytes()
        if free_bytes is not None and total_bytes > free_bytes:
            raise OutOfSpace(
                f"{prefix} needs {total_bytes} bytes but the disk under {self.url} "
                f"has {free_bytes} free"
            )
        mkey = manifest_key(project, dataset, version)
        self._require_claim(project, take_free=True)
        leftovers = list(self._list_sizes(prefix))
        if mkey in leftovers:
            raise StoreError(f"{self.url}: {prefix} is already stored; versions are immutable")
        self._clear_uncommitted(prefix, leftovers)
        try:
            with self._durable_writes() as make_durable:
                entries = self._upload(
                    project, dataset, version, sources, owned, whole if owned else None
                )
                make_durable(prefix)  # the files on disk before a manifest can name them
                manifest = Manifest(
                    project, dataset, version, created_at, entries, skipped, self.state_id
                )
                self._put_bytes(mkey, manifest.to_json())
                self._make_durable_commit(mkey)  # before the caller records the version
        except BaseException:
            self._discard(prefix)
            raise
        return manifest

    def read_manifest(
        self, project: str, dataset: str, version: int, *, state_id: str | None = None
    ) -> Manifest | None:
        """The committed manifest of a version, or None when the version is not stored.

        A manifest written by another state than `state_id` (by default the bound state)
        is a StoreError: it is the other state's version at the same key, never ours.
        Manifests without a state id (written before states had ids) are taken as ours."""
        mkey = manifest_key(project, dataset, version)
        data = self._get_bytes(mkey)
        if data is None:
            return None
        try:
            manifest = Manifest.from_json(data)
        except ValueError as exc:
            raise StoreError(f"{self.url}: {mkey} is not a valid manifest: {exc}") from None
        if (manifest.project, manifest.dataset, manifest.version) != (project, dataset, version):
            raise StoreError(
                f"{self.url}: {mkey} describes {manifest.project}/{manifest.dataset} "
                f"version {manifest.version}"
            )
        expected = state_id or self.state_id
        if expected is not None and manifest.state_id not in (None, expected):
            raise StoreError(
                f"{self.url}: {mkey} was stored by state {manifest.state_id}, not by this "
                f"state ({expected}); refusing another state's data"
            )
        return manifest

    def verify(self, manifest: Manifest, *, check_hashes: bool = False) -> list[str]:
        """What is wrong with a stored version, one line per problem; [] means intact.

        Sizes are checked from a listing; `check_hashes` also reads every file back.
        """
        p, d, v = manifest.project, manifest.dataset, manifest.version
        sizes = self._list_sizes(version_prefix(p, d, v))
        problems: list[str] = []
        if manifest_key(p, d, v) not in sizes:
            problems.append(f"{manifest_key(p, d, v)}: the manifest is missing")
        to_hash: list[FileEntry] = []
        for entry in manifest.files:
            found = sizes.get(file_key(p, d, v, entry.path))
            if found is None:
                problems.append(f"{entry.path}: missing from the store")
            elif found != entry.size_bytes:
                problems.append(
                    f"{entry.path}: {found} bytes stored, the manifest says {entry.size_bytes}"
                )
            elif check_hashes:
                to_hash.append(entry)

        def check(entry: FileEntry) -> str | None:
            digest, size_bytes = self._hash_object(file_key(p, d, v, entry.path), entry)
            problem = entry.problem(size_bytes, digest)
            return None if problem is None else f"{entry.path}: {problem}"

        for problem in run_all(check, to_hash, None):
            if problem is not None:
                problems.append(problem)
        return problems

    def download_version(
        self,
        manifest: Manifest,
        dest_dir: Path,
        *,
        on_file: Callable[[FileEntry], None] | None = None,
    ) -> None:
        """Stream every file of a version into `dest_dir`, checking size and checksum.

        Each file is written beside its destination and renamed into place only once
        verified, so a destination file is either absent or exactly what was stored.
        `on_file` is called (from a worker thread) after each file, for progress.
        """
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise local_error(f"cannot create {dest_dir}", exc) from None
        p, d, v = manifest.project, manifest.dataset, manifest.version

        def fetch(entry: FileEntry) -> None:
            self._download_file(file_key(p, d, v, entry.path), entry, dest_dir / entry.path)
            if on_file is not None:
                on_file(entry)

        run_all(fetch, list(manifest.files), None)

    def delete_version(self, project: str, dataset: str, version: int) -> int:
        """Delete a version: out of its data set's pointer first (readers with only the
        store stop finding it), then the manifest, so a crash halfway leaves only debris.

        Idempotent; returns how many objects were deleted.
        """
        prefix = version_prefix(project, dataset, version)
        mkey = manifest_key(project, dataset, version)
        self._require_claim(project, take_free=True)
        self.unpublish(project, dataset, version)
        keys = list(self._list_sizes(prefix))
        if mkey in keys:
            self._delete([mkey])
        others = [key for key in keys if key != mkey]
        self._delete(others)
        self._remove_prefix(prefix)
        return len(keys)

    def sweep_debris(
        self,
        owned: Collection[Owner],
        *,
        project: str | None = None,
        current: Collection[Owner] | None = None,
        tidy: Collection[tuple[str, str]] | None = None,
    ) -> list[str]:
        """Delete everything under `datasets/` (or `datasets/<project>/`) that no owned
        version accounts for, and return the keys (and, for file://, the paths) removed.

        `owned` must include any version being uploaded right now: a version that is
        owned but has no manifest yet is left untouched. An owned version with a manifest
        keeps exactly its manifest and the files it lists.

        Each data set's pointer (amed.store.publishing) is kept, and tidied before anything
        is deleted: it ends up naming only committed versions, and, when the log's
        `current` versions are given, each of those (mending a crash before `publish`).
        With `tidy`, only the pointers of those (project, dataset) pairs are read.

        A bound store sweeps one project at a time, and only one its state has claimed
        already: whatever else is under `datasets/` may be another state's committed data.
        """
        scope = DATASETS_PREFIX if project is None else project_prefix(project)
        if self.state_id is not None:
            if project is None:
                raise StoreError(f"{self.url}: a shared store is swept one project at a time")
            self._require_claim(project, take_free=False)
        owned_set = {(str(p), str(d), int(v)) for p, d, v in owned}
        by_version: dict[Owner, list[str]] = {}
        debris: list[str] = []
        pointed = {(p, d) for p, d, _ in current or () if project in (None, p)}
        for key in self._list_sizes(scope):
            pointer = parse_pointer_key(key)
            if pointer is not None:
                pointed.add(pointer)
                continue
            owner = parse_version_key(key)
            if owner is None or owner not in owned_set:
                debris.append(key)
            else:
                by_version.setdefault(owner, []).append(key)
        committed: dict[Owner, tuple[Manifest, str]] = {}
        for owner, keys in by_version.items():
            mkey = manifest_key(*owner)
            if mkey not in keys:
                continue
            found = self._committed_manifest(mkey)
            if found is None:
                continue
            committed[owner] = found
            manifest = found[0]
            kept = {mkey} | {file_key(*owner, entry.path) for entry in manifest.files}
            debris.extend(key for key in keys if key not in kept)
        debris += self._tidy_pointers(pointed, owned_set, committed, current, tidy)
        manifests = [key for key in debris if key.endswith("/manifest.json")]
        self._delete(manifests)
        self._delete([key for key in debris if key not in set(manifests)])
        with self._pointer_lock:  # a pointer being written shows as a hidden temporary file
            unlisted = self._sweep_unlisted(scope, owned_set, set(committed))
        return sorted(debris) + unlisted

    # ---- capacity ---------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes held under `datasets/`, by listing (committed or not)."""
        return sum(self._list_sizes(DATASETS_PREFIX).values())

    def free_bytes(self) -> int | None:
        """The real free space of the disk under the store, when a store kind knows it
        (a file:// store does); None otherwise. A hook."""
        return None

    # ---- hooks for store kinds that keep more than the object API shows -------------------

    def _remove_prefix(self, prefix: str) -> None:
        """Remove what is left under a version prefix once its objects are deleted (for a
        file:// store, the directories). A hook; objects alone leave nothing."""

    def _move_into_place(
        self, prefix: str, sources: list[SourceFile], whole: WholeTree
    ) -> list[SourceFile]:
        """The sources at their new names once their directory, `whole`, is moved under
        `prefix` in one piece, by a store kind that can (file://, on the same file system).
        A hook; an object store cannot, and keeps them where they are: each file is then
        uploaded on its own."""
        return sources

    def _prepare_upload(self, keys: list[str]) -> None:
        """Make ready for a version's files to be stored under `keys`. A hook; an object
        store needs nothing."""

    @contextmanager
    def _durable_writes(self) -> Iterator[Callable[[str], None]]:
        """Around a version's upload: yields what makes the files written under a prefix
        survive a power cut. A hook; a remote store's put is durable once it returns."""
        yield _already_durable

    def _make_durable_commit(self, mkey: str) -> None:
        """Make the manifest just written at `mkey` survive a power cut. A hook, as above."""

    def _sweep_unlisted(self, scope: str, owned: set[Owner], committed: set[Owner]) -> list[str]:
        """Remove the debris under `scope` that a listing does not show, and return what was
        removed; an owned version not in `committed` is being uploaded and is left alone. A
        hook; a store whose listing shows everything has none."""
        return []

    # ---- internals --------------------------------------------------------------------

    def _upload(
        self,
        project: str,
        dataset: str,
        version: int,
        sources: list[SourceFile],
        owned: bool = False,
        whole: WholeTree | None = None,
    ) -> tuple[FileEntry, ...]:
        """`whole`: the data directory, the caller's to give up, may be moved into place
        rather than read file by file (`_move_into_place`)."""
        if whole is not None and sources:
            prefix = version_prefix(project, dataset, version)
            sources = self._move_into_place(prefix, sources, whole)
        abort = threading.Event()
        big_files = threading.BoundedSemaphore(BIG_FILE_SLOTS)
        keys = [file_key(project, dataset, version, source.rel_path) for source in sources]
        self._prepare_upload(keys)

        def upload(item: tuple[str, SourceFile]) -> FileEntry:
            key, source = item
            if source.size_bytes > CHUNK_SIZE_BYTES:
                with big_files:
                    return self._upload_file(key, source, abort, owned)
            return self._upload_file(key, source, abort, owned)

        items = list(zip(keys, sources, strict=True))
        entries = run_all(upload, items, abort, self.upload_workers)
        return tuple(sorted(entries, key=lambda entry: entry.path))

    def _committed_manifest(self, mkey: str) -> tuple[Manifest, str] | None:
        """A committed version's manifest and the sha256 of its bytes; None when it cannot
        be read (its version is then debris)."""
        data = self._get_bytes(mkey)
        if data is None:
            return None
        try:
            manifest = Manifest.from_json(data)
        except ValueError:
            log.warning("manifest_unreadable", store=self.url, key=mkey)
            return None
        if mkey != manifest_key(manifest.project, manifest.dataset, manifest.version):
            return None
        return manifest, manifest_digest(data)

    def _clear_uncommitted(self, prefix: str, leftovers: list[str] | None = None) -> None:
        """Remove whatever an earlier, unfinished attempt left under a version prefix
        (`leftovers`, when the caller has just listed it)."""
        if leftovers is None:
            leftovers = list(self._list_sizes(prefix))
        self._delete(leftovers)
        self._remove_prefix(prefix)

    def _discard(self, prefix: str) -> None:
        """Best-effort undo of a failed put_version: its prefix was empty when it began."""
        mkey = prefix + "manifest.json"
        try:
            self._delete([mkey])
            self._clear_uncommitted(prefix)
        except (StoreError, OSError) as exc:
            log.warning("discard_failed", store=self.url, prefix=prefix, error=str(exc))


def _already_durable(_prefix: str) -> None:
    """Nothing to do: what the store's put returned from is durable."""
