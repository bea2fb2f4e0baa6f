"""A run's data directory that holds only plain files is moved into a file:// store whole
(one rename); anything else in it keeps it where it is, and its files are linked or copied
one by one as before. Either way the stored version is the same."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from amed.store.checksum import bytes_checksum
from amed.store.manifest import file_key, version_prefix
from amed.store.objects import ObjectStore
from tests.store.conftest import local_root, tmpfs_at

CREATED_AT = "2026-12-07T10:00:00Z"
MiB = 1024 * 1024
FILES = {
    "top.bin": b"top level",
    "part000/a.bin": b"a" * 1000,
    "part000/deeper/b.bin": b"b" * 10,
    "part001/big.bin": bytes(range(256)) * (20 * MiB // 256),  # hashed in parts
}


def working_copy(tmp_path: Path) -> tuple[Path, Path]:
    """(`<run dir>/work`, its data directory `work/data`) holding FILES, the directories
    made private (0700) as a task may make them."""
    work = tmp_path / "run" / "work"
    data = work / "data"
    for rel_path, content in FILES.items():
        path = data / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (work / "train.py").write_bytes(b"print('the task')\n")
    for directory in [data, *(p for p in data.rglob("*") if p.is_dir())]:
        directory.chmod(0o700)
    return work, data


def stored(store: ObjectStore, rel_path: str) -> Path:
    return local_root(store) / file_key("p", "n", 1, rel_path)


def assert_stored_as_produced(store: ObjectStore, rel_paths: dict[str, bytes]) -> None:
    manifest = store.read_manifest("p", "n", 1)
    assert manifest is not None
    assert {entry.path: entry.size_bytes for entry in manifest.files} == {
        rel_path: len(content) for rel_path, content in rel_paths.items()
    }
    for entry in manifest.files:
        content = rel_paths[entry.path]
        assert entry.digest == bytes_checksum(content, entry.algorithm)
        if " " not in entry.path:  # else obstore's own file, under a name it chose
            assert stored(store, entry.path).read_bytes() == content
    assert store.verify(manifest, check_hashes=True) == []


def test_a_data_directory_of_plain_files_is_moved_into_place_whole(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    work, data = working_copy(tmp_path)
    inodes = {rel_path: (data / rel_path).stat().st_ino for rel_path in FILES}

    file_store.put_version("p", "n", 1, data, created_at=CREATED_AT, owned=True, root=work)

    assert not data.exists(), "moved, not linked: the working copy no longer holds it"
    assert (work / "train.py").exists(), "the rest of the working copy stays"
    assert {rel_path: stored(file_store, rel_path).stat().st_ino for rel_path in FILES} == inodes
    assert_stored_as_produced(file_store, FILES)
    assert all(stored(file_store, rel_path).stat().st_mode & 0o222 == 0 for rel_path in FILES), (
        "as a linked file: a stored file is never written again"
    )
    version_dir = local_root(file_store) / version_prefix("p", "n", 1)
    store_mode = stat.S_IMODE(version_dir.stat().st_mode)
    moved_dirs = [
        version_dir / "files",
        *(p for p in (version_dir / "files").rglob("*") if p.is_dir()),
    ]
    assert len(moved_dirs) == 4
    assert {stat.S_IMODE(p.stat().st_mode) for p in moved_dirs} == {store_mode}, (
        "the store's directories have the store's permissions, not the task's 0700"
    )


def _symlink_inside(data: Path) -> None:
    (data / "alias.bin").symlink_to("top.bin")


def _empty_directory(data: Path) -> None:
    (data / "part002" / "empty").mkdir(parents=True)


def _second_name_inside(data: Path) -> None:
    (data / "twin.bin").hardlink_to(data / "top.bin")


def _fifo(data: Path) -> None:
    os.mkfifo(data / "pipe")


def _name_the_store_escapes(data: Path) -> None:
    (data / "with space.bin").write_bytes(b"spaced")


def _read_only_directory(data: Path) -> None:
    (data / "part001").chmod(0o555)  # the store could not delete what it holds


def _directory_of_another_user(data: Path) -> None:
    try:
        os.chown(data / "part001", 65534, 65534)
    except PermissionError:
        pytest.skip("cannot give a directory to another user here (needs root)")


EXTRA: dict[str, bytes] = {"alias.bin": FILES["top.bin"], "twin.bin": FILES["top.bin"]}
EXTRA["with space.bin"] = b"spaced"


@pytest.mark.parametrize(
    "make",
    [
        _symlink_inside,
        _empty_directory,
        _second_name_inside,
        _fifo,
        _name_the_store_escapes,
        _read_only_directory,
        _directory_of_another_user,
    ],
    ids=[
        "symlink",
        "empty-directory",
        "second-name",
        "fifo",
        "escaped-name",
        "read-only-directory",
        "another-user",
    ],
)
def test_a_data_directory_holding_anything_else_stays_and_its_files_are_stored_one_by_one(
    file_store: ObjectStore, tmp_path: Path, make: Callable[[Path], None]
) -> None:
    work, data = working_copy(tmp_path)
    make(data)
    expected = {
        rel_path.relative_to(data).as_posix(): EXTRA.get(rel_path.name, b"")
        for rel_path in data.rglob("*")
        if rel_path.is_file() and rel_path.relative_to(data).as_posix() not in FILES
    }

    manifest = file_store.put_version(
        "p", "n", 1, data, created_at=CREATED_AT, owned=True, root=work
    )

    assert all((data / rel_path).read_bytes() == content for rel_path, content in FILES.items())
    assert_stored_as_produced(file_store, {**FILES, **expected})
    files_dir = local_root(file_store) / version_prefix("p", "n", 1) / "files"
    kinds = {stat.S_IFMT(p.lstat().st_mode) for p in files_dir.rglob("*")}
    assert kinds <= {stat.S_IFREG, stat.S_IFDIR}, "no link, fifo or other kind in the store"
    assert all(any(p.iterdir()) for p in files_dir.rglob("*") if p.is_dir())
    assert manifest.skipped == (("pipe: not a regular file",) if make is _fifo else ())


def test_a_data_directory_not_given_up_by_its_owner_stays(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    work, data = working_copy(tmp_path)
    file_store.put_version("p", "n", 1, data, created_at=CREATED_AT, root=work)
    assert all((data / rel_path).read_bytes() == content for rel_path, content in FILES.items())
    assert_stored_as_produced(file_store, FILES)
    assert stored(file_store, "top.bin").stat().st_ino != (data / "top.bin").stat().st_ino


@pytest.fixture
def data_on_another_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A working copy whose data directory is a tmpfs of its own."""
    work = tmp_path / "run" / "work"
    data = work / "data"
    data.mkdir(parents=True)
    with tmpfs_at(data, "64m"):
        yield work, data


def test_a_data_directory_on_another_file_system_is_copied(
    file_store: ObjectStore, data_on_another_disk: tuple[Path, Path]
) -> None:
    work, data = data_on_another_disk
    for rel_path, content in FILES.items():
        (data / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (data / rel_path).write_bytes(content)

    file_store.put_version("p", "n", 1, data, created_at=CREATED_AT, owned=True, root=work)

    assert all((data / rel_path).read_bytes() == content for rel_path, content in FILES.items())
    assert_stored_as_produced(file_store, FILES)
