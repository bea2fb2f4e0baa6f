"""Files on the local disk around the store: walking a data directory (following only links
that stay inside it), hashing a file while it is read or copied (amed.store.checksum says
how), writing a download with its holes kept, making what was written survive a power cut,
running work on a pool.

No obstore here: this is plain file plumbing that `amed.store.access` and `amed.store.local`
build on.
"""

from __future__ import annotations

import errno
import functools
import itertools
import os
import shutil
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, TypeVar

from amed.errors import OutOfSpace, StoreError
from amed.store.checksum import (
    HASH_BLOCK_BYTES,
    WRITE_ALGORITHM,
    Checksum,
    file_checksum,
    new_hasher,
)

_T = TypeVar("_T")
_R = TypeVar("_R")

UPLOAD_WORKERS = 16
COPY_CHUNK_BYTES = 64 * 1024 * 1024
SPARSE_BLOCK_BYTES = 64 * 1024
_ZERO_BLOCK = bytes(SPARSE_BLOCK_BYTES)

_Inode = tuple[int, int]  # (st_dev, st_ino): one file, whatever its names


@dataclass(frozen=True)
class SourceFile:
    rel_path: str
    disk_path: str
    size_bytes: int


class HashingReader:
    """The file obstore uploads, hashing each byte the first time obstore reads it.

    A file is thus read from disk once. obstore seeks (to learn the size) and could
    re-read a range on retry; only bytes past what was hashed are hashed, and `finish`
    hashes any tail obstore did not read, so the digest is always of the whole file.
    Setting `abort` makes the next read fail, which stops a long upload early.
    """

    def __init__(
        self, handle: BinaryIO, abort: threading.Event, algorithm: str = WRITE_ALGORITHM
    ) -> None:
        self._handle = handle
        self._abort = abort
        self._algorithm = algorithm
        self._digest = new_hasher(algorithm)
        self._hashed_bytes = 0
        self.error: OSError | None = None

    def read(self, size: int = -1) -> bytes:
        if self._abort.is_set():
            raise OSError(errno.ECANCELED, "upload cancelled")
        try:
            position = self._handle.tell()
            data = self._handle.read(size)
        except OSError as exc:
            self.error = exc
            raise
        end = position + len(data)
        if position <= self._hashed_bytes < end:
            self._digest.update(memoryview(data)[self._hashed_bytes - position :])
            self._hashed_bytes = end
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def finish(self) -> Checksum:
        """The checksum entry of the whole file."""
        self._handle.seek(self._hashed_bytes)
        while block := self._handle.read(HASH_BLOCK_BYTES):
            self._digest.update(block)
            self._hashed_bytes += len(block)
        return Checksum(self._algorithm, self._digest.hexdigest(), self._hashed_bytes)


def link_sole_name(fd: int, path: str, dest: str) -> bool:
    """Give the file at `path` (open as `fd`) the second name `dest`, if it has no other name
    yet and `dest` is on the same file system; False when it must be copied instead.

    A file with another name (the task linked it from elsewhere) would let an edit there
    change a stored version, so it is copied. What `dest` names must be the open file
    (`path` could have been swapped since it was opened); its write permissions are then
    dropped: a stored file is never written again."""
    info = os.fstat(fd)
    if info.st_nlink != 1:
        return False
    try:
        os.link(path, dest, follow_symlinks=False)
        linked = os.lstat(dest)  # os, not pathlib: a Path costs more than the call
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
            return False
        raise
    if (linked.st_dev, linked.st_ino) != (info.st_dev, info.st_ino):
        Path(dest).unlink()
        return False
    make_read_only(fd, info)
    return True


def make_read_only(fd: int, info: os.stat_result | None = None) -> None:
    """Drop the write permissions of the file open as `fd` (`info`: its fstat, if already
    taken), keeping the rest: a stored file is never written again."""
    if info is None:
        info = os.fstat(fd)
    os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o222)


