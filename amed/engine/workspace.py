"""A run's private working copy of the project.

A task runs in a copy so that it can damage neither the project nor another run, and so
that what it produced is exactly what is in the copy when it exits. The copy leaves out
`.git` and the data sets' own output paths (a task must produce them, not find old ones).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path, PurePosixPath

VCS_DIR_NAMES = frozenset({".git"})
"""Directory names never copied, at any depth."""


def make_working_copy(project_dir: Path, dest: Path, *, exclude: Collection[str]) -> None:
    """Copy `project_dir` to `dest`, which must not exist yet.

    `exclude` holds paths relative to the project, in posix form ("data/out"); each one is
    left out with everything under it. Symlinks are copied as symlinks and never followed,
    so a link that points out of the project cannot pull outside files into the copy. File
    modes are kept; sockets, pipes and devices are left out. Raises `FileExistsError` if
    `dest` exists, and `OSError` (a `shutil.Error` listing every file) when something
    cannot be copied.
    """
    root = project_dir.resolve()
    excluded = {_normalise(path) for path in exclude}
    excluded.discard("")

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(os.path.relpath(directory, root)).as_posix()
        prefix = "" if relative == "." else relative + "/"
        left_out = _special_files(directory)
        left_out.update(
            name for name in names if name in VCS_DIR_NAMES or prefix + name in excluded
        )
        return left_out

    shutil.copytree(root, dest, symlinks=True, ignore=ignore)


def _special_files(directory: str) -> set[str]:
    """Sockets, pipes and devices: never task input, and opening a pipe would block."""
    with os.scandir(directory) as entries:
        return {
            entry.name
            for entry in entries
            if not (
                entry.is_symlink()
                or entry.is_file(follow_symlinks=False)
                or entry.is_dir(follow_symlinks=False)
            )
        }


def _normalise(path: str) -> str:
    """`./data/out/` → `data/out`, so a data set path matches however it was written."""
    parts = [part for part in PurePosixPath(path).parts if part not in (".", "/")]
    return "/".join(parts)
