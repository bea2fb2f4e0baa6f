"""Placing ready data set versions into a task's working copy, for consuming and producing
tasks alike.

Each version is read through its committed manifest and every file is checked against it
(size and checksum) as it is downloaded, so a task never reads a partial or altered version.
When the planner knows the content digest the version was planned with, the manifest must
have it too: the identity a new version records is then what its task really read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from amed.errors import StoreError
from amed.store.objects import ObjectStore


@dataclass(frozen=True)
class Placed:
    """One version to place at `path` (relative to the working copy). `digest`: the content
    digest it must have (None or "": not checked)."""

    name: str
    version: int
    path: str
    digest: str | None = None


def place_versions(store: ObjectStore, project: str, placed: Iterable[Placed], work: Path) -> None:
    """Download each version into `work`; a StoreError names the first one that cannot be."""
    for item in sorted(placed, key=lambda p: p.name):
        manifest = store.read_manifest(project, item.name, item.version)
        if manifest is None:
            raise StoreError(f"version {item.version} of data set {item.name} is not in the store")
        if item.digest and manifest.content_digest != item.digest:
            raise StoreError(
                f"version {item.version} of data set {item.name} does not hold what it held "
                "when the run was planned (its manifest's content differs)"
            )
        store.download_version(manifest, work / item.path)
