"""A stored file's checksum: the algorithm that made it, and the one place each algorithm is
computed and checked.

A manifest records each file's algorithm beside its digest (`"sha256": hex` or
`"blake3": hex`), so versions written by earlier versions of amed (plain sha256) verify as
they always did, and a reader never needs to know which amed wrote a version: it asks
`new_hasher(entry.algorithm)` for the hash to feed, and `problem` for the verdict.

BLAKE3 is the fast one: over a file in the page cache it runs 2.3-3.1 times as fast as
hashlib's sha256 (which already uses the CPU's SHA extensions) on one core of the machine
the benchmarks run on, where sha256 of 64 MiB parts on two threads gained nothing on its two
busy cores (bench/RESULTS.md, question 1). Storing a big file that is linked, not copied,
costs exactly its checksum, so the checksum sets how fast amed stores.

`file_checksum` is the one function that computes a file's entry: the store's file:// fast
path and any worker that writes manifests through `amed.store` call it, so two writers of
the same bytes always agree.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SHA256 = "sha256"
BLAKE3 = "blake3"
ALGORITHMS = (SHA256, BLAKE3)
WRITE_ALGORITHM = BLAKE3
"""What new versions are checksummed with. Readers verify every algorithm in ALGORITHMS
whatever this says."""

HASH_BLOCK_BYTES = 1024 * 1024
"""One read's size: big enough that a call costs nothing next to its bytes, small enough to
stay in the CPU's cache while it is hashed (BLAKE3 slows down by a third at 8 MiB)."""

AUTO = -1
"""As many hashing threads as BLAKE3 finds cores for (blake3.blake3.AUTO)."""
PARALLEL_MIN_BYTES = 64 * 1024 * 1024
"""Below this a file is hashed on one thread: starting the threads and handing them blocks
cost about what the second core gave back at 16-32 MiB (2 cores)."""
PARALLEL_BLOCK_BYTES = 2 * 1024 * 1024
"""One read's size when several threads hash it."""


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True)
class Checksum:
    """A file's checksum entry: what a manifest records of its bytes."""

    algorithm: str
    digest: str
    size_bytes: int


def new_hasher(algorithm: str, threads: int = 1) -> Hasher:
    """An empty hash of `algorithm`; a ValueError names an algorithm this amed cannot check.
    `threads` > 1 (or AUTO) lets BLAKE3 hash each large update on that many threads; sha256
    has one. The digest is the same whatever the threads: BLAKE3 is a tree of 1 KiB chunks
    whose shape depends only on the input's length, never on who hashed which subtree."""
    if algorithm == SHA256:
        return hashlib.sha256()
    if algorithm == BLAKE3:
        return _blake3()(max_threads=threads)
    raise ValueError(f"checksum algorithm {algorithm!r} is not one of {', '.join(ALGORITHMS)}")


@functools.cache
def _blake3() -> Callable[..., Hasher]:
    """The class, imported when first needed (commands that never hash pay nothing for it)
    and looked up once, not once per file."""
    from blake3 import blake3

    return blake3


def bytes_checksum(data: bytes | bytearray | memoryview, algorithm: str = WRITE_ALGORITHM) -> str:
    """The digest of bytes already in memory (a small file read whole)."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()


def file_checksum(
    fd: int,
    abort: threading.Event | None = None,
    algorithm: str = WRITE_ALGORITHM,
    *,
    threads: int = AUTO,
) -> Checksum:
    """The checksum entry of the whole file open as `fd`, read from offset 0 through one
    buffer (a fresh `bytes` per block would cost page faults on every block). Setting
    `abort` makes the next block fail, which stops a long hash early.

    A file of PARALLEL_MIN_BYTES or more is hashed by BLAKE3 on `threads` threads (AUTO: one
    per core): a linked file costs exactly its checksum, so the cores it leaves idle are
    time lost. Pass 1 when another thread already has the other core (a copy beside)."""
    if algorithm == BLAKE3 and threads != 1 and os.fstat(fd).st_size >= PARALLEL_MIN_BYTES:
        return _parallel_checksum(fd, abort, threads)
    hasher = new_hasher(algorithm)
    size_bytes = 0
    buffer = bytearray(HASH_BLOCK_BYTES)
    view = memoryview(buffer)
    while read := os.preadv(fd, [buffer], size_bytes):
        _check(abort)
        hasher.update(view[:read])
        size_bytes += read
    return Checksum(algorithm, hasher.hexdigest(), size_bytes)


def _parallel_checksum(fd: int, abort: threading.Event | None, threads: int) -> Checksum:
    """BLAKE3 of the file on `threads` threads, the next block read while this one is
    hashed, into two buffers in turn.

    Read, not mapped: a mapped file that shrinks or fails to read kills the process with
    SIGBUS, where a read raises. Blocks stay small (PARALLEL_BLOCK_BYTES) because copying
    out of the page cache costs more once a block no longer fits the CPU's cache (8 MiB
    blocks took two fifths more CPU time than 2 MiB), and BLAKE3 still splits 2 MiB evenly."""
    from concurrent.futures import ThreadPoolExecutor

    hasher = new_hasher(BLAKE3, threads)
    buffers = (bytearray(PARALLEL_BLOCK_BYTES), bytearray(PARALLEL_BLOCK_BYTES))
    size_bytes = 0
    turn = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash-read") as reader:
        pending = reader.submit(os.preadv, fd, [buffers[0]], 0)
        while read := pending.result():
            _check(abort)
            turn ^= 1
            pending = reader.submit(os.preadv, fd, [buffers[turn]], size_bytes + read)
            hasher.update(memoryview(buffers[turn ^ 1])[:read])
            size_bytes += read
    return Checksum(BLAKE3, hasher.hexdigest(), size_bytes)


def _check(abort: threading.Event | None) -> None:
    if abort is not None and abort.is_set():
        raise OSError(errno.ECANCELED, "upload cancelled")


def problem(
    algorithm: str, expected_digest: str, expected_size: int, digest: str, size_bytes: int
) -> str | None:
    """None when the bytes read are the ones recorded; otherwise what differs, as the end of
    one error line (the caller puts the file's name first)."""
    if size_bytes != expected_size:
        return f"got {size_bytes} bytes, the manifest says {expected_size}"
    if digest != expected_digest:
        return (
            f"content differs from the manifest ({algorithm} {digest}, "
            f"the manifest says {expected_digest})"
        )
    return None
