"""Where the bytes of one stored file come from, pinned to one object for the whole read:
an open file descriptor for a file:// store (a version deleted meanwhile stays readable),
or the entity tag of the first answer for the others (a ranged request after the object
changed fails). So a read never mixes two versions' bytes."""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import PreconditionError

from amed.errors import StoreError

if TYPE_CHECKING:
    from obstore import GetOptions, GetResult
    from obstore.store import ObjectStore as Backend

Chunk = bytes | memoryview
Translate = Callable[[str], AbstractContextManager[None]]

STREAM_CHUNK_BYTES = 1024 * 1024
READ_ALL_PIECE_BYTES = 256 * 1024
"""The pieces a whole read asks for. obstore joins what the network hands it into pieces
of at least this size, a copy of its own; pieces near what arrives at once avoid most of
it, and still few enough that a piece's Python costs are small (a 1 GiB read from S3 on
moto, kept and hashed, took 0.96x the time of a whole get and hash at 256 KiB, 1.13x at
512 KiB, 1.18x at 1 MiB)."""
WHOLE_GET_BYTES = 8 * 1024 * 1024
_PREAD_MAX_BYTES = 0x7FFFF000  # what Linux reads at most in one call


class ContentMismatch(StoreError):
    """A stored file is not what its manifest says (size or checksum): never handed out."""


class ObjectGone(StoreError):
    """The object went away, or was replaced, while it was being read: its version was
    deleted (evicted, superseded) or tampered with."""


class ObjectSource(ABC):
    """The bytes of one object, always the same object for the life of the source."""

    def __init__(self, label: str, size_bytes: int) -> None:
        self.label = label
        self.size_bytes = size_bytes

    @abstractmethod
    def readinto(self, offset: int, view: memoryview) -> int:
        """Fill `view` from `offset`; fewer bytes only at the end of the object."""

    @abstractmethod
    def read_to_end(self, offset: int, take: Callable[[Chunk], None]) -> bytes:
        """Every byte from `offset` to the end, each piece shown to `take` in order first."""

    @abstractmethod
    def chunks(self) -> Iterator[Chunk]:
        """Every byte of the object, in pieces; a piece may be reused once the next one is
        asked for. For copying a whole file without holding it in memory."""

    @abstractmethod
    def close(self) -> None:
        """Give back what the source holds (a descriptor, a connection)."""


