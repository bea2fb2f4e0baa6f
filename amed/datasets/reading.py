"""Reading the files of a located version: from a task's copy as plain files, from a store
through verified streams, with every store error turned into a DatasetError."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from amed.datasets.errors import DatasetError, UnknownDataset
from amed.datasets.located import Located, store_errors
from amed.datasets.model import FileInfo

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from amed.store.manifest import FileEntry
    from amed.store.objects import ObjectStore
    from amed.store.reading import VerifiedRaw

BUFFER_BYTES = 256 * 1024


class _Raw(io.RawIOBase):
    """A store's verified stream under the file's `ame://` name, raising our errors."""

    def __init__(self, raw: VerifiedRaw, name: str) -> None:
        super().__init__()
        self._raw = raw
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        with store_errors(self.name):
            return self._raw.readinto(buffer)

    def readall(self) -> bytes:
        with store_errors(self.name):
            return self._raw.readall()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


def url_of(located: Located, path: str) -> str:
    return f"ame://{located.project}/{located.name}/{path}"


def list_files(located: Located) -> list[FileInfo]:
    if located.manifest is not None:
        return [
            FileInfo(e.path, e.size_bytes, e.digest, e.algorithm) for e in located.manifest.files
        ]
    from amed.store.checksum import WRITE_ALGORITHM

    assert located.directory is not None
    root = located.directory
    found = sorted(p for p in root.rglob("*") if p.is_file())
    return [
        FileInfo(
            p.relative_to(root).as_posix(),
            p.stat().st_size,
            _digest_of(p, WRITE_ALGORITHM),
            WRITE_ALGORITHM,
        )
        for p in found
    ]


def open_file(located: Located, path: str) -> io.BufferedReader:
    if located.directory is not None:
        return io.open(_local_file(located, path), "rb")  # noqa: UP020 - the builtin is shadowed
    store, entry = _stored(located, path)
    assert located.manifest is not None
    with store_errors(url_of(located, path)):
        raw = store.open_file(located.manifest, entry)
    return io.BufferedReader(_Raw(raw, url_of(located, path)), buffer_size=BUFFER_BYTES)


def read_file(located: Located, path: str) -> bytes:
    """A whole file: from a store, returned only once every byte matched the manifest."""
    if located.directory is not None:
        return _local_file(located, path).read_bytes()
    store, entry = _stored(located, path)
    assert located.manifest is not None
    with store_errors(url_of(located, path)), store.open_file(located.manifest, entry) as raw:
        return raw.readall()


def copy_version(located: Located, dest: Path) -> None:
    """Every file of the version into `dest` (created), each checked as it arrives."""
    if located.directory is not None:
        shutil.copytree(located.directory, dest, symlinks=False)
        return
    assert located.store is not None and located.manifest is not None
    with store_errors(f"ame://{located.project}/{located.name}"):
        located.store.download_version(located.manifest, dest)


def fetch_version(located: Located, dest: Path) -> None:
    """Every file of the version into `dest`, a new directory that is thrown away whole if
    this fails, read-only."""
    if located.directory is not None:
        shutil.copytree(located.directory, dest, symlinks=False)
        return
    assert located.store is not None and located.manifest is not None
    with store_errors(f"ame://{located.project}/{located.name}"):
        located.store.fetch_version(located.manifest, dest)


def pull_into(located: Located, dest: Path, *, overwrite: bool) -> Path:
    """`dest` holding exactly the version, or left as it was: downloaded beside it and
    renamed into place once complete."""
    dest = dest.absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not overwrite:
        raise DatasetError(f"{dest} is not empty; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.pull-", dir=dest.parent))
    try:
        copy_version(located, staging / "data")
        (staging / "data").mkdir(exist_ok=True)
        old = staging / "old"
        if dest.exists():
            dest.rename(old)
        try:
            (staging / "data").rename(dest)
        except OSError:
            if old.exists():
                old.rename(dest)
            raise
    except OSError as exc:
        raise DatasetError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _stored(located: Located, path: str) -> tuple[ObjectStore, FileEntry]:
    from amed.store.published import file_entry

    assert located.store is not None and located.manifest is not None
    entry = file_entry(located.manifest, path.strip("/"))
    if entry is None:
        raise UnknownDataset(f"{url_of(located, path)}: no such file in {located.label}")
    return located.store, entry


def _local_file(located: Located, path: str) -> Path:
    assert located.directory is not None
    root = located.directory.resolve()
    target = (root / path.strip("/")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise UnknownDataset(f"{url_of(located, path)}: no such file in {located.label}")
    return target


def _digest_of(path: Path, algorithm: str) -> str:
    from amed.store.checksum import file_checksum

    with path.open("rb") as handle:
        return file_checksum(handle.fileno(), algorithm=algorithm).digest
