"""The errors `amed.datasets` raises: each one line, saying which data set and why, and
what to do when there is something to do. All are DatasetError; catch the subclass you
can act on."""

from __future__ import annotations


class DatasetError(Exception):
    """A data set cannot be read as asked."""


class UnknownDataset(DatasetError, FileNotFoundError):
    """No such data set (or file in it) where it was looked for. A FileNotFoundError too,
    so that fsspec and pandas treat an `ame://` URL naming nothing as a missing file."""


class VersionNotStored(UnknownDataset):
    """The data set exists, but not the pinned version (never made, or already deleted)."""


class NotReady(DatasetError):
    """The data set has no version to read now. `status` is its status (None when only the
    store was asked, which does not know it) and `error` why its last attempt failed."""

    def __init__(self, message: str, *, status: str | None = None, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class Evicted(NotReady):
    """The data set was evicted to free space; `request=True` asks the daemon for it again."""


class NoStoreReachable(DatasetError):
    """No place to read from: not inside a task that uses the data set, no daemon state
    here, and no store given or answering."""


class ReadError(DatasetError):
    """Reading from the store failed; nothing wrong was handed out."""


class ChecksumMismatch(ReadError):
    """A file's bytes are not what the manifest says (altered or damaged in the store)."""


class VersionGone(ReadError):
    """The version was deleted (evicted, superseded) or replaced while it was being read;
    reading again gets the current one."""
