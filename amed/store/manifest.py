"""What a stored version holds, and where its objects live in the store.

Pure: no I/O. The store layout is

    datasets/<project>/<name>/<version>/files/<encoded relative path>   uploaded first
    datasets/<project>/<name>/<version>/manifest.json                    written last

A version exists only once its manifest is written, so the manifest is the single source
of truth for a version's files, their sizes and their checksums (each with the algorithm
that made it: see amed.store.checksum). It also names the
state that wrote it: two states may share a store (see amed.store.claims), and a reader must
never take another state's version at the same key for its own.

Relative paths are stored in the manifest exactly as they are on disk. In keys, the few
characters an object store cannot hold (control characters) and the two that would make a
key ambiguous (`%`, the escape itself, and `#`, which obstore's local store reserves for its
temporary files) are percent-encoded; `file_key` is the one place that encoding lives.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _json_text
from typing import Any

from amed.store.checksum import ALGORITHMS, SHA256, Hasher, new_hasher, problem

DATASETS_PREFIX = "datasets/"
MANIFEST_NAME = "manifest.json"
FILES_DIR = "files/"
MANIFEST_FORMAT = 1

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_CANONICAL_VERSION = re.compile(r"[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY_ESCAPED = re.compile(r"[\x00-\x1f\x7f%#]")
_STATE_ID = re.compile(r"[0-9A-Za-z_-]{8,64}")


@dataclass(frozen=True)
class FileEntry:
    """One stored file: `path` is relative, posix, without `.`/`..` or empty segments;
    `digest` is its checksum by `algorithm` (one of amed.store.checksum.ALGORITHMS)."""

    path: str
    size_bytes: int
    digest: str
    algorithm: str = SHA256

    def __post_init__(self) -> None:
        check_relative_path(self.path)
        if not _is_int(self.size_bytes) or self.size_bytes < 0:
            raise ValueError(f"{self.path}: size_bytes must be a non-negative integer")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"{self.path}: checksum algorithm {self.algorithm!r} is not known")
        if not isinstance(self.digest, str) or not _HEX_DIGEST.fullmatch(self.digest):
            raise ValueError(f"{self.path}: {self.algorithm} must be 64 lowercase hex digits")

    @property
    def sha256(self) -> str:
        """The digest of a file checksummed with sha256 (every manifest written before the
        algorithm was recorded); asking it of another algorithm's entry is a bug, so it
        raises rather than hand out a digest no sha256 will ever match."""
        if self.algorithm != SHA256:
            raise ValueError(f"{self.path}: checksummed with {self.algorithm}, not sha256")
        return self.digest

    def hasher(self) -> Hasher:
        """An empty hash to feed this file's bytes into, in order, to check them."""
        return new_hasher(self.algorithm)

    def problem(self, size_bytes: int, digest: str) -> str | None:
        """None when `size_bytes` bytes hashed to `digest` (by `hasher()`) are this file;
        otherwise what differs, to follow the file's name in one error line."""
        return problem(self.algorithm, self.digest, self.size_bytes, digest, size_bytes)


