"""Files on the local disk around the store: walking a data directory (following only links
that stay inside it), hashing a file while it is read or copied, running work on a pool.

No obstore here: this is plain file plumbing that `amed.store` builds on.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

from amed.errors import OutOfSpace, StoreError

_T = TypeVar("_T")
_R = TypeVar("_R")

UPLOAD_WORKERS = 16
HASH_BLOCK_BYTES = 1024 * 1024
COPY_CHUNK_BYTES = 64 * 1024 * 1024


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

    def __init__(self, handle: BinaryIO, abort: threading.Event) -> None:
        self._handle = handle
        self._abort = abort
        self._digest = hashlib.sha256()
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

    def finish(self) -> tuple[str, int]:
        """(sha256 hex, size in bytes) of the whole file."""
        self._handle.seek(self._hashed_bytes)
        while block := self._handle.read(HASH_BLOCK_BYTES):
            self._digest.update(block)
            self._hashed_bytes += len(block)
        return self._digest.hexdigest(), self._hashed_bytes


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
        linked = Path(dest).lstat()
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
            return False
        raise
    if (linked.st_dev, linked.st_ino) != (info.st_dev, info.st_ino):
        Path(dest).unlink()
        return False
    os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o222)
    return True


def hash_file(fd: int, abort: threading.Event) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of the file open as `fd`, read through one buffer (a
    fresh 1 MiB `bytes` per block would cost page faults on every block)."""
    digest = hashlib.sha256()
    size_bytes = 0
    buffer = bytearray(HASH_BLOCK_BYTES)
    view = memoryview(buffer)
    while read := os.preadv(fd, [buffer], size_bytes):
        if abort.is_set():
            raise OSError(errno.ECANCELED, "upload cancelled")
        digest.update(view[:read])
        size_bytes += read
    return digest.hexdigest(), size_bytes


def write_file(dest: str, data: bytes) -> None:
    """Create (or truncate) `dest` and write all of `data` to it."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def copy_and_hash(src: BinaryIO, dest: str, abort: threading.Event) -> tuple[str, int]:
    """Copy `src` to `dest` in a second thread (in the kernel where it can) while hashing it
    here; returns (sha256 hex, bytes hashed). Both read the source, so a file that changes
    meanwhile shows up as a size different from the one listed."""
    fd = src.fileno()

    def copy() -> int:
        with open(dest, "wb") as out:
            return copy_range(fd, out.fileno(), abort)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-copy") as pool:
        copied = pool.submit(copy)
        try:
            digest, size_bytes = hash_file(fd, abort)
        except BaseException:
            abort.set()
            raise
        if copied.result() != size_bytes:
            raise OSError(errno.EIO, "the file changed while it was being stored")
    return digest, size_bytes


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


def run_all(work: Callable[[_T], _R], items: list[_T], abort: threading.Event | None) -> list[_R]:
    """Run `work` over `items` on a pool of threads; the first failure cancels what has
    not started, sets `abort` for what is running, and is raised once all have stopped."""
    if not items:
        return []
    results: list[_R] = []
    with ThreadPoolExecutor(max_workers=min(UPLOAD_WORKERS, len(items))) as pool:
        futures: list[Future[_R]] = [pool.submit(work, item) for item in items]
        try:
            for future in futures:
                results.append(future.result())
        except BaseException:
            if abort is not None:
                abort.set()
            for future in futures:
                future.cancel()
            raise
    return results


def collect_sources(src_dir: Path) -> tuple[list[SourceFile], tuple[str, ...]]:
    """The regular files a data directory holds, following only links that stay inside.

    Returns the files and the `"<relative path>: <reason>"` lines of what was left out.
    """
    root = os.path.realpath(src_dir)
    sources: list[SourceFile] = []
    skipped: list[str] = []
    # (real directory, relative prefix, real directories on the way down)
    pending: list[tuple[str, str, frozenset[str]]] = [(root, "", frozenset({root}))]
    while pending:
        directory, rel_prefix, ancestors = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise local_error(f"cannot read {directory}", exc) from None
        for entry in entries:
            rel_path = rel_prefix + entry.name
            try:
                rel_path.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append(f"{rel_path!r}: the name is not valid UTF-8")
                continue
            target = entry.path
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                if not is_inside(target, root):
                    skipped.append(f"{rel_path}: symlink leaves the data directory")
                    continue
            try:
                info = Path(target).stat()
            except FileNotFoundError:
                skipped.append(f"{rel_path}: broken symlink")
                continue
            except OSError as exc:
                raise local_error(f"cannot read {rel_path}", exc) from None
            if stat.S_ISDIR(info.st_mode):
                if target in ancestors:
                    skipped.append(f"{rel_path}: symlink loops back to a parent directory")
                    continue
                pending.append((target, rel_path + "/", ancestors | {target}))
            elif stat.S_ISREG(info.st_mode):
                sources.append(SourceFile(rel_path, target, info.st_size))
            else:
                skipped.append(f"{rel_path}: not a regular file")
    return sources, tuple(sorted(skipped))


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
