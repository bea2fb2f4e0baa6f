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
    set's directory, with `/` between segments."""

    path: str
    size_bytes: int
    sha256: str


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