def write_file(dest: str, data: bytes) -> None:
    """Create (or truncate) `dest` and write all of `data` to it."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def copy_and_hash(fd: int, dest: str, abort: threading.Event) -> Checksum:
    """Copy the file open as `fd` to `dest` in a second thread (in the kernel where it can)
    while hashing it here, on this one thread: the copy has the other core. Returns the
    checksum of the bytes hashed. Both read the source, so a file that changes meanwhile
    shows up as a size different from the one listed."""

    def copy() -> int:
        with open(dest, "wb") as out:
            return copy_range(fd, out.fileno(), abort)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-copy") as pool:
        copied = pool.submit(copy)
        try:
            checksum = file_checksum(fd, abort, threads=1)
        except BaseException:
            abort.set()
            raise
        if copied.result() != checksum.size_bytes:
            raise OSError(errno.EIO, "the file changed while it was being stored")
    return checksum


def copy_range(src_fd: int, dest_fd: int, abort: threading.Event) -> int:
    """Copy all of src to dest from offset 0, in the kernel (copy_file_range) when it can."""
    total = 0
    try:
        while not abort.is_set():
            done = os.copy_file_range(src_fd, dest_fd, COPY_CHUNK_BYTES, total, total)
            if done == 0:
                return total
            total += done
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        while not abort.is_set():
            block = os.pread(src_fd, COPY_CHUNK_BYTES, total)
            if not block:
                return total
            os.pwrite(dest_fd, block, total)
            total += len(block)
    raise OSError(errno.ECANCELED, "upload cancelled")


class SparseWriter:
    """Writes a stream into a new, empty file, leaving a hole wherever an aligned block of
    it is all zeros.

    Written byte by byte, a sparse file would take its full size on disk and the time to
    write it all; a hole reads back as zeros, so skipping those blocks keeps every byte
    while writing only the data. Blocks are aligned on offsets in the stream, not on the
    chunks a store happens to deliver, so holes line up with the file system's blocks.
    What is never written must read as zeros: the file has to start empty. `finish` sets
    the full size, which is what makes a trailing hole. `name` is for error messages.
    """

    def __init__(self, fd: int, name: str) -> None:
        self._fd = fd
        self.name = name
        self.size_bytes = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        start = self.size_bytes
        end = start + len(view)
        data_from: int | None = None  # where the data not yet written begins, in the stream
        offset = start
        while offset < end:
            block_end = min(end, offset - offset % SPARSE_BLOCK_BYTES + SPARSE_BLOCK_BYTES)
            block = view[offset - start : block_end - start]
            if block.tobytes() == _ZERO_BLOCK[: len(block)]:  # a copy and a memcmp: fastest
                if data_from is not None:
                    self._write_at(view[data_from - start : offset - start], data_from)
                    data_from = None
            elif data_from is None:
                data_from = offset
            offset = block_end
        if data_from is not None:
            self._write_at(view[data_from - start :], data_from)
        self.size_bytes = end

    def finish(self) -> None:
        os.ftruncate(self._fd, self.size_bytes)

    def _write_at(self, view: memoryview, offset: int) -> None:
        while view:
            done = os.pwrite(self._fd, view, offset)
            view, offset = view[done:], offset + done


@functools.cache
def _find_syncfs() -> Callable[[int], int] | None:
    """The C library's syncfs, looked up at the first sync (ctypes costs a daemon that
    stores nothing into file:// ~1 MB resident)."""
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


def sync_filesystem(fd: int) -> bool:
    """syncfs(2) of the file system that holds `fd`: every dirty page and inode on it written
    and the disk's cache flushed; False where the C library has no syncfs.

    It reports a write-back error on that file system since `fd` was opened (Linux 5.8 on),
    whoever's file it was: open `fd` before writing what must be on disk."""
    syncfs = _find_syncfs()
    if syncfs is None:
        return False
    if syncfs(fd) != 0:
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return True