@dataclass(frozen=True)
class Manifest:
    """The committed content of one version.

    `files` is sorted by path and has no duplicates. `skipped` lists what the producing
    task left in its data directory but was deliberately not stored (a symlink leaving the
    directory, a broken link, a fifo), one `"<relative path>: <reason>"` line each, so the
    caller can warn and a reader can later see why a file is absent.

    `state_id` is the state that stored the version; None in manifests written before
    states had ids, which cannot be told apart and are taken as they are.
    """

    project: str
    dataset: str
    version: int
    created_at: str
    files: tuple[FileEntry, ...]
    skipped: tuple[str, ...] = ()
    state_id: str | None = None

    def __post_init__(self) -> None:
        version_prefix(self.project, self.dataset, self.version)
        if self.state_id is not None:
            check_state_id(self.state_id)
        _check_utc_timestamp(self.created_at)
        paths = [entry.path for entry in self.files]
        if paths != sorted(paths):
            raise ValueError("files must be sorted by path")
        if len(set(paths)) != len(paths):
            raise ValueError("files must not repeat a path")
        if not all(isinstance(line, str) for line in self.skipped):
            raise ValueError("skipped must be a list of strings")

    @property
    def size_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.files)

    @property
    def content_digest(self) -> str:
        """sha256 of the files' paths, sizes and checksums only: the same bytes stored again,
        as another version or at another time, have the same digest (a data set's
        dependants are produced again only when it differs). A sha256 entry is listed as it
        always was, so versions stored before algorithms were recorded keep their digest."""
        listing = [
            [e.path, e.size_bytes, e.digest]
            if e.algorithm == SHA256
            else [e.path, e.size_bytes, e.digest, e.algorithm]
            for e in self.files
        ]
        text = json.dumps(listing, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_json(self) -> bytes:
        """The manifest as JSON, one file per line. Built line by line: with `indent`, the
        json module falls back to its pure-Python encoder, which took a sixth of storing
        2,000 small files, and a `json.dumps` per entry still took a twentieth."""
        head: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "project": self.project,
            "dataset": self.dataset,
            "version": self.version,
            "created_at": self.created_at,
            "size_bytes": self.size_bytes,
        }
        if self.state_id is not None:
            head["state_id"] = self.state_id
        # What json.dumps gave for each entry's dict, byte for byte, without building one:
        # the algorithm and digest are checked to be plain ASCII, the size a plain int.
        files = ",\n".join(
            f' {{"path": {_json_text(e.path)}, "size_bytes": {e.size_bytes:d}, '
            f'"{e.algorithm}": "{e.digest}"}}'
            for e in self.files
        )
        text = (
            json.dumps(head)[:-1]
            + (',\n"files": [\n' + files + "\n],\n" if files else ',\n"files": [],\n')
            + f'"skipped": {json.dumps(list(self.skipped))}}}\n'
        )
        return text.encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse and validate; anything that is not a well-formed manifest is a ValueError."""
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"manifest is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("manifest is not a JSON object")
        if document.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {document.get('format')!r} is not supported")
        files_raw = _field(document, "files", list)
        entries = []
        for raw in files_raw:
            if not isinstance(raw, dict):
                raise ValueError("manifest files must be objects")
            algorithms = [name for name in ALGORITHMS if name in raw]
            if len(algorithms) != 1:
                raise ValueError(
                    f"manifest files must have one checksum, under one of {', '.join(ALGORITHMS)}"
                )
            entries.append(
                FileEntry(
                    path=_field(raw, "path", str),
                    size_bytes=_field(raw, "size_bytes", int),
                    digest=_field(raw, algorithms[0], str),
                    algorithm=algorithms[0],
                )
            )
        manifest = cls(
            project=_field(document, "project", str),
            dataset=_field(document, "dataset", str),
            version=_field(document, "version", int),
            created_at=_field(document, "created_at", str),
            files=tuple(entries),
            skipped=tuple(_field(document, "skipped", list)) if "skipped" in document else (),
            state_id=_field(document, "state_id", str) if "state_id" in document else None,
        )
        declared_size = document.get("size_bytes", manifest.size_bytes)
        if declared_size != manifest.size_bytes:
            raise ValueError(
                f"manifest size_bytes {declared_size!r} is not the sum of its files "
                f"({manifest.size_bytes})"
            )
        return manifest


@lru_cache(maxsize=256, typed=True)  # once per version, not once per file key
def version_prefix(project: str, dataset: str, version: int) -> str:
    """The key prefix every object of a version lives under, e.g. `datasets/p/n/3/`."""
    _check_name("project", project)
    _check_name("dataset", dataset)
    if not _is_int(version) or version < 1:
        raise ValueError(f"version must be a positive integer, not {version!r}")
    return f"{DATASETS_PREFIX}{project}/{dataset}/{version}/"


def project_prefix(project: str) -> str:
    """The key prefix of every version of a project, e.g. `datasets/p/`."""
    _check_name("project", project)
    return f"{DATASETS_PREFIX}{project}/"


def check_state_id(state_id: str) -> None:
    """A state id is written into keys' neighbours and one-line errors: keep it plain."""
    if not isinstance(state_id, str) or not _STATE_ID.fullmatch(state_id):
        raise ValueError(f"state id {state_id!r} must be 8 to 64 letters, digits, '-' or '_'")


def manifest_key(project: str, dataset: str, version: int) -> str:
    return version_prefix(project, dataset, version) + MANIFEST_NAME


def file_key(project: str, dataset: str, version: int, rel_path: str) -> str:
    check_relative_path(rel_path)
    encoded = _KEY_ESCAPED.sub(lambda m: f"%{ord(m.group()):02X}", rel_path)
    return version_prefix(project, dataset, version) + FILES_DIR + encoded


def parse_version_key(key: str) -> tuple[str, str, int] | None:
    """The version `(project, dataset, version)` a key belongs to, or None for a key that
    no version can own (outside `datasets/`, a non-canonical version number, ...)."""
    parts = key.split("/")
    if len(parts) < 5 or parts[0] != DATASETS_PREFIX.rstrip("/") or not parts[4]:
        return None
    project, dataset, version_text = parts[1], parts[2], parts[3]
    if not _CANONICAL_VERSION.fullmatch(version_text):
        return None
    try:
        _check_name("project", project)
        _check_name("dataset", dataset)
    except ValueError:
        return None
    return project, dataset, int(version_text)


def check_relative_path(path: str) -> None:
    """A stored path stays inside the directory it is downloaded to: relative, posix,
    no `.`/`..`/empty segments, no NUL."""
    if not isinstance(path, str) or not path:
        raise ValueError("a file path must be a non-empty string")
    if path.startswith("/") or "\x00" in path:
        raise ValueError(f"{path!r} is not a relative path")
    segments = path.split("/")  # `in` on the list: no Python loop, once per stored file
    if "" in segments or "." in segments or ".." in segments:
        raise ValueError(f"{path!r} has an empty, '.' or '..' segment")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name:
        raise ValueError(f"{kind} name {name!r} cannot be used in a store key")
    if _CONTROL.search(name) or re.search(r"#\d+$", name):
        raise ValueError(f"{kind} name {name!r} cannot be used in a store key")


def _check_utc_timestamp(text: str) -> None:
    if not isinstance(text, str):
        raise ValueError("created_at must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"created_at {text!r} is not ISO 8601") from None
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"created_at {text!r} is not in UTC")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(document: dict[str, Any], name: str, kind: type) -> Any:
    if name not in document:
        raise ValueError(f"manifest has no {name!r}")
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"manifest {name!r} must be {kind.__name__}")
    return value
