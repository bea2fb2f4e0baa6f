"""What every place hands back (a located version), and what they share: the stores opened
in this process, and the store's errors turned into ours."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from amed.datasets.errors import (
    ChecksumMismatch,
    DatasetError,
    NoStoreReachable,
    ReadError,
    VersionGone,
)
from amed.datasets.model import DatasetInfo, PlaceKind
from amed.errors import StoreError, StoreUnavailable, StoreURLError

if TYPE_CHECKING:
    from amed.store.manifest import Manifest
    from amed.store.objects import ObjectStore

STORE_VARIABLE_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_")


@dataclass(frozen=True)
class Located:
    """One version of a data set, where a place found it: a `directory` holding its files
    (a task's working copy), or a `store` and the `manifest` to read them through."""

    project: str
    name: str
    version: int | None
    place: PlaceKind
    directory: Path | None = None
    store: ObjectStore | None = None
    manifest: Manifest | None = None
    manifest_sha256: str | None = None

    def identity(self) -> str:
        """The sha256 of the manifest's bytes: what names a verified copy of this version,
        so that a version number reused elsewhere (another state) never finds it."""
        if self.manifest_sha256 is not None:
            return self.manifest_sha256
        assert self.manifest is not None
        return hashlib.sha256(self.manifest.to_json()).hexdigest()

    @property
    def label(self) -> str:
        where = f"version {self.version}" if self.version is not None else "placed copy"
        return f"{self.project}/{self.name} ({where})"


class Place(Protocol):
    @property
    def kind(self) -> PlaceKind: ...

    def datasets(self, project: str | None) -> list[DatasetInfo]: ...

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located: ...


_stores: dict[tuple[str, tuple[tuple[str, str], ...]], ObjectStore] = {}
_stores_lock = threading.Lock()


def open_store_cached(url: str) -> ObjectStore:
    """One store per URL and credentials in the environment, kept for the process: opening
    a remote store builds an HTTP client, and the manifests it checked are kept with it."""
    from amed.store.schemes import open_store

    credentials = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(STORE_VARIABLE_PREFIXES))
    )
    with _stores_lock:
        found = _stores.get((url, credentials))
        if found is None:
            with store_errors(url):
                found = open_store(url)
            _stores[(url, credentials)] = found
        return found


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """The store's errors as ours: unreachable, altered, gone, or failed. `what` (a store
    URL or a file's ame:// URL) is named without any credentials it holds."""
    from amed.store.published import NotPublished
    from amed.store.sources import ContentMismatch, ObjectGone

    try:
        yield
    except (StoreURLError, NotPublished) as exc:
        raise DatasetError(str(exc)) from None
    except StoreUnavailable as exc:
        raise NoStoreReachable(f"{exc}; is the store reachable?") from None
    except ContentMismatch as exc:
        raise ChecksumMismatch(str(exc)) from None
    except ObjectGone as exc:
        raise VersionGone(f"{exc}; read it again to get the current version") from None
    except StoreError as exc:
        from amed.store.translate import strip_userinfo

        shown = strip_userinfo(what)  # a store URL as configured may hold its credentials
        raise ReadError(f"{shown}: {exc}" if shown not in str(exc) else str(exc)) from None
