"""ame.yaml as the daemon sees it: where it is, how it is loaded, and the last good one.

An ame.yaml that fails to load (or disappears) never replaces the last good spec: the daemon
keeps acting on that one and says what is wrong, once per distinct error, until the file is
fixed. Noticing an edit costs one `stat`, so the daemon can look every half second. After an
error the file is read again at every look, whatever its `stat` says: a file moved away and
back, or made readable by `chmod`, looks unchanged to `stat` but loads now.
"""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass
from pathlib import Path

from amed import logs
from spec.errors import SpecError
from spec.model import Project
from spec.reading import MAX_FILE_BYTES

SETTLE_SECONDS = 1.0
"""How long ame.yaml must keep failing to load before it counts as invalid."""


def spec_path(project_dir: Path) -> Path:
    for name in ("ame.yaml", "ame.yml"):
        if (project_dir / name).exists():
            return project_dir / name
    return project_dir / "ame.yaml"


SPEC_CACHE_NAME = "spec-cache.pickle"
"""In the state dir: the last valid ame.yaml as loaded (spec.cache)."""


def spec_cache(state_dir: Path) -> Path:
    return state_dir / SPEC_CACHE_NAME


def load_spec(
    path: Path, max_bytes: int = MAX_FILE_BYTES, cache_file: Path | None = None
) -> Project:
    """load_project, refusing a path that is not a regular file before opening it: a FIFO
    would block the loader forever, a device would feed it without end. `max_bytes` is the
    `spec.max_size` setting. With `cache_file`, an unchanged file is not loaded again
    (spec.cache): a daemon's start with nothing to do is mostly that load."""
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None  # load_project says what is wrong with a missing or unreadable file
    if mode is not None and not stat.S_ISREG(mode):
        raise SpecError("not a regular file; ame.yaml must be a file", str(path))
    if cache_file is None:
        from spec.load import load_project

        return load_project(path, max_bytes=max_bytes)
    from spec.cache import load_project_cached

    return load_project_cached(path, cache_file, max_bytes=max_bytes)


@dataclass
class SpecFile:
    """The last good ame.yaml, loaded again only when the file changes.

    `seen` is the (mtime, size, inode) of the file at the last attempt to load it, good or
    bad, so that `changed_on_disk` is true exactly once per edit. A file that is missing,
    empty or invalid never replaces the last good spec.

    A file that fails to load counts as invalid only once it has failed for SETTLE_SECONDS:
    many editors save in two steps (truncate then write, or write a new file then rename),
    and the moment in between must not raise a critical alert and its resolved notice.
    """

    path: Path
    project: Project | None = None
    max_bytes: int = MAX_FILE_BYTES
    cache_file: Path | None = None
    stamp: tuple[int, int, int] | None = None
    seen: tuple[int, int, int] | None = None
    last_error: str | None = None
    attempted: bool = False
    _loaded: tuple[tuple[int, int, int] | None, Project] | None = None
    _failing_since: float | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def changed_on_disk(self) -> bool:
        """Whether a pass should load the file again: it changed since the last attempt, a
        failure has settled, or the last attempt failed and the file loads now (`load` then
        takes that result)."""
        if not self.attempted:
            return False
        if self._failing_since is not None and self._settled():
            return True
        if self.last_error is None:
            return self._stamp() != self.seen
        stamp = self._stamp()
        try:
            project = load_spec(self.path, self.max_bytes, self.cache_file)
        except SpecError as exc:
            if stamp != self.seen:
                return True  # a new error: load() reports it once
            self.seen = stamp
            return str(exc) != self.last_error
        self._loaded = (stamp, project)
        return True

    def forget(self) -> None:
        """Load the file again at the next pass even if it looks unchanged (SIGHUP)."""
        self.stamp = self.seen = None
        self.last_error = None
        self.attempted = False
        self._failing_since = None

    @property
    def valid(self) -> bool:
        return self.attempted and self.last_error is None and self.project is not None

    def load(self) -> Project | None:
        stamp = self._stamp()
        loaded, self._loaded = self._loaded, None
        if loaded is not None and loaded[0] == stamp:
            self.seen, self.attempted = stamp, True
            return self._good(loaded[1], stamp)
        if (
            stamp is not None
            and stamp == self.stamp
            and self.project is not None
            and self.last_error is None
        ):
            return self.project
        self.seen, self.attempted = stamp, True
        try:
            project = load_spec(self.path, self.max_bytes, self.cache_file)
        except SpecError as exc:
            if self.last_error is None and not self._settled():
                # Perhaps an editor's save half done: look again once it has settled.
                logs.get().info("spec_settling", error=str(exc), seconds=SETTLE_SECONDS)
                return self.project
            if str(exc) != self.last_error:
                logs.get().error(
                    "spec_invalid", error=str(exc), keeping_last_good=bool(self.project)
                )
                self.last_error = str(exc)
            return self.project
        return self._good(project, stamp)

    def _settled(self) -> bool:
        """Whether the current failure has lasted SETTLE_SECONDS (starting its clock)."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        return now - self._failing_since >= SETTLE_SECONDS

    def _good(self, project: Project, stamp: tuple[int, int, int] | None) -> Project:
        self._failing_since = None
        if self.last_error is not None:
            logs.get().info("spec_valid_again")
        for warning in project.warnings:
            logs.get().warning("spec_warning", warning=warning)
        self.project, self.stamp, self.last_error = project, stamp, None
        return project