def fsync_path(path: str) -> None:
    """fsync(2) of the file or directory at `path`: its data, and for a directory the names
    in it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(top: str, workers: int = UPLOAD_WORKERS) -> None:
    """fsync every file under `top` (on `workers` threads: the file system merges their
    journal commits), then every directory, deepest first."""
    files: list[str] = []
    directories: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(top):
        directories.append(dirpath)
        files.extend(f"{dirpath}/{name}" for name in filenames)
    run_all(fsync_path, files, None, workers)
    for directory in reversed(directories):
        fsync_path(directory)


def run_all(
    work: Callable[[_T], _R],
    items: list[_T],
    abort: threading.Event | None,
    workers: int = UPLOAD_WORKERS,
) -> list[_R]:
    """Run `work` over `items` on up to `workers` threads, results in the order of `items`;
    the first failure stops what has not started, sets `abort` for what is running, and is
    raised once all have stopped.

    Each thread takes the next item itself, so a data set of 2,000 small files costs
    `workers` futures, not 2,000: a future per item, with its lock and condition, cost more
    than storing the item did once the file was only linked and hashed."""
    if not items:
        return []
    results: list[_R | None] = [None] * len(items)
    claim = itertools.count().__next__  # one step of C code: atomic under the GIL
    stop = threading.Event()
    failures: list[BaseException] = []  # in the order they happened

    def halt() -> None:
        stop.set()
        if abort is not None:
            abort.set()

    def drain() -> None:
        while not stop.is_set() and (index := claim()) < len(items):
            try:
                results[index] = work(items[index])
            except BaseException as exc:  # noqa: BLE001 - raised by run_all once all stop
                failures.append(exc)
                halt()
                return

    count = min(workers, len(items))
    if count == 1:
        drain()
    else:
        with ThreadPoolExecutor(max_workers=count) as pool:
            try:
                for future in [pool.submit(drain) for _ in range(count)]:
                    future.result()
            except BaseException:  # interrupted while waiting: stop the rest early
                halt()
                raise
    if failures:
        raise failures[0]
    return results  # type: ignore[return-value]  # every index was filled, or it raised


@dataclass(frozen=True)
class WholeTree:
    """A data directory that can become a version's `files/` by one rename: it holds
    regular files with one name each and the directories above them, and nothing else (no
    link of either kind, nothing left out, no empty directory), all of it this process's
    and on one file system, and it lies inside a working copy that is not itself.

    `dir_modes` holds each directory's permission bits by relative path ("" for itself):
    the store's directories are its own, not the task's."""

    path: str
    dir_modes: tuple[tuple[str, int], ...]


class Collected(NamedTuple):
    sources: list[SourceFile]
    skipped: tuple[str, ...]
    whole: WholeTree | None


def collect_sources(src_dir: Path, root: Path | None = None) -> Collected:
    """The regular files a data directory holds, following only links that stay inside,
    and leaving out any file that also has a name outside `root` (the task's working copy,
    which holds the data directory; the data directory itself when not given).

    A hard link is the file itself under a second name: one made to a file outside would
    store what lies outside (anything the task could read), exactly what a symlink that
    leaves is refused for, so it is left out the same way. The names of files with more
    than one link are counted by inode while the data directory is walked (a file with one
    link costs nothing more); only when one has more links than names found there is the
    rest of the working copy walked, once, for those files alone.

    Returns the files, the `"<relative path>: <reason>"` lines of what was left out, and
    the data directory as a WholeTree when it is one (learnt on the way, at no extra cost
    but one stat).
    """
    data_root = os.path.realpath(src_dir)
    work_root = data_root if root is None else os.path.realpath(root)
    top = _whole_tree_top(data_root, work_root)
    movable = top is not None
    owner = None if top is None else (top.st_dev, top.st_uid)  # what every entry must have
    dir_modes = [] if top is None else [("", stat.S_IMODE(top.st_mode))]
    sources: list[SourceFile] = []
    inodes: list[_Inode | None] = []  # of each source with more than one link
    links: dict[_Inode, int] = {}  # st_nlink of each such file
    names: dict[_Inode, set[str]] = {}  # its names (real paths) seen so far
    walked: set[str] = set()  # real directories whose names were counted
    unwalked: list[str] = []  # directories inside that the walk does not enter
    skipped: list[str] = []

    def count_name(path: str, info: os.stat_result) -> _Inode | None:
        """Note a name of a file (`path` is "" for a symlink to it, which is no name)."""
        if info.st_nlink == 1:
            return None  # its one name is inside: this one, or the symlink's target
        key = (info.st_dev, info.st_ino)
        links[key] = info.st_nlink
        if path:
            names.setdefault(key, set()).add(path)
        return key

    # (real directory, relative prefix, real directories on the way down)
    pending: list[tuple[str, str, frozenset[str]]] = [(data_root, "", frozenset({data_root}))]
    while pending:
        directory, rel_prefix, ancestors = pending.pop()
        walked.add(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise local_error(f"cannot read {directory}", exc) from None
        if not entries:
            movable = False
        for entry in entries:
            rel_path = rel_prefix + entry.name
            try:
                rel_path.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{rel_path!r}: the name is not valid UTF-8")
                try:
                    if entry.is_dir(follow_symlinks=False):
                        unwalked.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        count_name(entry.path, entry.stat(follow_symlinks=False))
                except OSError as exc:
                    raise local_error(f"cannot read {rel_path!r}", exc) from None
                continue
            target = entry.path
            is_link = entry.is_symlink()
            if is_link:
                movable = False
                target = os.path.realpath(entry.path)
                if not is_inside(target, data_root):
                    skipped.append(f"{rel_path}: symlink leaves the data directory")
                    continue
            try:
                info = os.stat(target)  # noqa: PTH116 - a Path per file cost more than the call
            except FileNotFoundError:
                skipped.append(f"{rel_path}: broken symlink")
                continue
            except OSError as exc:
                if is_link and exc.errno == errno.ELOOP:
                    skipped.append(f"{rel_path}: symlink loop")
                    continue
                raise local_error(f"cannot read {rel_path}", exc) from None
            if movable and (info.st_dev, info.st_uid) != owner:
                movable = False
            if stat.S_ISDIR(info.st_mode):
                if target in ancestors:
                    skipped.append(f"{rel_path}: symlink loops back to a parent directory")
                    continue
                pending.append((target, rel_path + "/", ancestors | {target}))
                if movable:
                    if info.st_mode & stat.S_IRWXU != stat.S_IRWXU:
                        movable = False
                    dir_modes.append((rel_path, stat.S_IMODE(info.st_mode)))
            elif stat.S_ISREG(info.st_mode):
                sources.append(SourceFile(rel_path, target, info.st_size))
                inodes.append(count_name("" if is_link else target, info))
                if info.st_nlink != 1:
                    movable = False
            else:
                skipped.append(f"{rel_path}: not a regular file")
    missing = {key: links[key] - len(names.get(key, ())) for key in links}
    missing = {key: count for key, count in missing.items() if count > 0}
    if missing:
        tops = unwalked + ([work_root] if work_root != data_root else [])
        _find_names(tops, walked | {data_root}, missing)
        where = "data directory" if root is None else "working copy"
        kept: list[SourceFile] = []
        for source, key in zip(sources, inodes, strict=True):
            if key in missing:
                skipped.append(f"{source.rel_path}: hard link to a file outside the {where}")
            else:
                kept.append(source)
        sources = kept
    if skipped or not movable:
        return Collected(sources, tuple(sorted(skipped)), None)
    return Collected(sources, (), WholeTree(data_root, tuple(dir_modes)))


def _whole_tree_top(data_root: str, work_root: str) -> os.stat_result | None:
    """The stat of a data directory that may be a WholeTree, going by itself alone; None
    when it cannot be one. The working copy itself never is: it would take the rest of the
    copy with it."""
    if data_root == work_root or not is_inside(data_root, work_root):
        return None
    try:
        info = Path(data_root).stat()
    except OSError:
        return None  # the walk that follows reports it
    if info.st_uid != os.geteuid() or info.st_mode & stat.S_IRWXU != stat.S_IRWXU:
        return None
    return info


def _find_names(tops: list[str], walked: set[str], missing: dict[_Inode, int]) -> None:
    """Walk the trees under `tops` (not following links, not entering `walked`), taking
    from `missing` each name found of the files it holds; a file whose names are all found
    is dropped from it. What cannot be read is not counted: its files stay missing names,
    the safe side."""
    pending = list(tops)
    while pending and missing:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.path not in walked:
                            pending.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        key = (info.st_dev, info.st_ino)
                        if key in missing:
                            missing[key] -= 1
                            if missing[key] <= 0:
                                del missing[key]
        except OSError:
            continue


def is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise local_error(f"cannot remove {path}", exc) from None


def local_error(doing: str, exc: OSError) -> StoreError:
    """An error of the local disk (not of the store): ENOSPC is OutOfSpace."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpace(f"{doing}: {reason}")
    return StoreError(f"{doing}: {reason}")
