"""Reading one stored file back as a stream, every byte checked against its manifest.

A manifest holds one checksum per file (sha256 or BLAKE3), so a byte can only be known
good once every byte before it and after it has been hashed. The reader therefore hashes
in file order, as the bytes go out: a sequential reader pays nothing more than the hash, a
mismatch is raised by the read that reaches the end (which hands out nothing), and a full
read returns nothing at all unless the whole file matched. A read after a forward seek
first hashes the bytes skipped, so no byte is handed out ahead of the check that would
cover it; random access over a file thus costs one pass over it at most.

The bytes come from an `ObjectSource` (amed.store.sources) pinned to one object for the
whole read, so a read never mixes two versions' bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from amed.store.manifest import FileEntry
from amed.store.sources import Chunk, ContentMismatch, ObjectSource

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

GAP_BLOCK_BYTES = 1024 * 1024


class VerifiedRaw(io.RawIOBase):
    """A stored file as a raw, seekable binary stream whose bytes are checked against the
    manifest's checksum in file order (see the module's docstring). Wrap it in
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
        self._digest = entry.hasher()
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

        # Hashed inline: on a thread of its own the hash fights this one for the GIL at every
        # piece, which cost more than it saved (measured on S3 and file://).
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
        if digest != self.entry.digest:
            raise self._fail(
                f"{self.label}: content differs from its manifest's checksum; not read"
            )
        self._verified = True

    def _fail(self, message: str) -> ContentMismatch:
        self._failed = ContentMismatch(message)
        return self._failed

    def _check_not_failed(self) -> None:
        if self._failed is not None:
            raise ContentMismatch(str(self._failed))
