"""The few things amed asks of any obstore store (read, list, write, delete and stream an
object, one file up or down), each behind the error translation of amed.store.translate.

Kept apart from the commit protocol (amed.store.objects) because these are the operations
a store kind may do its own way: a file:// store (amed.store.local) overrides moving a
file's bytes, never what a version is.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

import obstore
from obstore.exceptions import AlreadyExistsError

from amed.errors import StoreError
from amed.store.datafiles import HashingReader, SourceFile, SparseWriter, local_error
from amed.store.manifest import FileEntry
from amed.store.sources import ContentMismatch
from amed.store.translate import longest_first, missing_bucket, translating

if TYPE_CHECKING:
    from obstore import PutMode
    from obstore.store import ObjectStore as Backend

# A file above one chunk is uploaded in parts, up to PART_CONCURRENCY chunks at once:
# boto3's shape (8 MiB x 10), for about 110 MiB of memory per big file in flight. Into moto,
# one 256 MiB file went at 0.62x boto3's speed with 5 MiB x 4 and at 0.71x with this, in
# the same run; a bare obstore put of the file is no faster than amed's (bench row 11).
CHUNK_SIZE_BYTES = 8 * 1024 * 1024
PART_CONCURRENCY = 10
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
DELETE_BATCH = 1000

Chunk = bytes | memoryview


class ObjectAccess:
    """One obstore store and the URL it was opened with, minus any credentials (`url`:
    safe to log). Every method raises only our errors (amed.errors)."""

    def __init__(self, backend: Backend, url: str, *, secrets: Collection[str] = ()) -> None:
        self._backend = backend
        self.url = url
        self._secrets = longest_first(secrets)

    @property
    def credentials(self) -> tuple[str, ...]:
        """The secrets this store was opened with, for masking elsewhere; never logged."""
        return self._secrets

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        with translating(self.url, doing, self._secrets):
            yield

    # ---- objects ----------------------------------------------------------------------

    def _get_bytes(self, key: str) -> bytes | None:
        """An object's bytes; None when there is no such key (a missing bucket is an error)."""
        view = self._get_view(key)
        return None if view is None else bytes(view)

    def _get_view(self, key: str) -> memoryview | None:
        """`_get_bytes` without the copy into `bytes`: the buffer obstore filled, for a
        reader that only hashes and writes it (thousands of small files in a fetch)."""
        with self._errors(f"get {key}"):
            try:
                return memoryview(obstore.get(self._backend, key).bytes())
            except FileNotFoundError as exc:
                if missing_bucket(exc) is not None:
                    raise
                return None

    def _list_sizes(self, prefix: str) -> dict[str, int]:
        sizes: dict[str, int] = {}
        with self._errors(f"list {prefix}"):
            for chunk in obstore.list(self._backend, prefix.rstrip("/"), chunk_size=1000):
                for meta in chunk:
                    sizes[meta["path"]] = meta["size"]
        return sizes

    def _put_bytes(self, key: str, data: bytes, *, mode: PutMode = "overwrite") -> bool:
        """Write a small object in one request; False when `mode` is create and the key is
        already there."""
        with self._errors(f"put {key}"):
            try:
                obstore.put(self._backend, key, data, mode=mode, use_multipart=False)
            except AlreadyExistsError:
                return False
        return True

    def _delete(self, keys: list[str]) -> None:
        """Idempotent: keys already gone are no error."""
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

    def _read_object(self, key: str, take: Callable[[Chunk], None]) -> None:
        """Hand every byte of an object to `take`, in order. A chunk may be a view of a
        buffer reused for the next one: `take` must be done with it when it returns."""
        for chunk in obstore.get(self._backend, key).stream(DOWNLOAD_CHUNK_BYTES):
            take(chunk)

    # ---- one file up or down ------------------------------------------------------------

    def _upload_file(
        self, key: str, source: SourceFile, abort: threading.Event, owned: bool = False
    ) -> FileEntry:
        """Store one file under `key`, hashed as it is read, and return its manifest entry.
        `owned` (the caller gives the file up) is a licence a store may use; this one
        copies whatever it is told."""
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
                checksum = reader.finish()
            except OSError as exc:
                raise local_error(f"cannot read {source.rel_path}", exc) from None
        if checksum.size_bytes != source.size_bytes:
            raise StoreError(f"{source.rel_path} changed while it was being stored")
        return FileEntry(source.rel_path, checksum.size_bytes, checksum.digest, checksum.algorithm)

    def _download_file(self, key: str, entry: FileEntry, target: Path) -> None:
        """Write one object beside `target`, then rename it into place once its size and
        checksum match the manifest. Blocks of zeros become holes (see SparseWriter): a
        sparse file stays sparse, and pulling it costs the disk and time of its data only."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".amed-", suffix=".part")
        except OSError as exc:
            raise local_error(f"cannot write {target}", exc) from None
        try:
            try:
                out = SparseWriter(fd, str(target))
                digest, size_bytes = self._stream_object(key, entry, out)
                out.finish()
            finally:
                os.close(fd)
            if (problem := entry.problem(size_bytes, digest)) is not None:
                raise ContentMismatch(f"{self.url}: {key}: {problem}")
            Path(temp_name).replace(target)
            target.chmod(0o666 & ~process_umask())  # mkstemp's 0600 was for the temp name only
        except OSError as exc:
            Path(temp_name).unlink(missing_ok=True)
            raise local_error(f"cannot write {target}", exc) from None
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def _hash_object(self, key: str, entry: FileEntry) -> tuple[str, int]:
        return self._stream_object(key, entry, None)

    def _stream_object(
        self, key: str, entry: FileEntry, out: SparseWriter | None
    ) -> tuple[str, int]:
        """(digest by `entry`'s algorithm, size) of an object, of every byte including those
        `out` leaves as holes. A failed write is the local disk's error, not the store's."""
        digest = entry.hasher()
        size_bytes = 0

        def take(chunk: Chunk) -> None:
            nonlocal size_bytes
            digest.update(chunk)
            size_bytes += len(chunk)
            if out is not None:
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise local_error(f"cannot write {out.name}", exc) from None

        with self._errors(f"get {key}"):
            self._read_object(key, take)
        return digest.hexdigest(), size_bytes


@cache
def process_umask() -> int:
    """Read without setting it: `os.umask` sets it, and the downloads run in threads."""
    with suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
