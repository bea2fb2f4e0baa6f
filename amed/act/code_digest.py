"""The digest of the project files a task can see: part of every data set's identity.

It covers what a task's working copy holds (amed.engine.visibility: the project less `.git`,
the data sets' paths and what `.ameignore` excludes), so that editing a script the task runs
produces a new version and editing anything the task cannot see does not. Not covered:
`ame.yaml` (what it says about a data set is its spec hash, and a change to another data
set or a size must rebuild nothing) and `.ameignore` itself (what it changes is which files
count). Every data set of a project sees the same working copy, so one digest per pass
serves them all.

A file's content is hashed once and found again through a stat cache, path → (mtime_ns,
size, inode) → sha256, so that a pass over an unchanged project reads no file. A file
modified within `RACY_SECONDS` of the walk is hashed again at every walk until it is older:
an edit within the file system's timestamp granularity could otherwise keep its size and
mtime and go unseen. The cache is kept in memory and, for `amed run --once`, in a JSON file
in the state dir, rewritten only when it changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import os
import stat
import time
from collections.abc import Collection
from pathlib import Path

from amed import logs
from amed.config import Settings
from amed.engine.visibility import AMEIGNORE_NAME, Visibility, excluded_set, is_special
from spec import Project

CACHE_NAME = "code-digests.json"
CACHE_FORMAT = 1
RACY_SECONDS = 2.0
NOT_CODE = frozenset({"ame.yaml", "ame.yml", AMEIGNORE_NAME})
"""Names at the project root that are not part of the digest."""
_CHUNK_BYTES = 1 << 20

Entry = tuple[int, int, int, str]  # mtime_ns, size, inode, sha256


def excluded_paths(settings: Settings, desired: Project) -> tuple[str, ...]:
    """What every working copy leaves out besides `.git` and `.ameignore`'s patterns: the
    data sets' own paths, and the state dir and a file:// store when they lie inside the
    project (a task has no business there, and the state changes at every pass).

    The last answer is kept: a pass asks twice, and the daemon asks every pass about the
    same loaded spec, which may declare thousands of data sets."""
    key = (settings.project_dir, settings.state_dir, settings.storage_url)
    last = _LAST_EXCLUDED.get("last")
    if last is not None and last[0] is desired and last[1] == key:
        return last[2]
    found = _excluded_paths(settings, desired)
    _LAST_EXCLUDED["last"] = (desired, key, found)
    return found


_path_of = operator.attrgetter("path")
_LAST_EXCLUDED: dict[str, tuple[Project, tuple[Path, Path, str], tuple[str, ...]]] = {}


def _excluded_paths(settings: Settings, desired: Project) -> tuple[str, ...]:
    """In the order declared, the state dir and store last: used as a set, and sorting
    100,000 paths cost a pass over a changed ame.yaml a sixth of its time."""
    paths = dict.fromkeys(map(_path_of, desired.data_sets))
    root = settings.project_dir.resolve()
    places = [settings.state_dir]
    if settings.storage_url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        places.append(Path(unquote(urlparse(settings.storage_url).path)))
    for place in places:
        try:
            inside = place.resolve().relative_to(root)
        except (OSError, ValueError):
            continue
        if inside.parts:
            paths[inside.as_posix()] = None
    return tuple(paths)


class CodeDigests:
    """The project's digest through a stat cache. One owner thread. `cache_file`: where the
    cache is kept between processes (None: memory only); `persist`: whether to write it
    (a dry run only reads it)."""

    def __init__(self, cache_file: Path | None, *, persist: bool = True) -> None:
        self.cache_file = cache_file
        self.persist = persist
        self._root: str | None = None
        self._files: dict[str, Entry] = {}
        self._exclude: tuple[str, ...] = ()
        self._excluded: frozenset[str] = frozenset()

    def digest(self, project_dir: Path, exclude: Collection[str]) -> str:
        """sha256 over every visible file and symlink: its path, whether it is executable
        and its content's sha256 (a link: its target). Raises OSError when the project
        cannot be read at all; a file that cannot be read counts as such."""
        root = project_dir.resolve()
        self._load(str(root))
        if tuple(exclude) != self._exclude:
            self._exclude = tuple(exclude)
            self._excluded = excluded_set(self._exclude)
        visibility = Visibility(root, self._excluded)
        racy_after_ns = time.time_ns() - int(RACY_SECONDS * 1e9)
        seen: dict[str, Entry] = {}
        lines: list[tuple[str, str]] = []
        pending = [(str(root), "")]
        while pending:
            directory, prefix = pending.pop()
            with os.scandir(directory) as entries:
                for entry in entries:
                    relative = prefix + entry.name
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if is_special(entry) or visibility.hides(relative, entry.name, is_dir=is_dir):
                        continue
                    if is_dir:
                        pending.append((entry.path, relative + "/"))
                    elif entry.is_symlink():
                        lines.append((relative, "l " + _link(entry.path)))
                    elif not (prefix == "" and entry.name in NOT_CODE):
                        line = self._file(entry, relative, racy_after_ns, seen)
                        lines.append((relative, line))
        changed = seen != self._files
        self._files = seen
        if changed:
            self._save()
        found = hashlib.sha256()
        for relative, line in sorted(lines):
            found.update(f"{relative}\0{line}\n".encode("utf-8", "surrogateescape"))
        return found.hexdigest()

    def _file(
        self, entry: os.DirEntry[str], relative: str, racy_after_ns: int, seen: dict[str, Entry]
    ) -> str:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as exc:
            return f"? {exc.strerror}"
        mode = "x" if info.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else "f"
        known = self._files.get(relative)
        if known is not None and known[:3] == (info.st_mtime_ns, info.st_size, info.st_ino):
            seen[relative] = known
            return f"{mode} {known[3]}"
        try:
            content = _sha256(entry.path)
        except OSError as exc:
            return f"? {exc.strerror}"
        if info.st_mtime_ns < racy_after_ns:
            seen[relative] = (info.st_mtime_ns, info.st_size, info.st_ino, content)
        return f"{mode} {content}"

    def _load(self, root: str) -> None:
        if self._root == root:
            return
        self._root, self._files = root, {}
        if self.cache_file is None:
            return
        try:
            document = json.loads(self.cache_file.read_bytes())
        except (OSError, ValueError):
            return
        if (
            not isinstance(document, dict)
            or document.get("format") != CACHE_FORMAT
            or document.get("root") != root
            or not isinstance(document.get("files"), dict)
        ):
            return
        with contextlib.suppress(TypeError, ValueError):
            self._files = {
                str(path): (int(m), int(s), int(i), str(d))
                for path, (m, s, i, d) in document["files"].items()
            }

    def _save(self) -> None:
        """Best effort: a cache that cannot be written costs the next process a re-hash."""
        if self.cache_file is None or not self.persist:
            return
        document = {"format": CACHE_FORMAT, "root": self._root, "files": self._files}
        temporary = self.cache_file.with_name(f".{self.cache_file.name}.{os.getpid()}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                json.dump(document, handle, separators=(",", ":"))
            temporary.replace(self.cache_file)
        except OSError as exc:
            logs.get().warning("code_digest_cache_not_saved", error=str(exc))
            with contextlib.suppress(OSError):
                temporary.unlink()


def _sha256(path: str) -> str:
    found = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            found.update(chunk)
    return found.hexdigest()


def _link(path: str) -> str:
    try:
        return str(Path(path).readlink())
    except OSError as exc:
        return f"? {exc.strerror}"
