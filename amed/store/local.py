"""A file:// store: the commit protocol of amed.store.objects, with the bytes moved by the
kernel instead of through the object API.

obstore's LocalStore is kept as the backend (listing, deleting, keys it must escape), but
for the common key a version's file is linked or copied straight into the file obstore
would have written (or a whole data directory moved there), and read back straight from
it: obstore reads a local file in small pieces, some 30 times slower than one buffer
reused. The disk also has things the object API does not show: its free space, the
directories of deleted versions, and the hidden temporary files a killed `put` leaves.

A version survives a power cut once it is committed (DESIGN: a crash never leaves a data set
marked ready with incomplete data). Written, a file is only in the page cache: ext4 may put
a directory entry, or the manifest, on disk before the blocks of a file it names, which
reads back empty or short after the cut. So `put_version` goes data → sync → manifest →
fsync of the manifest and its directory → return, and only then does the daemon append
`version_stored`:
- the sync (one syncfs(2) of the store's file system) returns once every file of the
  version, linked, copied or moved, its name and the directories made for it are on the
  disk and the disk's cache flushed; the manifest is written after that, so a manifest on
  disk only ever names files that are complete on disk;
- the manifest is fsynced with its directory before `put_version` returns, so the event,
  appended after the return, cannot be on disk without it. A cut before that leaves no
  manifest, or a torn one, which is no committed version (`_committed_manifest` reads
  none), and no event: debris, swept at the next start;
- SQLite may lose its last commits in a cut, never reorder them before the manifest: a
  version that was durable but not recorded is debris too.
One syncfs cost less than an fsync per file (2,000 files of 64 KiB: 165 ms against 400 ms,
a thread per core; one 1 GiB file: 324 ms against 435 ms); it also writes whatever else is
dirty on that file system, and a write-back error of anyone's file there since the upload
began fails the put, the safe side. Another syncfs begins with the upload, so that most of
the writing overlaps the hashing (`_durable_writes`). Without syncfs every file and
directory of the version is fsynced instead.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

from obstore.store import LocalStore

from amed.errors import StoreError
from amed.store.access import CHUNK_SIZE_BYTES, DOWNLOAD_CHUNK_BYTES, Chunk
from amed.store.checksum import WRITE_ALGORITHM, Checksum, bytes_checksum, file_checksum
from amed.store.datafiles import (
    SourceFile,
    WholeTree,
    copy_and_hash,
    fsync_path,
    fsync_tree,
    link_sole_name,
    local_error,
    make_read_only,
    remove_tree,
    sync_filesystem,
    write_file,
)
from amed.store.manifest import (
    DATASETS_PREFIX,
    FILES_DIR,
    FileEntry,
    parse_version_key,
    version_prefix,
)
from amed.store.objects import ObjectStore, Owner
from amed.store.sources import FileSource, ObjectSource

# obstore's local store writes `<key>#<n>` and renames it into place; a kill in between
# leaves the temporary file, which list() does not show.
_LOCAL_TEMP_SUFFIX = re.compile(r"#\d+$")
# rename(2) of a data directory that may not be moved but can still be linked or copied:
# another file system, a mount point, a target that is no longer empty, no permission.
_CANNOT_MOVE = frozenset(
    {
        errno.EXDEV,
        errno.EBUSY,
        errno.ENOTEMPTY,
        errno.EEXIST,
        errno.EPERM,
        errno.EACCES,
        errno.EINVAL,
    }
)
# Keys that obstore's LocalStore stores under a file of exactly the same relative name.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._/-]+")


class LocalObjectStore(ObjectStore):
    """The store in the directory `root` (which must exist)."""

    # Storing a file here is a few system calls and a hash, all of which let other threads
    # run: a thread per core (at least two, so one's system call overlaps the other's hash)
    # keeps the cores busy. More only queue up on the GIL (16 cost a third more CPU time
    # than 2 for 2,000 files of 64 KiB), and past a few the Python between the calls, run
    # one thread at a time, is what limits.
    upload_workers = max(2, min(8, os.cpu_count() or 1))

    def __init__(self, root: Path, url: str, *, secrets: Collection[str] = ()) -> None:
        super().__init__(LocalStore(root, automatic_cleanup=True), url, secrets=secrets)
        self.root = root

    def free_bytes(self) -> int | None:
        """The real free space of the disk under the store."""
        try:
            return shutil.disk_usage(self.root).free
        except OSError as exc:
            raise local_error(f"cannot read free space of {self.root}", exc) from None

    # ---- hooks of ObjectStore ---------------------------------------------------------

    def _remove_prefix(self, prefix: str) -> None:
        remove_tree(self.root / prefix)

    def _sweep_unlisted(self, scope: str, owned: set[Owner], committed: set[Owner]) -> list[str]:
        """Remove obstore's hidden temporary files and empty directories on disk, except
        under a version being uploaded (owned, not yet committed)."""
        in_flight = {version_prefix(*o) for o in owned - committed if _valid_owner(o)}
        root = self.root
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

    # ---- the bytes, moved by the kernel -----------------------------------------------

    def _move_into_place(
        self, prefix: str, sources: list[SourceFile], whole: WholeTree
    ) -> list[SourceFile]:
        """The data directory renamed to the version's `files/`: one system call where
        linking costs two per file (the link, and the check that it names the file opened),
        and the directory entries, already on the disk, are not written again. Returns the
        sources at their new names, which `_upload_file` then only hashes; the same sources
        when the directory cannot be moved (another file system, a name LocalStore would
        escape, a mount inside), so that they are linked or copied one by one.

        Its directories get the permissions of the store's own: they were the task's."""
        files_dir = f"{prefix}{FILES_DIR}"
        plain = _PLAIN_KEY.fullmatch
        if not plain(files_dir) or not all(plain(source.rel_path) for source in sources):
            return sources
        target = self.root / files_dir
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            mode = stat.S_IMODE(target.parent.stat().st_mode)
            Path(whole.path).rename(target)
        except OSError as exc:
            if exc.errno in _CANNOT_MOVE:
                return sources
            raise local_error(f"cannot move {prefix} into place", exc) from None
        try:
            for rel_path, dir_mode in whole.dir_modes:
                if dir_mode != mode:
                    (target / rel_path).chmod(mode)
        except OSError as exc:
            raise local_error(f"cannot set the permissions of {files_dir}", exc) from None
        return [
            SourceFile(
                source.rel_path, f"{self.root}/{files_dir}{source.rel_path}", source.size_bytes
            )
            for source in sources
        ]

    def _prepare_upload(self, keys: list[str]) -> None:
        """The directories of a version's files, made once before the copies start rather
        than tried again for every file."""
        parents = {key.rpartition("/")[0] for key in keys if _PLAIN_KEY.fullmatch(key)}
        for parent in sorted(parents):
            try:
                (self.root / parent).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise local_error(f"cannot create {parent}", exc) from None

    @contextmanager
    def _durable_writes(self) -> Iterator[Callable[[str], None]]:
        """The store's file system synced in one call (the module docstring says why that is
        enough), through a descriptor opened before the first byte is written: syncfs
        reports the write-back errors seen since then.

        A first syncfs starts at once, beside the upload: the task's output, the bulk of
        what must reach the disk, is written back while its files are linked and hashed
        rather than after. The sync that makes the version durable still comes after the
        upload, and writes only what the upload itself changed (its names, the copies).
        syncfs reports an error once per descriptor, so the first call's is kept and
        raised by the second."""
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise local_error(f"cannot open {self.root}", exc) from None
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sync")
        early: Future[bool] | None = None

        def make_durable(prefix: str) -> None:
            try:
                if early is not None:
                    early.result()
                if not sync_filesystem(fd):
                    self._fsync_prefix(prefix)
            except OSError as exc:
                raise local_error(f"cannot write {prefix} to disk", exc) from None

        try:
            with suppress(RuntimeError):  # no thread to be had: the one sync after does it all
                early = pool.submit(sync_filesystem, fd)
            yield make_durable
        finally:
            pool.shutdown()  # waits for the first sync, which uses `fd`
            os.close(fd)

    def _make_durable_commit(self, mkey: str) -> None:
        """The manifest and its name in the version's directory: two fsyncs, where a second
        syncfs would write out everyone else's dirty pages again."""
        parent = mkey.rpartition("/")[0]
        try:
            if _PLAIN_KEY.fullmatch(mkey):
                fsync_path(f"{self.root}/{mkey}")
                fsync_path(f"{self.root}/{parent}")
            else:  # obstore escaped the names: sync the file system
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    if not sync_filesystem(fd):
                        self._fsync_prefix(parent + "/")
                finally:
                    os.close(fd)
        except OSError as exc:
            raise local_error(f"cannot write {mkey} to disk", exc) from None

    def _fsync_prefix(self, prefix: str) -> None:
        """Every file and directory under `prefix`, and the directories above it up to the
        root (`_prepare_upload` may have made them), fsynced; the whole store when obstore
        escaped the names in `prefix`, which are then not the names on disk."""
        if not _PLAIN_KEY.fullmatch(prefix):
            fsync_tree(str(self.root), self.upload_workers)
            return
        fsync_tree(f"{self.root}/{prefix}", self.upload_workers)
        parent = prefix.rstrip("/").rpartition("/")[0]
        while parent:
            fsync_path(f"{self.root}/{parent}")
            parent = parent.rpartition("/")[0]
        fsync_path(str(self.root))

    def _upload_file(
        self, key: str, source: SourceFile, abort: threading.Event, owned: bool = False
    ) -> FileEntry:
        """Store one file under the name obstore's LocalStore would give it, copied by the
        kernel while this thread hashes it (a big file), or read once and hashed in memory
        (a small one). An `owned` file with no other name is linked, not copied; one moved
        here with its directory (`_move_into_place`) is only hashed. Only for
        keys made of characters that LocalStore maps to the same file name (`_PLAIN_KEY`);
        anything else goes through obstore.

        The file is written in place, not beside it and renamed as LocalStore does: no
        reader looks at a version's files before its manifest exists, and a copy cut short
        is under an uncommitted version, which is debris either way (and one rename per
        file fewer)."""
        if not _PLAIN_KEY.fullmatch(key):
            return super()._upload_file(key, source, abort, owned)
        dest = f"{self.root}/{key}"
        if abort.is_set():
            raise StoreError("upload cancelled")
        size_bytes = source.size_bytes
        in_place = source.disk_path == dest  # moved here whole (`_move_into_place`)
        try:
            fd = os.open(source.disk_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if in_place:  # as link_sole_name leaves a file it linked
                    linked = True
                    make_read_only(fd)
                else:
                    linked = owned and link_sole_name(fd, source.disk_path, dest)
                if size_bytes <= CHUNK_SIZE_BYTES:
                    # A regular file reads whole in one call, short only at its end: one
                    # byte more than listed tells a file that grew from one that did not.
                    data = os.read(fd, size_bytes + 1)
                    checksum = Checksum(WRITE_ALGORITHM, bytes_checksum(data), len(data))
                    if not linked:
                        write_file(dest, data)
                elif linked:
                    checksum = file_checksum(fd, abort)
                else:
                    checksum = copy_and_hash(fd, dest, abort)
            finally:
                os.close(fd)
        except OSError as exc:
            if not in_place:
                with suppress(OSError):
                    Path(dest).unlink()
            raise local_error(f"cannot store {source.rel_path}", exc) from None
        if checksum.size_bytes != size_bytes:
            raise StoreError(f"{source.rel_path} changed while it was being stored")
        return FileEntry(source.rel_path, size_bytes, checksum.digest, checksum.algorithm)

    def _read_object(self, key: str, take: Callable[[Chunk], None]) -> None:
        """Read the file `_upload_file` wrote, through one buffer reused."""
        if not _PLAIN_KEY.fullmatch(key):
            super()._read_object(key, take)
            return
        buffer = bytearray(DOWNLOAD_CHUNK_BYTES)
        view = memoryview(buffer)
        with open(f"{self.root}/{key}", "rb", buffering=0) as src:
            while read := src.readinto(buffer):
                take(view[:read])

    def _open_source(self, key: str, label: str, size_bytes: int) -> ObjectSource:
        """The file `_upload_file` wrote, read through its descriptor: held open, it stays
        readable whatever happens to the version meanwhile."""
        if not _PLAIN_KEY.fullmatch(key):
            return super()._open_source(key, label, size_bytes)
        return FileSource(label, size_bytes, f"{self.root}/{key}")


def _valid_owner(owner: Owner) -> bool:
    try:
        version_prefix(*owner)
    except (TypeError, ValueError):
        return False
    return True
