"""A file hard-linked from outside the task's working copy is left out, like a symlink
that leaves; a file with several names inside it is stored under each of them."""

from __future__ import annotations

from pathlib import Path

from amed.store.datafiles import collect_sources
from amed.store.manifest import file_key
from amed.store.objects import ObjectStore
from tests.store.conftest import local_root

CREATED_AT = "2026-11-25T10:00:00Z"
MiB = 1024 * 1024


def working_copy(tmp_path: Path) -> tuple[Path, Path]:
    """(`<run dir>/work`, its data directory `work/data`)."""
    work = tmp_path / "run" / "work"
    data = work / "data"
    data.mkdir(parents=True)
    (data / "own.txt").write_bytes(b"produced by the task")
    return work, data


def test_a_file_hard_linked_from_outside_the_working_copy_is_skipped_with_a_reason(
    store: ObjectStore, tmp_path: Path
) -> None:
    work, data = working_copy(tmp_path)
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"must not be stored")
    (data / "sub").mkdir()
    (data / "sub" / "stolen.key").hardlink_to(secret)
    (data / "via-symlink").symlink_to("sub/stolen.key")

    manifest = store.put_version("p", "n", 1, data, created_at=CREATED_AT, root=work)

    assert [entry.path for entry in manifest.files] == ["own.txt"]
    assert manifest.skipped == (
        "sub/stolen.key: hard link to a file outside the working copy",
        "via-symlink: hard link to a file outside the working copy",
    )


def test_without_a_root_a_name_elsewhere_in_the_working_copy_counts_as_outside(
    tmp_path: Path,
) -> None:
    work, data = working_copy(tmp_path)
    (work / "code.py").write_bytes(b"print(1)\n")
    (data / "code.py").hardlink_to(work / "code.py")

    with_root, skipped_with_root, whole = collect_sources(data, work)
    alone, skipped_alone, _ = collect_sources(data)

    assert sorted(source.rel_path for source in with_root) == ["code.py", "own.txt"]
    assert skipped_with_root == ()
    assert whole is None, "a file with a second name cannot be moved into the store"
    assert [source.rel_path for source in alone] == ["own.txt"]
    assert skipped_alone == ("code.py: hard link to a file outside the data directory",)


def test_a_file_hard_linked_twice_inside_the_data_directory_is_stored_under_both_names(
    store: ObjectStore, tmp_path: Path
) -> None:
    work, data = working_copy(tmp_path)
    (data / "a").mkdir()
    (data / "a" / "first.bin").write_bytes(b"shared inode")
    (data / "second.bin").hardlink_to(data / "a" / "first.bin")

    for root in (work, None):
        version = 1 if root is not None else 2
        manifest = store.put_version("p", "n", version, data, created_at=CREATED_AT, root=root)
        assert [entry.path for entry in manifest.files] == ["a/first.bin", "own.txt", "second.bin"]
        assert manifest.skipped == ()
        assert manifest.files[0].digest == manifest.files[2].digest


def test_owned_files_are_linked_into_a_file_store_only_when_they_have_no_other_name(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    """Two names inside the data directory: both stored, each as a copy, so that an edit
    through one name later cannot change the stored version."""
    work, data = working_copy(tmp_path)
    shared = b"x" * (6 * MiB)  # above one chunk: the copy runs in the kernel
    (data / "first.bin").write_bytes(shared)
    (data / "second.bin").hardlink_to(data / "first.bin")

    manifest = file_store.put_version(
        "p", "n", 1, data, created_at=CREATED_AT, owned=True, root=work
    )

    def stored(rel_path: str) -> Path:
        return local_root(file_store) / file_key("p", "n", 1, rel_path)

    assert [entry.path for entry in manifest.files] == ["first.bin", "own.txt", "second.bin"]
    assert stored("own.txt").stat().st_ino == (data / "own.txt").stat().st_ino
    for name in ("first.bin", "second.bin"):
        assert stored(name).stat().st_ino != (data / name).stat().st_ino
    (data / "first.bin").write_bytes(b"edited")
    assert stored("second.bin").read_bytes() == shared
    assert file_store.verify(manifest, check_hashes=True) == []


def test_a_name_in_a_directory_the_walk_skips_still_counts_as_inside(tmp_path: Path) -> None:
    work, data = working_copy(tmp_path)
    odd = data / "odd-\udcff"  # not valid UTF-8: left out, but inside all the same
    odd.mkdir()
    (odd / "twin.bin").write_bytes(b"twin")
    (data / "twin.bin").hardlink_to(odd / "twin.bin")

    sources, skipped, whole = collect_sources(data, work)

    assert whole is None
    assert sorted(source.rel_path for source in sources) == ["own.txt", "twin.bin"]
    assert skipped == ("'odd-\\udcff': the name is not valid UTF-8",)
