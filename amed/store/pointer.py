"""Which versions of a data set a reader with nothing but the store may trust.

Pure: no I/O. A reader without the state database cannot tell a committed version from
debris by looking at the store: a crash between a manifest and its `version_stored` event
leaves a version that looks complete. So the state that owns a data set writes, after each
commit,

    datasets/<project>/<name>/current.json

naming the current version and every committed version still stored, each with the sha256
of its manifest's bytes. A reader trusts a version only when the pointer lists it and the
manifest it fetches has that digest: a manifest the pointer does not name, or names with
another digest, is never read. The pointer is rewritten without a version before that
version's objects are deleted, and removed with the last one.

The key has four segments, so it can never be taken for a version's key (five or more).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from amed.store.manifest import (
    DATASETS_PREFIX,
    Manifest,
    check_state_id,
    parse_version_key,
    version_prefix,
)

POINTER_NAME = "current.json"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
POINTER_FORMAT = 1


@dataclass(frozen=True)
class PointedVersion:
    """A committed version as the pointer lists it: enough to list a data set without
    fetching its manifest, and the digest that ties the pointer to that manifest."""

    version: int
    manifest_sha256: str
    size_bytes: int
    files: int
    created_at: str

    def __post_init__(self) -> None:
        if not _is_count(self.version) or self.version < 1:
            raise ValueError(f"pointer version must be a positive integer, not {self.version!r}")
        if not isinstance(self.manifest_sha256, str) or not _SHA256_HEX.fullmatch(
            self.manifest_sha256
        ):
            raise ValueError(f"version {self.version}: manifest_sha256 must be 64 hex digits")
        if not (_is_count(self.size_bytes) and _is_count(self.files)):
            raise ValueError(f"version {self.version}: size_bytes and files must be counts")

    @classmethod
    def of(cls, manifest: Manifest, manifest_bytes: bytes) -> PointedVersion:
        return cls(
            manifest.version,
            manifest_digest(manifest_bytes),
            manifest.size_bytes,
            len(manifest.files),
            manifest.created_at,
        )


@dataclass(frozen=True)
class Pointer:
    """`current` is the version readers get unless they pin one; None while the data set
    has no served version (evicted, being deleted) but older ones are still stored.
    `versions` is sorted by version and never empty: a pointer with nothing to point at is
    deleted instead."""

    project: str
    dataset: str
    current: int | None
    versions: tuple[PointedVersion, ...]
    state_id: str | None
    updated_at: str

    def __post_init__(self) -> None:
        pointer_key(self.project, self.dataset)
        if self.state_id is not None:
            check_state_id(self.state_id)
        numbers = [entry.version for entry in self.versions]
        if not numbers or numbers != sorted(set(numbers)):
            raise ValueError("pointer versions must be a non-empty list sorted by version")
        if self.current is not None and self.current not in numbers:
            raise ValueError(f"pointer current version {self.current} is not among its versions")

    def entry(self, version: int) -> PointedVersion | None:
        return next((entry for entry in self.versions if entry.version == version), None)

    def with_version(self, added: PointedVersion, *, updated_at: str) -> Pointer:
        """This pointer with `added` listed and current (replacing any entry of that number)."""
        kept = [entry for entry in self.versions if entry.version != added.version]
        versions = tuple(sorted([*kept, added], key=lambda entry: entry.version))
        return replace(self, current=added.version, versions=versions, updated_at=updated_at)

    def without(self, version: int, *, updated_at: str) -> Pointer | None:
        """This pointer with `version` no longer listed; None when nothing is left."""
        kept = tuple(entry for entry in self.versions if entry.version != version)
        if not kept:
            return None
        current = None if self.current == version else self.current
        return replace(self, current=current, versions=kept, updated_at=updated_at)

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "format": POINTER_FORMAT,
            "project": self.project,
            "dataset": self.dataset,
            "current": self.current,
            "versions": [
                {
                    "version": e.version,
                    "manifest_sha256": e.manifest_sha256,
                    "size_bytes": e.size_bytes,
                    "files": e.files,
                    "created_at": e.created_at,
                }
                for e in self.versions
            ],
            "state_id": self.state_id,
            "updated_at": self.updated_at,
        }
        return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Pointer:
        """Parse and validate; anything that is not a well-formed pointer is a ValueError."""
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"pointer is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("pointer is not a JSON object")
        if document.get("format") != POINTER_FORMAT:
            raise ValueError(f"pointer format {document.get('format')!r} is not supported")
        versions = []
        for raw in _field(document, "versions", list):
            if not isinstance(raw, dict):
                raise ValueError("pointer versions must be objects")
            versions.append(
                PointedVersion(
                    version=_field(raw, "version", int),
                    manifest_sha256=_field(raw, "manifest_sha256", str),
                    size_bytes=_field(raw, "size_bytes", int),
                    files=_field(raw, "files", int),
                    created_at=_field(raw, "created_at", str),
                )
            )
        current = document.get("current")
        state_id = document.get("state_id")
        if current is not None and (not isinstance(current, int) or isinstance(current, bool)):
            raise ValueError("pointer 'current' must be a version number or null")
        if state_id is not None and not isinstance(state_id, str):
            raise ValueError("pointer 'state_id' must be a string or null")
        return cls(
            project=_field(document, "project", str),
            dataset=_field(document, "dataset", str),
            current=current,
            versions=tuple(versions),
            state_id=state_id,
            updated_at=_field(document, "updated_at", str),
        )


def pointer_key(project: str, dataset: str) -> str:
    """`datasets/<project>/<name>/current.json`; the names are checked as for versions."""
    return version_prefix(project, dataset, 1).removesuffix("1/") + POINTER_NAME


def parse_pointer_key(key: str) -> tuple[str, str] | None:
    """The (project, dataset) whose pointer `key` is, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != DATASETS_PREFIX.rstrip("/") or parts[3] != POINTER_NAME:
        return None
    owner = parse_version_key(f"{parts[0]}/{parts[1]}/{parts[2]}/1/x")
    return None if owner is None else (owner[0], owner[1])


def manifest_digest(manifest_bytes: bytes) -> str:
    return hashlib.sha256(manifest_bytes).hexdigest()


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field(document: dict[str, Any], name: str, kind: type) -> Any:
    if name not in document:
        raise ValueError(f"pointer has no {name!r}")
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"pointer {name!r} must be {kind.__name__}")
    return value
