"""What the API hands back about data sets and their files: plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

PlaceKind = Literal["task", "state", "store"]
"""Where an answer came from: the working copy of the task that runs this code, the state
database of a daemon on this host, or the object store alone."""


@dataclass(frozen=True)
class FileInfo:
    """One file of a version, as its manifest lists it. `path` is relative to the data
    set's directory, with `/` between segments; `digest` is its checksum by `algorithm`
    (`"sha256"` or `"blake3"`: each version records the one it was written with)."""

    path: str
    size_bytes: int
    digest: str
    algorithm: str = "sha256"

    @property
    def sha256(self) -> str:
        """The digest of a file checksummed with sha256 (every version written before
        amed wrote BLAKE3); a file checksummed otherwise has none, and says so."""
        if self.algorithm != "sha256":
            raise AttributeError(
                f"{self.path}: checksummed with {self.algorithm}, not sha256"
                " (read .algorithm and .digest)"
            )
        return self.digest


@dataclass(frozen=True)
class DatasetInfo:
    """A data set as the place that answered knows it.

    `status` is the daemon's (`ready`, `evicted`, `failed`, ...; see `ame ds list`);
    from the store alone it is `ready` when a version is published and None otherwise,
    as the store does not know why there is none. `version` is the one a read gets now
    (None: none, or not known inside a task); `size_bytes` and `files` describe it.
    """

    name: str
    project: str
    status: str | None
    version: int | None
    size_bytes: int | None
    files: int | None
    updated_at: datetime | None
    error: str | None
    place: PlaceKind
