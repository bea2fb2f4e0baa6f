"""Reading an ame.yaml's bytes, its limits checked, before anything parses them: light
(no YAML, no models), so that a caller served from spec.cache imports no loader."""

from __future__ import annotations

import stat
from pathlib import Path

from spec.errors import SpecError
from spec.quantity import format_bytes

MAX_FILE_BYTES = 1024 * 1024
"""The default size limit; `max_bytes` of the load functions sets another."""


def read_project_file(
    path: str | Path, *, max_bytes: int = MAX_FILE_BYTES
) -> tuple[bytes, str, str]:
    """The bytes of a project's ame.yaml, the name errors give it and its absolute path;
    a SpecError for a file that is missing, unreadable, not a file or over `max_bytes`."""
    file = _project_file(Path(path))
    shown = str(file)
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SpecError("not a regular file; give the path of an ame.yaml", shown)
        check_size(info.st_size, shown, max_bytes)
        with file.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise SpecError(
            "no such file; run in the project directory, or give it with --project", shown
        ) from None
    except OSError as error:
        raise SpecError(f"cannot read the file: {error.strerror or error}", shown) from None
    check_size(len(raw), shown, max_bytes)
    return raw, shown, str(file.absolute())


def _project_file(path: Path) -> Path:
    if not path.is_dir():
        return path
    from spec.places import PROJECT_FILE_NAMES

    for name in PROJECT_FILE_NAMES:
        if (path / name).is_file():
            return path / name
    raise SpecError(f"no {' or '.join(PROJECT_FILE_NAMES)} in this directory", str(path))


def check_size(size_bytes: int, filename: str, max_bytes: int) -> None:
    if size_bytes > max_bytes:
        raise SpecError(
            f"the file is {format_bytes(size_bytes)}, more than the {format_bytes(max_bytes)}"
            " an ame.yaml may have; is this the right file? (a bigger project raises the"
            " limit with spec.max_size / AME_SPEC_MAX_SIZE)",
            filename,
            1,
            1,
        )
