"""The one door to object storage: versions of data sets in and out, debris swept away.

obstore is imported here and nowhere else. Every obstore error is translated at this door
into `StoreError` (permanent), `StoreUnavailable` (temporary: retry later) or `OutOfSpace`,
each a single line that never carries credentials: obstore's `store.config` holds them in
clear text and is never logged, and any secret we were given is masked in error text.

Commit protocol (see amed.store.manifest for the layout): a version's files are uploaded first,
its manifest.json last. A version prefix without a manifest is never a committed version,
so whatever a crash leaves behind is debris that `sweep_debris` removes.

A store may be shared by several states (amed.store.claims). Once `bind` tells it which state it
serves, it writes and deletes under a project only while that state's claim holds, and
hands out only manifests that state wrote: the store itself, not each caller, keeps one
state off another's data.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast
from urllib.parse import unquote, urlsplit

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import LocalStore, MemoryStore, S3Store, from_url

from amed import logs

# Re-exported: the store's errors are part of its door.
from amed.errors import OutOfSpace as OutOfSpace
from amed.errors import ProjectClaimed as ProjectClaimed
from amed.errors import StoreError as StoreError
from amed.errors import StoreUnavailable as StoreUnavailable
from amed.errors import StoreURLError as StoreURLError
from amed.store.claims import Claim, claim_key
from amed.store.datafiles import (
    HashingReader,
    SourceFile,
    SparseWriter,
    collect_sources,
    copy_and_hash,
    hash_file,
    link_sole_name,
    local_error,
    remove_tree,
    run_all,
    write_file,
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
from state.timefmt import format_time

if TYPE_CHECKING:
    from obstore import PutMode
    from obstore.store import ClientConfig, RetryConfig
    from obstore.store import ObjectStore as Backend

log = logs.named(__name__)


# Files above one multipart chunk hold up to part_concurrency chunks in memory while they
# upload; capping how many run at once keeps peak memory near
# big_file_slots * part_concurrency * chunk_size_bytes whatever the data set looks like.
CHUNK_SIZE_BYTES = 5 * 1024 * 1024
PART_CONCURRENCY = 4
BIG_FILE_SLOTS = 4
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
DELETE_BATCH = 1000
REQUEST_TIMEOUT = "30s"
CONNECT_TIMEOUT = "5s"
RETRY_MAX = 3
RETRY_TIMEOUT_SECONDS = 60
MESSAGE_MAX_CHARS = 400
CLAIM_ATTEMPTS = 3

# obstore's local store writes `<key>#<n>` and renames it into place; a kill in between
# leaves the temporary file, which list() does not show.
_LOCAL_TEMP_SUFFIX = re.compile(r"#\d+$")
# Keys that obstore's LocalStore stores under a file of exactly the same relative name.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._/-]+")
_NO_SPACE = re.compile(r"os error 28\b|no space left on device|StorageFull|QuotaExceeded", re.I)
_TRANSIENT = re.compile(
    r"error sending request|timed out|timeout|HTTP error|status code: (5\d\d|429)\b"
    r"|connection (reset|refused|closed|aborted)|broken pipe|dns error"
    r"|SlowDown|ServiceUnavailable|InternalError|RequestTimeout",
    re.I,
)
_XML_ERROR = re.compile(
    r"<\?xml.*?<Code>(?P<code>[^<]*)</Code>(?:<Message>(?P<msg>[^<]*)</Message>)?.*?(</Error>|$)",
    re.S,
)
_URL = re.compile(r"https?://\S+")
_URL_USERINFO = re.compile(r"//[^/@\s]*@")


class ObjectStore:
    """A store reached through obstore, with data sets laid out as amed.store.manifest says.

    `url` is the URL it was opened with, minus any credentials: safe to log.
    """

    def __init__(
        self,
        backend: Backend,
        url: str,
        *,
        local_root: Path | None = None,
        secrets: Collection[str] = (),
    ) -> None:
        self._backend = backend
        self.url = url
        self._local_root = local_root
        self._secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))
        self.state_id: str | None = None
        self._host = ""
        self._state_dir = ""
        self._on_claim_lost: Callable[[Claim], None] | None = None

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    @property
    def credentials(self) -> tuple[str, ...]:
        """The secrets this store was opened with, for masking elsewhere; never logged."""
        return self._secrets

    def bind(
        self,
        state_id: str,
        *,
        host: str = "",
        state_dir: str = "",
        on_claim_lost: Callable[[Claim], None] | None = None,
    ) -> None:
        """Serve one state from now on: its id goes into every manifest written, manifests
        of other states are refused, and writes and deletes under a project need its claim.
        `on_claim_lost` hears of each claim found held by another state when it was needed.
        An unbound store (tests, a reader without a state) checks none of this."""
        Claim("x", state_id, host, state_dir, "-")  # checks the id and the texts up front
        self.state_id, self._host, self._state_dir = state_id, host, state_dir
        self._on_claim_lost = on_claim_lost

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
        set never needs twice its size on disk while it is stored.

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
        sources, skipped = collect_sources(src_dir, root)
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
        if mkey in self._list_sizes(prefix):
            raise StoreError(f"{self.url}: {prefix} is already stored; versions are immutable")
        self._clear_uncommitted(prefix)
        try:
            entries = self._upload(project, dataset, version, sources, owned)
            manifest = Manifest(
                project, dataset, version, created_at, entries, skipped, self.state_id
            )
            with self._errors(f"put {mkey}"):
                obstore.put(self._backend, mkey, manifest.to_json(), use_multipart=False)
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
            digest, _ = self._hash_object(file_key(p, d, v, entry.path))
            if digest != entry.sha256:
                return f"{entry.path}: content differs from the manifest (sha256 {digest})"
            return None

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
        """Stream every file of a version into `dest_dir`, checking size and sha256.

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
        """Delete a version, manifest first so a crash halfway leaves only debris.

        Idempotent; returns how many objects were deleted.
        """
        prefix = version_prefix(project, dataset, version)
        mkey = manifest_key(project, dataset, version)
        self._require_claim(project, take_free=True)
        keys = list(self._list_sizes(prefix))
        if mkey in keys:
            self._delete([mkey])
        others = [key for key in keys if key != mkey]
        self._delete(others)
        if self._local_root is not None:
            remove_tree(self._local_root / prefix)
        return len(keys)

    def sweep_debris(
        self, owned: Collection[tuple[str, str, int]], *, project: str | None = None
    ) -> list[str]:
        """Delete everything under `datasets/` (or `datasets/<project>/`) that no owned
        version accounts for, and return the keys (and, for file://, the paths) removed.

        `owned` must include any version being uploaded right now: a version that is
        owned but has no manifest yet is left untouched. An owned version with a manifest
        keeps exactly its manifest and the files it lists.

        A bound store sweeps one project at a time, and only one its state has claimed
        already: whatever else is under `datasets/` may be another state's committed data.
        """
        scope = DATASETS_PREFIX if project is None else project_prefix(project)
        if self.state_id is not None:
            if project is None:
                raise StoreError(f"{self.url}: a shared store is swept one project at a time")
            self._require_claim(project, take_free=False)
        owned_set = {(str(p), str(d), int(v)) for p, d, v in owned}
        by_version: dict[tuple[str, str, int], list[str]] = {}
        debris: list[str] = []
        for key in self._list_sizes(scope):
            owner = parse_version_key(key)
            if owner is None or owner not in owned_set:
                debris.append(key)
            else:
                by_version.setdefault(owner, []).append(key)
        committed: set[tuple[str, str, int]] = set()
        for owner, keys in by_version.items():
            mkey = manifest_key(*owner)
            if mkey not in keys:
                continue
            kept = self._keys_listed_by(mkey)
            if kept is None:
                continue
            committed.add(owner)
            debris.extend(key for key in keys if key not in kept)
        manifests = [key for key in debris if key.endswith("/manifest.json")]
        self._delete(manifests)
        self._delete([key for key in debris if key not in set(manifests)])
        removed = sorted(debris)
        if self._local_root is not None:
            in_flight = {version_prefix(*o) for o in owned_set - committed if _valid_owner(o)}
            removed += self._sweep_local(scope, owned_set, in_flight)
        return removed

    # ---- claims (amed.store.claims) ------------------------------------------------------

    def read_claim(self, project: str) -> Claim | None:
        """The claim on a project, or None when no state has claimed it."""
        key = claim_key(project)
        data = self._get_bytes(key)
        if data is None:
            return None
        try:
            return Claim.from_json(data)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.url}: {key} is not a valid claim: {exc}") from None

    def claim(self, project: str, *, take_over: bool = False) -> Claim:
        """Claim a project for the bound state unless another state holds it, and return
        the claim that holds afterwards (compare its `state_id`). The first claim is
        written create-only, so of two states racing exactly one wins; `take_over`
        replaces another state's claim."""
        if self.state_id is None:
            raise StoreError(f"{self.url}: claiming {project} needs a state (bind first)")
        for _ in range(CLAIM_ATTEMPTS):
            found = self.read_claim(project)
            if found is not None and (found.state_id == self.state_id or not take_over):
                return found
            stamp = format_time(datetime.now(UTC))
            mine = Claim(project, self.state_id, self._host, self._state_dir, stamp)
            if self._put_claim(mine, "create" if found is None else "overwrite"):
                return mine
        raise StoreError(f"{self.url}: the claim on project {project} keeps changing; try again")

    def release_claim(self, project: str) -> Claim | None:
        """Delete the bound state's claim on a project; return the claim that was deleted,
        or None when there was none. Another state's claim is a ProjectClaimed error."""
        found = self.read_claim(project)
        if found is None:
            return None
        if found.state_id != self.state_id:
            raise ProjectClaimed(
                f"{self.url}: project {project} is claimed by {found.owner()}, not by this "
                f"state ({self.state_id}); only that state can release it"
            )
        self._delete([claim_key(project)])
        return found

    def _require_claim(self, project: str, *, take_free: bool) -> None:
        """Refuse (ProjectClaimed) to write or delete under a project whose claim is not
        the bound state's. `take_free` claims an unclaimed project first, for a version
        this state is about to store or recorded as its own; a sweep takes nothing."""
        if self.state_id is None:
            return
        held = self.claim(project) if take_free else self.read_claim(project)
        if held is not None and held.state_id == self.state_id:
            return
        if held is None:
            raise ProjectClaimed(
                f"{self.url}: project {project} is not claimed by this state "
                f"({self.state_id}); nothing under it is deleted"
            )
        if self._on_claim_lost is not None:
            self._on_claim_lost(held)
        raise ProjectClaimed(
            f"{self.url}: project {project} is claimed by {held.owner()}, not by this "
            f"state ({self.state_id}); nothing under it is written or deleted"
        )

    def _put_claim(self, claim: Claim, mode: PutMode) -> bool:
        """Write a claim; False when `mode` is create and a claim is already there."""
        key = claim_key(claim.project)
        with self._errors(f"put {key}"):
            try:
                obstore.put(self._backend, key, claim.to_json(), mode=mode, use_multipart=False)
            except AlreadyExistsError:
                return False
        return True

    # ---- capacity ---------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes held under `datasets/`, by listing (committed or not)."""
        return sum(self._list_sizes(DATASETS_PREFIX).values())

    def free_bytes(self) -> int | None:
        """The real free space of the disk under a file:// store; None for other stores."""
        if self._local_root is None:
            return None
        try:
            return shutil.disk_usage(self._local_root).free
        except OSError as exc:
            raise local_error(f"cannot read free space of {self._local_root}", exc) from None

    # ---- internals --------------------------------------------------------------------

    def _upload(
        self,
        project: str,
        dataset: str,
        version: int,
        sources: list[SourceFile],
        owned: bool = False,
    ) -> tuple[FileEntry, ...]:
        abort = threading.Event()
        big_files = threading.BoundedSemaphore(BIG_FILE_SLOTS)
        keys = [file_key(project, dataset, version, source.rel_path) for source in sources]
        if self._local_root is not None:
            self._make_local_dirs(keys)

        def upload(item: tuple[str, SourceFile]) -> FileEntry:
            key, source = item
            if source.size_bytes > CHUNK_SIZE_BYTES:
                with big_files:
                    return self._upload_file(key, source, abort, owned)
            return self._upload_file(key, source, abort, owned)

        entries = run_all(upload, list(zip(keys, sources, strict=True)), abort)
        return tuple(sorted(entries, key=lambda entry: entry.path))

    def _upload_file(
        self, key: str, source: SourceFile, abort: threading.Event, owned: bool = False
    ) -> FileEntry:
        if self._local_root is not None and _PLAIN_KEY.fullmatch(key):
            return self._copy_local_file(f"{self._local_root}/{key}", source, abort, owned)
        try:
            handle = open(source.disk_path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise local_error(f"cannot read {source.rel_path}", exc) from None
        with handle:
            reader = HashingReader(handle, abort)
            try:
                with self._errors(f"put {key}"):
                    obstore.put(
                        self._backend,
                        key,
                        cast(IO[bytes], reader),
                        chunk_size=CHUNK_SIZE_BYTES,
                        max_concurrency=PART_CONCURRENCY,
                    )
            except StoreError:
                if reader.error is not None:
                    raise local_error(f"cannot read {source.rel_path}", reader.error) from None
                raise
            try:
                digest, size_bytes = reader.finish()
            except OSError as exc:
                raise local_error(f"cannot read {source.rel_path}", exc) from None
        if size_bytes != source.size_bytes:
            raise StoreError(f"{source.rel_path} changed while it was being stored")
        return FileEntry(source.rel_path, size_bytes, digest)

    def _make_local_dirs(self, keys: list[str]) -> None:
        """The directories of a version's files, made once before the copies start rather
        than tried again for every file."""
        assert self._local_root is not None
        parents = {key.rpartition("/")[0] for key in keys if _PLAIN_KEY.fullmatch(key)}
        for parent in sorted(parents):
            try:
                (self._local_root / parent).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise local_error(f"cannot create {parent}", exc) from None

    def _copy_local_file(
        self, dest: str, source: SourceFile, abort: threading.Event, owned: bool = False
    ) -> FileEntry:
        """Store one file in a file:// store under the name obstore's LocalStore would give
        it, copied by the kernel while this thread hashes it (a big file), or read once and
        hashed in memory (a small one). Only for keys made of characters that LocalStore
        maps to the same file name (`_PLAIN_KEY`); anything else goes through obstore.

        The file is written in place, not beside it and renamed as LocalStore does: no
        reader looks at a version's files before its manifest exists, and a copy cut short
        is under an uncommitted version, which is debris either way (and one rename per
        file fewer)."""
        if abort.is_set():
            raise StoreError("upload cancelled")
        try:
            with open(source.disk_path, "rb", buffering=0) as src:
                linked = owned and link_sole_name(src.fileno(), source.disk_path, dest)
                if source.size_bytes <= CHUNK_SIZE_BYTES:
                    data = src.readall()
                    digest = hashlib.sha256(data).hexdigest()
                    if not linked:
                        write_file(dest, data)
                    size_bytes = len(data)
                elif linked:
                    digest, size_bytes = hash_file(src.fileno(), abort)
                else:
                    digest, size_bytes = copy_and_hash(src, dest, abort)
        except OSError as exc:
            with suppress(OSError):
                Path(dest).unlink()
            raise local_error(f"cannot store {source.rel_path}", exc) from None
        if size_bytes != source.size_bytes:
            raise StoreError(f"{source.rel_path} changed while it was being stored")
        return FileEntry(source.rel_path, size_bytes, digest)

    def _download_file(self, key: str, entry: FileEntry, target: Path) -> None:
        """Write one object beside `target`, then rename it into place once its size and
        sha256 match the manifest. Blocks of zeros become holes (see SparseWriter): a
        sparse file stays sparse, and pulling it costs the disk and time of its data only."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".amed-", suffix=".part")
        except OSError as exc:
            raise local_error(f"cannot write {target}", exc) from None
        try:
            try:
                out = SparseWriter(fd, str(target))
                digest, size_bytes = self._stream_object(key, out)
                out.finish()
            finally:
                os.close(fd)
            if size_bytes != entry.size_bytes or digest != entry.sha256:
                raise StoreError(
                    f"{self.url}: {key}: got {size_bytes} bytes with sha256 {digest}, the "
                    f"manifest says {entry.size_bytes} bytes with sha256 {entry.sha256}"
                )
            Path(temp_name).replace(target)
        except OSError as exc:
            Path(temp_name).unlink(missing_ok=True)
            raise local_error(f"cannot write {target}", exc) from None
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def _hash_object(self, key: str) -> tuple[str, int]:
        return self._stream_object(key, None)

    def _stream_object(self, key: str, out: SparseWriter | None) -> tuple[str, int]:
        """(sha256 hex, size) of an object, of every byte including those `out` leaves as
        holes. A failed write is the local disk's error, not the store's.

        A file:// store's file is read here, as `_copy_local_file` writes it: obstore reads
        a local file in small pieces, some 30 times slower than one buffer reused."""
        digest = hashlib.sha256()
        size_bytes = 0

        def take(chunk: bytes | memoryview) -> None:
            nonlocal size_bytes
            digest.update(chunk)
            size_bytes += len(chunk)
            if out is not None:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise local_error(f"cannot write {out.name}", exc) from None

        with self._errors(f"get {key}"):
            if self._local_root is not None and _PLAIN_KEY.fullmatch(key):
                buffer = bytearray(DOWNLOAD_CHUNK_BYTES)
                view = memoryview(buffer)
                with open(f"{self._local_root}/{key}", "rb", buffering=0) as src:
                    while read := src.readinto(buffer):
                        take(view[:read])
            else:
                for chunk in obstore.get(self._backend, key).stream(DOWNLOAD_CHUNK_BYTES):
                    take(chunk)
        return digest.hexdigest(), size_bytes

    def _get_bytes(self, key: str) -> bytes | None:
        with self._errors(f"get {key}"):
            try:
                return bytes(obstore.get(self._backend, key).bytes())
            except FileNotFoundError as exc:
                if "NoSuchBucket" in str(exc):
                    raise
                return None

    def _keys_listed_by(self, mkey: str) -> set[str] | None:
        """The keys a committed manifest accounts for; None when it cannot be read."""
        data = self._get_bytes(mkey)
        if data is None:
            return None
        try:
            manifest = Manifest.from_json(data)
        except ValueError:
            log.warning("manifest_unreadable", store=self.url, key=mkey)
            return None
        p, d, v = manifest.project, manifest.dataset, manifest.version
        if mkey != manifest_key(p, d, v):
            return None
        return {mkey} | {file_key(p, d, v, entry.path) for entry in manifest.files}

    def _list_sizes(self, prefix: str) -> dict[str, int]:
        sizes: dict[str, int] = {}
        with self._errors(f"list {prefix}"):
            for chunk in obstore.list(self._backend, prefix.rstrip("/"), chunk_size=1000):
                for meta in chunk:
                    sizes[meta["path"]] = meta["size"]
        return sizes

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            with self._errors(f"delete {batch[0]}"):
                try:
                    obstore.delete(self._backend, batch)
                except FileNotFoundError:
                    # The local store stops at a key that is already gone: finish one by one.
                    for key in batch:
                        with suppress(FileNotFoundError):
                            obstore.delete(self._backend, key)

    def _clear_uncommitted(self, prefix: str) -> None:
        """Remove whatever an earlier, unfinished attempt left under a version prefix."""
        leftovers = list(self._list_sizes(prefix))
        self._delete(leftovers)
        if self._local_root is not None:
            remove_tree(self._local_root / prefix)

    def _discard(self, prefix: str) -> None:
        """Best-effort undo of a failed put_version: its prefix was empty when it began."""
        mkey = prefix + "manifest.json"
        try:
            self._delete([mkey])
            self._clear_uncommitted(prefix)
        except (StoreError, OSError) as exc:
            log.warning("discard_failed", store=self.url, prefix=prefix, error=str(exc))

    def _sweep_local(
        self, scope: str, owned: set[tuple[str, str, int]], in_flight: set[str]
    ) -> list[str]:
        """Remove obstore's hidden temporary files and empty directories on disk."""
        assert self._local_root is not None
        root = self._local_root
        top = root / scope
        removed: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(top, topdown=False):
            rel_dir = Path(dirpath).relative_to(root).as_posix() + "/"
            if any(rel_dir.startswith(prefix) for prefix in in_flight):
                continue
            for name in filenames:
                key = rel_dir + name
                match = _LOCAL_TEMP_SUFFIX.search(name)
                if match is None:
                    continue
                owner = parse_version_key(key[: len(key) - len(match.group())])
                if owner in owned and version_prefix(*owner) in in_flight:
                    continue
                try:
                    (Path(dirpath) / name).unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise local_error(f"cannot remove {key}", exc) from None
                removed.append(key)
            if Path(dirpath) == root / DATASETS_PREFIX:
                continue
            if any(prefix.startswith(rel_dir) for prefix in in_flight):
                continue
            try:
                Path(dirpath).rmdir()
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise local_error(f"cannot remove {rel_dir}", exc) from None
                continue
            removed.append(rel_dir)
        return removed

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate obstore's errors into ours, once, at the door."""
        try:
            yield
        except StoreError:
            raise
        except (BaseError, OSError, ValueError) as exc:
            raise self._translate(doing, exc) from None

    def _translate(self, doing: str, exc: BaseException) -> StoreError:
        text = str(exc)
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        first_line = _XML_ERROR.sub(
            lambda m: f"{m.group('code')}: {m.group('msg') or ''}".rstrip(": "), first_line
        )
        message = self._redact(f"{self.url}: {doing}: {first_line}")
        if len(message) > MESSAGE_MAX_CHARS:
            message = message[: MESSAGE_MAX_CHARS - 3] + "..."
        if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or _NO_SPACE.search(text):
            return OutOfSpace(message)
        if "NoSuchBucket" in text:
            return StoreError(self._redact(f"{self.url}: the bucket does not exist"))
        if isinstance(exc, FileNotFoundError | PermissionDeniedError | UnauthenticatedError):
            return StoreError(message)
        # Classify on the words of the error, not on a URL or key that may contain them.
        if isinstance(exc, BaseError) and _TRANSIENT.search(_URL.sub("", first_line)):
            return StoreUnavailable(message)
        return StoreError(message)

    def _redact(self, text: str) -> str:
        text = _URL_USERINFO.sub("//", text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _valid_owner(owner: tuple[str, str, int]) -> bool:
    try:
        version_prefix(*owner)
    except (TypeError, ValueError):
        return False
    return True


# ---- opening a store by URL -------------------------------------------------------------


def open_store(url: str) -> ObjectStore:
    """Open the store a URL names.

    - `file:///abs/dir` (created if missing; `file://rel/dir` is taken relative to the
      current directory), `memory://` (a new, empty store each time),
    - `s3://bucket[/prefix]`: endpoint, region and credentials from the usual AWS_*
      variables (`s3://KEY:SECRET@bucket` also works, and is redacted everywhere),
    - `gs://bucket[/prefix]`, `az://container[/prefix]`: through obstore, credentials
      from the environment.
    Remote stores always get request timeouts and a bounded retry; a bad URL or an
    unknown scheme is a StoreError.
    """
    safe_url = _URL_USERINFO.sub("//", url)
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        raise StoreURLError(f"{safe_url}: not a valid store URL") from None
    secrets = [unquote(s) for s in (user, password) if s]
    secrets += [os.environ.get(v, "") for v in _CREDENTIAL_VARIABLES]
    scheme = parts.scheme.lower()
    if parts.query or parts.fragment:
        raise StoreURLError(
            f"{_redact_all(safe_url, secrets)}: a store URL takes no query or fragment; "
            "configure endpoints and credentials through the environment"
        )
    try:
        if scheme == "file":
            return _open_local(parts.netloc, parts.path, safe_url, secrets)
        if scheme == "memory":
            if parts.netloc or parts.path.strip("/"):
                raise StoreURLError(f"{safe_url}: write memory:// with nothing after it")
            return ObjectStore(MemoryStore(), "memory://")
        if scheme == "s3":
            return _open_s3(
                parts.netloc.rpartition("@")[2], parts.path, user, password, safe_url, secrets
            )
        if scheme in ("gs", "az"):
            if user or password:
                raise StoreURLError(
                    f"{safe_url}: put {scheme}:// credentials in the environment, not the URL"
                )
            backend = from_url(
                safe_url, client_options=_client_options(False), retry_config=_retry_config()
            )
            return ObjectStore(backend, safe_url, secrets=secrets)
    except (BaseError, ValueError, OSError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreError(_redact_all(f"{safe_url}: cannot open: {first_line}", secrets)) from None
    raise StoreURLError(
        f"{_redact_all(safe_url, secrets)}: unknown store scheme {scheme!r}; "
        "use file://, memory://, s3://, gs:// or az://"
    )


_CREDENTIAL_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
)
"""Credentials obstore reads from the environment: masked in every error, and in what
tasks print."""


def _open_local(netloc: str, path: str, safe_url: str, secrets: list[str]) -> ObjectStore:
    text = unquote(path)
    if netloc not in ("", "localhost"):
        text = unquote(netloc) + text
    if not text:
        raise StoreURLError(f"{safe_url}: a file:// URL needs a directory")
    root = Path(text)
    if not root.is_absolute():
        root = Path.cwd() / root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise local_error(f"{safe_url}: cannot create {root}", exc) from None
    backend = LocalStore(root, automatic_cleanup=True)
    # The credentials in the environment are not this store's, but they are the daemon's:
    # masked all the same.
    return ObjectStore(backend, safe_url, local_root=root, secrets=secrets)


def _open_s3(
    bucket: str,
    path: str,
    user: str | None,
    password: str | None,
    safe_url: str,
    secrets: list[str],
) -> ObjectStore:
    if not bucket:
        raise StoreURLError(f"{safe_url}: an s3:// URL needs a bucket")
    endpoint = next(
        (
            os.environ[name]
            for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
            if os.environ.get(name)
        ),
        None,
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options: dict[str, str] = {}
    if endpoint:
        options["endpoint"] = endpoint
    if region:
        options["region"] = region
    if user or password:
        options["access_key_id"] = unquote(user or "")
        options["secret_access_key"] = unquote(password or "")
    prefix = unquote(path).strip("/") or None
    backend = S3Store(
        bucket,
        prefix=prefix,
        client_options=_client_options(bool(endpoint and endpoint.startswith("http://"))),
        retry_config=_retry_config(),
        **options,  # type: ignore[arg-type]
    )
    return ObjectStore(backend, safe_url, secrets=secrets)


def _client_options(allow_http: bool) -> ClientConfig:
    options: ClientConfig = {"timeout": REQUEST_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}
    if allow_http:
        options["allow_http"] = True
    return options


def _retry_config() -> RetryConfig:
    return {
        "max_retries": RETRY_MAX,
        "retry_timeout": timedelta(seconds=RETRY_TIMEOUT_SECONDS),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=5),
            "base": 2,
        },
    }


def _redact_all(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
