"""A run's working copy as the zip Ray ships to a worker (`runtime_env.working_dir`).

The copy is made exactly as for a local run (amed.engine.workspace: same exclusions), then
zipped here rather than handed to Ray as a directory: Ray would also drop what the
project's `.gitignore` names, so a task on Ray would see other files than the same task
run locally. A zip is shipped as it is.

Only regular files and directories go in. A symlink is stored as the file it points to
when that file is inside the copy, and left out otherwise (a link out of the project must
not pull an outside file into a package anyone on the cluster can read). Ray refuses a
package at or above its gRPC message limit; that is checked here, with a line that says
what to do, before anything is uploaded.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

DEFAULT_LIMIT_BYTES = 512 * 1024 * 1024
"""Ray's limit on a package (its gRPC message size), unless `RAY_max_grpc_message_size`."""


class PackageTooBig(Exception):
    """One line: the package's size, Ray's limit, and how to leave files out."""


def package_limit_bytes(env: Mapping[str, str] = os.environ) -> int:
    try:
        return int(env.get("RAY_max_grpc_message_size", DEFAULT_LIMIT_BYTES))
    except ValueError:
        return DEFAULT_LIMIT_BYTES


def zip_working_copy(
    work: Path, dest: Path, *, extra: Mapping[str, bytes], limit_bytes: int | None = None
) -> int:
    """Write `work` and the `extra` files (name -> content, at the root) into the zip
    `dest`; its size in bytes. PackageTooBig when Ray would refuse it (`dest` is then
    deleted)."""
    limit = package_limit_bytes() if limit_bytes is None else limit_bytes
    root = work.resolve()
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for directory, dirs, files in os.walk(root):
            here = Path(directory)
            dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink())
            relative_dir = here.relative_to(root)
            if relative_dir != Path() and not files and not dirs:
                zf.write(here, relative_dir.as_posix() + "/")
            for name in sorted(files):
                path = here / name
                source = _inside(path, root)
                if source is not None:
                    zf.write(source, (relative_dir / name).as_posix())
        for name, content in extra.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    size_bytes = dest.stat().st_size
    if size_bytes >= limit:
        dest.unlink()
        raise PackageTooBig(
            f"the task's working copy is {_mib(size_bytes)} zipped, at or above Ray's "
            f"package limit of {_mib(limit)}: leave big files out with .ameignore, or keep "
            "them in a data set the task reads"
        )
    return size_bytes


def _inside(path: Path, root: Path) -> Path | None:
    """The regular file `path` stands for, when it is one inside `root`."""
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError):
        return None
    if not stat.S_ISREG(mode) or not real.is_relative_to(root):
        return None
    return real


def _mib(size_bytes: int) -> str:
    return f"{size_bytes / (1024 * 1024):.1f} MiB"
