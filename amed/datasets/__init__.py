"""Read AME data sets from Python, wherever this code runs: `import amed.datasets as ds`.

    ds.list()                                   # data sets and their status
    ds.files("mnist")                           # path, size_bytes, checksum of each file
    with ds.open("mnist", "train/images.bin") as f:
        header = f.read(16)                     # streamed, seekable
    labels = ds.read_text("mnist", "labels.csv")
    local = ds.path("mnist")                    # a local, verified copy (cached)
    ds.pull("mnist", "./mnist")                 # a copy where you want it
    pandas.read_csv("ame://mnist/labels.csv")   # through fsspec

The same calls work in three places (amed.datasets.places says how one is chosen):

- inside a task that uses the data set: the copy amed placed in the task's working copy
  is read, without any network;
- on the daemon's host: the state database says which version is current, or why there
  is none (`request=True` asks the daemon to produce an evicted data set, and waits);
- anywhere with store credentials (`store="s3://bucket/prefix"`, or `AME_STORAGE`, and
  the usual `AWS_*` variables): the version the store's pointer names as committed.

Every byte read from a store is checked against the manifest's checksum as it streams:
what does not match raises ChecksumMismatch and is not handed out (a whole read returns
nothing). `version=` pins a version instead of the current one; `project=` names the
project when the store or state holds several. Errors are DatasetError subclasses, each
one line: UnknownDataset, VersionNotStored, NotReady, Evicted, NoStoreReachable,
ChecksumMismatch, VersionGone, ReadError.
"""

from __future__ import annotations

import builtins
import io
from pathlib import Path

from amed.datasets.cache import cache_limit_bytes, cache_root, cached_copy, entry_dir
from amed.datasets.errors import (
    ChecksumMismatch,
    DatasetError,
    Evicted,
    NoStoreReachable,
    NotReady,
    ReadError,
    UnknownDataset,
    VersionGone,
    VersionNotStored,
)
from amed.datasets.located import Located
from amed.datasets.model import DatasetInfo, FileInfo, PlaceKind
from amed.datasets.places import place_for
from amed.datasets.reading import fetch_version, list_files, open_file, pull_into, read_file

__all__ = [
    "ChecksumMismatch",
    "DatasetError",
    "DatasetInfo",
    "Evicted",
    "FileInfo",
    "NoStoreReachable",
    "NotReady",
    "PlaceKind",
    "ReadError",
    "UnknownDataset",
    "VersionGone",
    "VersionNotStored",
    "files",
    "info",
    "list",
    "locate",
    "open",
    "path",
    "pull",
    "read_bytes",
    "read_text",
]

WAIT_SECONDS = 3600.0
"""How long `request=True` waits for the daemon to produce a data set, by default."""


def list(*, project: str | None = None, store: str | None = None) -> builtins.list[DatasetInfo]:
    """The data sets readable from here, with their status and current version: inside a
    task its inputs, on the daemon's host every data set it keeps, from a store those with
    objects in it (status None when none of their versions is published)."""
    return place_for(None, project=project, store=store).datasets(project)


def info(
    name: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
) -> DatasetInfo:
    """One data set as `list` shows it, the version it would be read at filled in."""
    found = locate(name, version=version, project=project, store=store)
    if found.manifest is not None:
        sizes = [entry.size_bytes for entry in found.manifest.files]
    else:
        assert found.directory is not None
        sizes = [p.stat().st_size for p in found.directory.rglob("*") if p.is_file()]
    return DatasetInfo(
        found.name,
        found.project,
        "ready",
        found.version,
        sum(sizes),
        len(sizes),
        None,
        None,
        found.place,
    )


def locate(
    name: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
) -> Located:
    """Where the version a read would get is: the place that answered, and its manifest
    (or, inside a task, its directory). The other calls start here; use it to read
    several files of one version even while a new one is being stored."""
    place = place_for(name, project=project, store=store, version=version)
    return place.locate(name, project, version, request=request, timeout_seconds=timeout_seconds)


def files(
    name: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
) -> builtins.list[FileInfo]:
    """Every file of the version, from its manifest: path (relative, `/`-separated), size
    in bytes, and checksum as `digest` by `algorithm` (sha256 or blake3, whichever the
    version was written with; `.sha256` still reads a sha256 file's digest). Inside a task
    the placed files are listed and hashed with the algorithm amed writes new versions
    with."""
    return list_files(locate(name, version=version, project=project, store=store))


def open(
    name: str,
    path: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
) -> io.BufferedReader:
    """One file of the data set as a binary file object, streamed from the store and
    seekable. Bytes are checked as they are read, in file order (a forward seek reads what
    it skips): the read that reaches the end of a file that does not match its manifest
    raises ChecksumMismatch instead of returning. The file stays on the version it opened,
    whatever the daemon stores meanwhile; if that version is deleted under it, a read
    raises VersionGone rather than mixing versions."""
    found = locate(
        name,
        version=version,
        project=project,
        store=store,
        request=request,
        timeout_seconds=timeout_seconds,
    )
    return open_file(found, path)


def read_bytes(
    name: str,
    path: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
) -> bytes:
    """A whole file, returned only once every byte matched the manifest."""
    found = locate(
        name,
        version=version,
        project=project,
        store=store,
        request=request,
        timeout_seconds=timeout_seconds,
    )
    return read_file(found, path)


def read_text(
    name: str,
    path: str,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
) -> str:
    """A whole file as text (UTF-8 unless told), checked as `read_bytes` checks it."""
    data = read_bytes(
        name,
        path,
        version=version,
        project=project,
        store=store,
        request=request,
        timeout_seconds=timeout_seconds,
    )
    return data.decode(encoding, errors)


def path(
    name: str,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
) -> Path:
    """A local directory holding the version's files: inside a task its working copy, else
    a verified copy in `$XDG_CACHE_HOME/ame`, downloaded once and reused for as long as
    that version is the one asked for. The cache keeps `AME_CACHE_SIZE` (10 GiB by
    default), deleting the least recently used versions, but never one a running process
    was handed: the copy stays until this process exits. Treat the files as read-only."""
    found = locate(
        name,
        version=version,
        project=project,
        store=store,
        request=request,
        timeout_seconds=timeout_seconds,
    )
    if found.directory is not None:
        return found.directory
    assert found.store is not None and found.manifest is not None
    manifest = found.manifest
    entry = entry_dir(
        cache_root(),
        found.store.url,
        found.project,
        found.name,
        manifest.version,
        found.identity(),
    )

    def fetch(directory: Path) -> None:
        fetch_version(found, directory)

    return cached_copy(entry, manifest.size_bytes, fetch, limit_bytes=cache_limit_bytes())


def pull(
    name: str,
    dest: str | Path,
    *,
    version: int | None = None,
    project: str | None = None,
    store: str | None = None,
    request: bool = False,
    timeout_seconds: float = WAIT_SECONDS,
    overwrite: bool = False,
) -> Path:
    """Download the version into `dest` (what `ame ds pull` does): every file checked,
    `dest` replaced only once the download is complete, so it holds either what it held
    or exactly the version. A `dest` that is not empty needs `overwrite=True`."""
    found = locate(
        name,
        version=version,
        project=project,
        store=store,
        request=request,
        timeout_seconds=timeout_seconds,
    )
    return pull_into(found, Path(dest), overwrite=overwrite)
