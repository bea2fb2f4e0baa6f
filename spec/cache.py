"""A loaded ame.yaml kept between starts, so an unchanged file is not parsed and validated
again: at 10,000 data sets that is most of a start that has nothing else to do.

The cache holds one project: the models as loaded (warnings included, so they are shown
again), under a key made of everything the result depends on: the file's bytes (their
sha256), the name errors give it and its absolute path, the size limit, the source of this
package (a changed model or rule reloads) and the Python and pydantic that pickled it. It is
trusted only when the key matches and the file is this user's and writable by no one else
(pickle runs code when it loads); anything else, a missing, damaged or foreign file
included, is a miss, never an error: the file is loaded as without a cache and the cache
written again. A file with errors is never cached, so its errors are found each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import stat
import sys
import tempfile
from functools import cache
from pathlib import Path

from spec.model import Project
from spec.reading import MAX_FILE_BYTES, read_project_file

FORMAT = 1
_KEY_BYTES = 64  # the key's hex digits, then a newline, then the pickle


def load_project_cached(
    path: str | Path, cache_file: Path, *, max_bytes: int = MAX_FILE_BYTES, salt: str = ""
) -> Project:
    """`load_project`, served from `cache_file` when it holds this very file's project.
    `salt` is whatever else of the caller's shapes the result (its version, settings)."""
    raw, shown, absolute = read_project_file(path, max_bytes=max_bytes)
    key = _key(raw, shown, absolute, max_bytes, salt)
    found = _read(cache_file, key)
    if found is not None:
        return found
    from spec.load import load_bytes  # the parser and the document's models: on a miss only

    project = load_bytes(raw, shown, absolute, max_bytes=max_bytes)
    _write(cache_file, key, project)
    return project


def _key(raw: bytes, shown: str, absolute: str, max_bytes: int, salt: str) -> bytes:
    parts = [
        FORMAT,
        hashlib.sha256(raw).hexdigest(),
        shown,
        absolute,
        max_bytes,
        salt,
        _source_digest(),
        sys.version,
        _pydantic_version(),
    ]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest().encode("ascii")


@cache
def _source_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode("utf-8") + b"\0")
        digest.update(source.read_bytes())
    return digest.hexdigest()


def _pydantic_version() -> str:
    import pydantic

    return str(pydantic.VERSION)


def _read(cache_file: Path, key: bytes) -> Project | None:
    try:
        with cache_file.open("rb") as stream:
            info = os.fstat(stream.fileno())
            if not _trusted(info):
                return None
            if stream.read(_KEY_BYTES + 1) != key + b"\n":
                return None
            project = pickle.loads(stream.read())
    except Exception:  # noqa: BLE001 - a cache that cannot be read is a miss, whatever broke
        return None
    return project if isinstance(project, Project) else None


def _trusted(info: os.stat_result) -> bool:
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _write(cache_file: Path, key: bytes, project: Project) -> None:
    """Written whole under another name, then renamed over the old one; a cache that
    cannot be written costs only the next start's load."""
    for data_set in project.data_sets:
        _ = data_set.spec_hash  # a cached property: kept with the model, not computed per start
    try:
        data = pickle.dumps(project, protocol=pickle.HIGHEST_PROTOCOL)
        handle, partial = tempfile.mkstemp(dir=cache_file.parent, prefix=cache_file.name + ".")
    except Exception:  # noqa: BLE001 - e.g. a read-only state dir, a model pickle refuses
        return
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(key + b"\n")
            out.write(data)
        Path(partial).replace(cache_file)
    except OSError:  # e.g. a full disk
        with contextlib.suppress(OSError):
            Path(partial).unlink()
