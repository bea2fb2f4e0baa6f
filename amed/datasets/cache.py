"""Local, verified copies of data set versions, for code that wants a directory.

    $XDG_CACHE_HOME/ame/datasets/<store id>/<project>/<name>/v<version>-<manifest digest>/
        data/         the files, exactly as the manifest lists them (read-only)
        entry.json    what the entry holds; its mtime is the entry's last use

An entry is downloaded (each file checked against the manifest as it arrives) into a
temporary directory beside it and renamed into place whole, so an entry that exists is
complete: two processes fetching the same version at once both end up with it, one
download wasted. A version is immutable and named with its manifest's digest, so an entry
is reused for as long as that version is the one asked for, without looking at it again.

The cache is bounded (`AME_CACHE_SIZE`, a quantity like `20Gi`; 10 GiB by default):
after each new entry the least recently used others are deleted until the rest fits. An
entry in use by another process may be deleted under it; size the cache for what runs
at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from amed.datasets.errors import DatasetError

DEFAULT_CACHE_BYTES = 10 * 1024**3
STALE_TEMP_SECONDS = 24 * 3600.0
ENTRY_FILE = "entry.json"
DATA_DIR = "data"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ame"


def cache_limit_bytes() -> int:
    text = os.environ.get("AME_CACHE_SIZE")
    if not text:
        return DEFAULT_CACHE_BYTES
    from spec import parse_quantity

    try:
        return parse_quantity(text)
    except ValueError as exc:
        raise DatasetError(f"AME_CACHE_SIZE: {exc}") from None


def entry_dir(
    root: Path, store_url: str, project: str, name: str, version: int, digest: str
) -> Path:
    store_id = hashlib.sha256(store_url.encode("utf-8")).hexdigest()[:16]
    return root / "datasets" / store_id / project / name / f"v{version}-{digest[:16]}"


def cached_copy(
    entry: Path,
    size_bytes: int,
    fetch: Callable[[Path], None],
    *,
    limit_bytes: int,
) -> Path:
    """The `data` directory of `entry`, fetched into it first (by `fetch(directory)`,
    which must verify what it writes and leave it read-only) unless it is already there;
    then the cache is trimmed to `limit_bytes`, least recently used first, never this
    entry."""
    data = entry / DATA_DIR
    marker = entry / ENTRY_FILE
    if marker.is_file() and data.is_dir():
        _touch(marker)
        return data
    entry.parent.mkdir(parents=True, exist_ok=True)
    temp = entry.parent / f".tmp-{secrets.token_hex(6)}"
    try:
        temp.mkdir()
        fetch(temp / DATA_DIR)  # read-only files
        (temp / DATA_DIR).mkdir(exist_ok=True)  # a version without files
        (temp / ENTRY_FILE).write_text(json.dumps({"size_bytes": size_bytes}) + "\n")
        try:
            temp.rename(entry)
        except OSError:
            if not marker.is_file():  # not another process that got there first
                raise
    finally:
        _remove(temp)  # gone already when the rename took it
    _touch(marker)
    trim(entry.parents[3], limit_bytes, keep=entry)
    return data


def trim(root: Path, limit_bytes: int, *, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used entries under `root` (the cache's `datasets`
    directory) until the others fit in `limit_bytes`; return those deleted. Temporary
    directories that a killed fetch left behind a day ago go too."""
    entries: list[tuple[float, int, Path]] = []
    now = time.time()
    for marker in root.glob(f"*/*/*/*/{ENTRY_FILE}"):
        try:
            used = marker.stat().st_mtime
            size = int(json.loads(marker.read_text())["size_bytes"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        entries.append((used, size, marker.parent))
    for temp in root.glob("*/*/*/.tmp-*"):
        try:
            if now - temp.stat().st_mtime > STALE_TEMP_SECONDS:
                _remove(temp)
        except OSError:
            continue
    total = sum(size for _, size, _ in entries)
    removed: list[Path] = []
    for _, size, entry in sorted(entries):
        if total <= limit_bytes:
            break
        if entry == keep:
            continue
        trash = entry.parent / f".tmp-{secrets.token_hex(6)}"
        try:
            entry.rename(trash)  # whole or not at all, as seen by a reader looking it up
        except OSError:
            continue  # another process deleted it first
        _remove(trash)
        total -= size
        removed.append(entry)
    return removed


def _touch(marker: Path) -> None:
    with suppress(OSError):  # a cache shared read-only still serves
        os.utime(marker)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