class FileSource(ObjectSource):
    """A file of a file:// store, read through its descriptor: one system call for a whole
    read, no copy between the disk cache and the bytes handed out."""

    def __init__(self, label: str, size_bytes: int, disk_path: str) -> None:
        super().__init__(label, size_bytes)
        try:
            self._fd: int | None = os.open(disk_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ObjectGone(f"{label}: not in the store (deleted?)") from None
        except OSError as exc:
            raise StoreError(f"{label}: cannot open: {exc.strerror}") from None
        found = os.fstat(self._fd).st_size
        if found != size_bytes:
            self.close()
            raise ContentMismatch(
                f"{label}: {found} bytes stored, the manifest says {size_bytes}; not read"
            )

    def _descriptor(self) -> int:
        if self._fd is None:
            raise ValueError("I/O operation on closed file")
        return self._fd

    def readinto(self, offset: int, view: memoryview) -> int:
        fd = self._descriptor()
        done = 0
        while done < len(view):
            try:
                got = os.preadv(fd, [view[done : done + _PREAD_MAX_BYTES]], offset + done)
            except OSError as exc:
                raise StoreError(f"{self.label}: cannot read: {exc.strerror}") from None
            if got == 0:
                break
            done += got
        return done

    def read_to_end(self, offset: int, take: Callable[[Chunk], None]) -> bytes:
        fd = self._descriptor()
        pieces: list[bytes] = []
        position = offset
        while position < self.size_bytes:
            want = min(self.size_bytes - position, _PREAD_MAX_BYTES)
            try:
                piece = os.pread(fd, want, position)
            except OSError as exc:
                raise StoreError(f"{self.label}: cannot read: {exc.strerror}") from None
            if not piece:
                break
            take(piece)
            pieces.append(piece)
            position += len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def chunks(self) -> Iterator[Chunk]:
        fd = self._descriptor()
        position = 0
        while position < self.size_bytes:
            try:
                piece = os.pread(fd, min(self.size_bytes - position, STREAM_CHUNK_BYTES), position)
            except OSError as exc:
                raise StoreError(f"{self.label}: cannot read: {exc.strerror}") from None
            if not piece:
                return
            yield piece
            position += len(piece)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RemoteSource(ObjectSource):
    """An object read through obstore: one streamed request for as long as the reader goes
    forward, a new ranged request (bound to the first answer's entity tag) after a seek."""

    def __init__(
        self, label: str, size_bytes: int, backend: Backend, key: str, errors: Translate
    ) -> None:
        super().__init__(label, size_bytes)
        self._backend = backend
        self._key = key
        self._errors = errors
        self._e_tag: str | None = None
        self._chunks: Iterator[Chunk] | None = None
        self._left: memoryview = memoryview(b"")
        self._at = 0  # the offset of `_left`'s first byte in the object

    def _stream_from(self, offset: int, piece_bytes: int = STREAM_CHUNK_BYTES) -> None:
        if self._chunks is not None and offset == self._at:
            return
        self._chunks = None
        result = self._get(offset)
        self._chunks = iter(result.stream(piece_bytes))
        self._left = memoryview(b"")
        self._at = offset

    def _get(self, offset: int) -> GetResult:
        """A request for the object from `offset`, bound to the object the first one got."""
        options: GetOptions = {}
        if offset:
            options["range"] = {"offset": offset}
        if self._e_tag is not None:
            options["if_match"] = self._e_tag
        with self._errors(f"get {self._key}"):
            try:
                result = obstore.get(self._backend, self._key, options=options)
            except FileNotFoundError:
                raise ObjectGone(f"{self.label}: no longer in the store (deleted?)") from None
            except PreconditionError:
                raise ObjectGone(f"{self.label}: changed in the store while being read") from None
        meta = result.meta
        if self._e_tag is None:
            if meta["size"] != self.size_bytes:
                raise ContentMismatch(
                    f"{self.label}: {meta['size']} bytes stored, the manifest says "
                    f"{self.size_bytes}; not read"
                )
            self._e_tag = meta["e_tag"]
        return result

    def _next(self) -> memoryview:
        """The next bytes of the stream (empty at its end)."""
        if self._left:
            piece, self._left = self._left, memoryview(b"")
            return piece
        assert self._chunks is not None
        with self._errors(f"get {self._key}"):
            chunk = next(self._chunks, None)
        return memoryview(b"") if chunk is None else memoryview(chunk)

    def readinto(self, offset: int, view: memoryview) -> int:
        if offset >= self.size_bytes or not view:
            return 0
        self._stream_from(offset)
        done = 0
        while done < len(view):
            piece = self._next()
            if not piece:
                break
            used = min(len(piece), len(view) - done)
            view[done : done + used] = piece[:used]
            self._left = piece[used:]
            done += used
        self._at = offset + done
        return done

    def read_to_end(self, offset: int, take: Callable[[Chunk], None]) -> bytes:
        if offset >= self.size_bytes:
            return b""
        self._stream_from(offset, READ_ALL_PIECE_BYTES)
        assert self._chunks is not None
        out = io.BytesIO()  # grows in place and hands its buffer over without a copy
        if self._left:
            take(self._left)
            out.write(self._left)
            self._left = memoryview(b"")
        # One error scope for the loop: a whole read's pieces are many, each one's cost shows.
        with self._errors(f"get {self._key}"):
            for piece in self._chunks:
                take(piece)
                out.write(piece)
        self._at = offset + out.tell()
        self._chunks = None
        return out.getvalue()

    def chunks(self) -> Iterator[Chunk]:
        if self.size_bytes <= WHOLE_GET_BYTES:  # one answer: no stream to iterate
            result = self._get(0)
            with self._errors(f"get {self._key}"):
                data = result.bytes()
            yield memoryview(data)
            return
        self._stream_from(0)
        while piece := self._next():
            yield piece
        self._chunks = None

    def close(self) -> None:
        self._chunks = None
        self._left = memoryview(b"")
