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
after each new entry the least recently used others are deleted until the rest fits.

An entry handed to a process is in use until that process exits, and is never deleted
meanwhile: the process holds a shared `flock` on the entry's `entry.json`, and the trim
deletes an entry only under an exclusive one, taken without waiting (an entry in use is
passed over, so a cache whose entries are all in use may stay above its size). The trim
renames the entry away before it lets go of its lock; a process that looked the entry up
just before checks, once it holds its lock, that `entry.json` is still the one at the
entry's path, and fetches the version again when it is not.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from amed.datasets.errors import DatasetError

DEFAULT_CACHE_BYTES = 10 * 1024**3
STALE_TEMP_SECONDS = 24 * 3600.0
ENTRY_FILE = "entry.json"
DATA_DIR = "data"
FETCH_ATTEMPTS = 3

_held: dict[Path, int] = {}  # entry -> descriptor of its entry.json, locked shared
_held_lock = threading.Lock()


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
    for _ in range(FETCH_ATTEMPTS):
        if (entry / ENTRY_FILE).is_file() and data.is_dir() and _hold(entry):
            _touch(entry / ENTRY_FILE)
            return data
        _fetch_into(entry, size_bytes, fetch)
        if _hold(entry):
            _touch(entry / ENTRY_FILE)
            trim(entry.parents[3], limit_bytes, keep=entry)
            return data
    raise DatasetError(
        f"{entry}: deleted from the cache as soon as it was fetched, {FETCH_ATTEMPTS} "
        "times; is AME_CACHE_SIZE smaller than what the processes using it hold?"
    )


def _fetch_into(entry: Path, size_bytes: int, fetch: Callable[[Path], None]) -> None:
    """Download into a temporary directory beside `entry`, renamed into place whole; when
    another process got there first, its entry stays and this download is dropped."""
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
            if not (entry / ENTRY_FILE).is_file():  # not another process that got there first
                raise
    finally:
        _remove(temp)  # gone already when the rename took it


def _hold(entry: Path) -> bool:
    """Mark `entry` in use for the rest of this process (a shared lock on its entry.json);
    False when it is no longer there, or was replaced, by the time the lock is held."""
    marker = entry / ENTRY_FILE
    with _held_lock:
        if entry in _held:
            return True
        try:
            fd = os.open(marker, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # a trim holds its lock only for a rename
            locked, current = os.fstat(fd), marker.stat()
        except OSError:
            os.close(fd)
            return False
        if (locked.st_dev, locked.st_ino) != (current.st_dev, current.st_ino):
            os.close(fd)
            return False
        _held[entry] = fd
        return True


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
        trash = _take_unused(entry)
        if trash is None:
            continue
        _remove(trash)
        total -= size
        removed.append(entry)
    return removed


def _take_unused(entry: Path) -> Path | None:
    """Rename `entry` out of the way (whole or not at all, as a reader looking it up sees
    it) unless a process holds it in use; the new name, or None."""
    try:
        fd = os.open(entry / ENTRY_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # another process deleted it first
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        trash = entry.parent / f".tmp-{secrets.token_hex(6)}"
        entry.rename(trash)
    except OSError:  # in use (EWOULDBLOCK), or gone meanwhile
        return None
    finally:
        os.close(fd)
    return trash


def _touch(marker: Path) -> None:
    with suppress(OSError):  # a cache shared read-only still serves
        os.utime(marker)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
