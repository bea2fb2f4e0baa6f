"""A run's private working copy of the project.

A task runs in a copy so that it can damage neither the project nor another run, and so
that what it produced is exactly what is in the copy when it exits. The copy leaves out
what amed.engine.visibility says a task does not see: `.git`, the data sets' own output
paths (a task must produce them, not find old ones) and what `.ameignore` excludes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from pathlib import Path

from amed.engine.visibility import Visibility, excluded_set, is_special


def make_working_copy(project_dir: Path, dest: Path, *, exclude: Collection[str]) -> None:
    """Copy `project_dir` to `dest`, which must not exist yet.

    `exclude` holds paths relative to the project, in posix form ("data/out"); each one is
    left out with everything under it, as is what the project's `.ameignore` excludes.
    Symlinks are copied as symlinks and never followed,
    so a link that points out of the project cannot pull outside files into the copy. File
    modes are kept; sockets, pipes and devices are left out. Raises `FileExistsError` if
    `dest` exists, and `OSError` (a `shutil.Error` listing every file) when something
    cannot be copied.
    """
    root = project_dir.resolve()
    visibility = Visibility(root, excluded_set(exclude))

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(os.path.relpath(directory, root)).as_posix()
        prefix = "" if relative == "." else relative + "/"
        left_out: set[str] = set()
        with os.scandir(directory) as entries:
            for entry in entries:
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_special(entry) or visibility.hides(
                    prefix + entry.name, entry.name, is_dir=is_dir
                ):
                    left_out.add(entry.name)
        return left_out

    shutil.copytree(root, dest, symlinks=True, ignore=ignore)
