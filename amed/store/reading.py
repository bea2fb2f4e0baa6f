"""Reading one stored file back as a stream, every byte checked against its manifest.

A manifest holds one sha256 per file, so a byte can only be known good once every byte
before it and after it has been hashed. The reader therefore hashes in file order, as
the bytes go out: a sequential reader pays nothing more than the hash, a mismatch is
raised by the read that reaches the end (which hands out nothing), and a full read
returns nothing at all unless the whole file matched. A read after a forward seek first
hashes the bytes skipped, so no byte is handed out ahead of the check that would cover it;
random access over a file thus costs one pass over it at most.

The bytes come from an `ObjectSource` pinned to one object for the whole read: an open
file descriptor for a file:// store (a version deleted meanwhile stays readable), or an
entity tag for the others (a ranged request after the object changed fails). A read
never mixes two versions' bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import PreconditionError

from amed.errors import StoreError
from amed.store.manifest import FileEntry

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from obstore import GetOptions
    from obstore.store import ObjectStore as Backend

Chunk = bytes | memoryview
Translate = Callable[[str], AbstractContextManager[None]]

STREAM_CHUNK_BYTES = 1024 * 1024
GAP_BLOCK_BYTES = 1024 * 1024
_PREAD_MAX_BYTES = 0x7FFFF000  # what Linux reads at most in one call


class ContentMismatch(StoreError):
    """A stored file is not what its manifest says (size or sha256): never handed out."""


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

    def _stream_from(self, offset: int) -> None:
        if self._chunks is not None and offset == self._at:
            return
        options: GetOptions = {}
        if offset:
            options["range"] = {"offset": offset}
        if self._e_tag is not None:
            options["if_match"] = self._e_tag
        self._chunks = None
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
        self._chunks = iter(result.stream(STREAM_CHUNK_BYTES))
        self._left = memoryview(b"")
        self._at = offset

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
        self._stream_from(offset)
        out = io.BytesIO()  # grows in place and hands its buffer over without a copy
        while piece := self._next():
            take(piece)
            out.write(piece)
        self._at = offset + out.tell()
        self._chunks = None
        return out.getvalue()

    def close(self) -> None:
        self._chunks = None
        self._left = memoryview(b"")


class VerifiedRaw(io.RawIOBase):
    """A stored file as a raw, seekable binary stream whose bytes are checked against the
    manifest's sha256 in file order (see the module's docstring). Wrap it in
    `io.BufferedReader` for lines and small reads; `readall` is the fast path for a whole
    file. Raises ContentMismatch, ObjectGone or StoreError; once it has raised a mismatch
    every further read raises it again."""

    def __init__(self, source: ObjectSource, entry: FileEntry) -> None:
        super().__init__()
        self._source = source
        self.entry = entry
        self._size = entry.size_bytes
        self._pos = 0
        self._hashed = 0
        self._digest = hashlib.sha256()
        self._verified = False
        self._failed: ContentMismatch | None = None

    @property
    def label(self) -> str:
        return self._source.label

    # ---- io.RawIOBase -----------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._pos = target
        return target

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._checkClosed()
        self._check_not_failed()
        view = memoryview(buffer).cast("B")
        want = min(len(view), max(0, self._size - self._pos))
        if want == 0:
            self._finish_if_whole()
            return 0
        self._hash_up_to(self._pos)
        got = self._source.readinto(self._pos, view[:want])
        if got < want:
            raise self._fail(
                f"{self.label}: the stored object ends at {self._pos + got} bytes, the "
                f"manifest says {self._size}"
            )
        self._hash_piece(self._pos, view[:got])
        self._pos += got
        self._finish_if_whole()
        return got

    def readall(self) -> bytes:
        self._checkClosed()
        self._check_not_failed()
        start = min(self._pos, self._size)
        self._hash_up_to(start)
        at = start

        def take(piece: Chunk) -> None:
            nonlocal at
            self._hash_piece(at, piece)
            at += len(piece)

        data = self._source.read_to_end(start, take)
        if start + len(data) != self._size:
            raise self._fail(
                f"{self.label}: the stored object ends at {start + len(data)} bytes, the "
                f"manifest says {self._size}"
            )
        self._pos = self._size
        self._finish_if_whole()
        return data

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    # ---- checking -----------------------------------------------------------------------

    def _hash_piece(self, offset: int, piece: Chunk) -> None:
        """Hash what of `piece` (the bytes at `offset`) lies past what is hashed already."""
        end = offset + len(piece)
        if offset <= self._hashed < end:
            self._digest.update(memoryview(piece)[self._hashed - offset :])
            self._hashed = end

    def _hash_up_to(self, offset: int) -> None:
        """Hash the bytes a forward seek skipped, so that what follows can be checked."""
        if self._hashed >= offset:
            return
        block = memoryview(bytearray(min(GAP_BLOCK_BYTES, offset - self._hashed)))
        while self._hashed < offset:
            want = min(len(block), offset - self._hashed)
            got = self._source.readinto(self._hashed, block[:want])
            if got == 0:
                raise self._fail(
                    f"{self.label}: the stored object ends at {self._hashed} bytes, the "
                    f"manifest says {self._size}"
                )
            self._hash_piece(self._hashed, block[:got])

    def _finish_if_whole(self) -> None:
        """Compare once every byte is hashed: the read that gets there returns nothing when
        the file does not match."""
        if self._verified or self._hashed != self._size or self._failed is not None:
            return
        digest = self._digest.hexdigest()
        if digest != self.entry.sha256:
            raise self._fail(f"{self.label}: content differs from the manifest's sha256; not read")
        self._verified = True

    def _fail(self, message: str) -> ContentMismatch:
        self._failed = ContentMismatch(message)
        return self._failed

    def _check_not_failed(self) -> None:
        if self._failed is not None:
            raise ContentMismatch(str(self._failed))
