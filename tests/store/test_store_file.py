"""What only a file:// store has: a real disk, obstore's hidden temp files, directories."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from amed.errors import OutOfSpace
from amed.store.checksum import bytes_checksum, new_hasher
from amed.store.datafiles import sync_filesystem
from amed.store.manifest import file_key, version_prefix
from amed.store.objects import ObjectStore
from amed.store.schemes import open_store
from tests.store.conftest import local_root, raw_keys, raw_put, tmpfs_at

CREATED_AT = "2026-11-25T10:00:00Z"
MiB = 1024 * 1024
STREAMED_FILE_BYTES = 200 * MiB
STREAMING_RSS_GROWTH_LIMIT_BYTES = 100 * MiB


def test_sweep_removes_hidden_temp_files_and_empty_directories(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"a")
    owned = file_store.put_version("p", "n", 1, src, created_at=CREATED_AT)
    root = local_root(file_store)
    unowned_temp = root / version_prefix("p", "n", 7) / "files" / "x#3"
    owned_temp = root / (file_key("p", "n", 1, "a.txt") + "#12")
    in_flight_temp = root / (file_key("p", "n", 5, "big.bin") + "#4")
    empty_dir = root / version_prefix("p", "old", 9) / "files" / "deep"
    for path in (unowned_temp, owned_temp, in_flight_temp):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half written")
    empty_dir.mkdir(parents=True)
    assert raw_keys(file_store) == raw_keys(file_store, version_prefix("p", "n", 1))

    removed = file_store.sweep_debris({("p", "n", 1), ("p", "n", 5)})

    assert not unowned_temp.exists()
    assert not owned_temp.exists()
    assert in_flight_temp.exists()
    assert not (root / "datasets/p/old").exists()
    assert not (root / version_prefix("p", "n", 7)).exists()
    assert "datasets/p/n/7/files/x#3" in removed
    assert "datasets/p/old/9/files/deep/" in removed
    assert file_store.verify(owned, check_hashes=True) == []


def test_delete_version_leaves_no_directory_behind(file_store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f.txt").write_bytes(b"f")
    file_store.put_version("p", "n", 1, src, created_at=CREATED_AT)
    temp = local_root(file_store) / (file_key("p", "n", 1, "d/e/f.txt") + "#2")
    temp.write_bytes(b"left by a killed put")

    assert file_store.delete_version("p", "n", 1) == 2

    assert not (local_root(file_store) / version_prefix("p", "n", 1)).exists()


def test_relative_file_url_is_resolved_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file://state/objects")
    assert (tmp_path / "state" / "objects").is_dir()
    assert store.url == "file://state/objects"
    raw_put(store, "datasets/p/n/1/files/x", b"x")
    assert (tmp_path / "state/objects/datasets/p/n/1/files/x").read_bytes() == b"x"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a real disk that fills up."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    with tmpfs_at(mount_point, "1m"):
        yield mount_point


def test_full_disk_raises_out_of_space_and_leaves_nothing(small_disk: Path, tmp_path: Path) -> None:
    store = open_store(f"file://{small_disk / 'objects'}")
    src = tmp_path / "src"
    src.mkdir()
    # 400 one-byte files fit the byte count but not the disk: each takes a 4 KiB block.
    for i in range(400):
        (src / f"{i:03d}").write_bytes(b"x")

    with pytest.raises(OutOfSpace):
        store.put_version("p", "n", 1, src, created_at=CREATED_AT)

    assert raw_keys(store) == {}
    assert not (small_disk / "objects" / "datasets" / "p" / "n" / "1").exists()


def test_data_larger_than_the_free_disk_is_refused_before_upload(
    small_disk: Path, tmp_path: Path
) -> None:
    store = open_store(f"file://{small_disk / 'objects'}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(b"x" * (2 * MiB))

    with pytest.raises(OutOfSpace, match="free"):
        store.put_version("p", "n", 1, src, created_at=CREATED_AT)

    assert not (small_disk / "objects" / "datasets").exists()


def test_put_version_streams_a_big_file_instead_of_loading_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from amed.store.schemes import open_store

        root = Path(sys.argv[1])
        src = root / "src"
        src.mkdir()
        with open(src / "big.bin", "wb") as f:
            f.truncate({STREAMED_FILE_BYTES})
        store = open_store(f"file://{{root / 'objects'}}")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        manifest = store.put_version("p", "n", 1, src, created_at="{CREATED_AT}")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        entry = manifest.files[0]
        print((after - before) * 1024, entry.algorithm, entry.digest, manifest.size_bytes)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    growth_bytes, algorithm, digest, size_bytes = result.stdout.split()

    zeros = new_hasher(algorithm)
    for _ in range(STREAMED_FILE_BYTES // MiB):
        zeros.update(bytes(MiB))
    assert int(size_bytes) == STREAMED_FILE_BYTES
    assert digest == zeros.hexdigest()
    assert int(growth_bytes) < STREAMING_RSS_GROWTH_LIMIT_BYTES
    stored = tmp_path / "objects" / file_key("p", "n", 1, "big.bin")
    assert stored.stat().st_size == STREAMED_FILE_BYTES


def _stored_path(store: ObjectStore, version: int, rel_path: str) -> Path:
    return local_root(store) / file_key("p", "n", version, rel_path)


@pytest.mark.parametrize("size_bytes", [3, 20 * MiB], ids=["small", "big"])
def test_owned_files_are_linked_into_place_not_copied(
    file_store: ObjectStore, tmp_path: Path, size_bytes: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = (b"0123456789abcdef" * (size_bytes // 16 + 1))[:size_bytes]
    (src / "data.bin").write_bytes(data)
    manifest = file_store.put_version("p", "n", 1, src, created_at=CREATED_AT, owned=True)
    stored = _stored_path(file_store, 1, "data.bin")
    assert stored.stat().st_ino == (src / "data.bin").stat().st_ino
    assert stored.stat().st_mode & 0o222 == 0, "a stored file is never written again"
    entry = manifest.files[0]
    assert entry.digest == bytes_checksum(data, entry.algorithm)
    (src / "data.bin").unlink()  # the run's working copy goes; the stored version stays
    assert stored.read_bytes() == data
    assert file_store.verify(manifest, check_hashes=True) == []


def test_a_file_with_another_name_is_copied_even_when_owned(
    file_store: ObjectStore, tmp_path: Path
) -> None:
    """A task may link a file from elsewhere in its working copy into its output; sharing
    that inode would let an edit there change the stored version."""
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"original")
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").hardlink_to(outside)
    manifest = file_store.put_version(
        "p", "n", 1, src, created_at=CREATED_AT, owned=True, root=tmp_path
    )
    outside.write_bytes(b"edited!!")
    assert _stored_path(file_store, 1, "data.bin").read_bytes() == b"original"
    assert file_store.verify(manifest, check_hashes=True) == []


def test_files_not_owned_are_copied(file_store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(b"mine")
    file_store.put_version("p", "n", 1, src, created_at=CREATED_AT)
    stored = _stored_path(file_store, 1, "data.bin")
    assert stored.stat().st_ino != (src / "data.bin").stat().st_ino
    (src / "data.bin").write_bytes(b"edit")
    assert stored.read_bytes() == b"mine"


def test_a_failure_of_the_sync_begun_beside_the_upload_is_kept_for_the_sync_after_it() -> None:
    """syncfs reports a write-back error once per descriptor: the first call, made while the
    files are linked and hashed, may be the one that sees it, and the version must then
    not be made durable as if nothing had happened. The first call runs as the store runs
    it, on a pool's thread; a descriptor syncfs refuses makes it fail for real."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(sync_filesystem, -1)
        with pytest.raises(OSError) as raised:
            first.result()
    assert raised.value.errno == errno.EBADF
