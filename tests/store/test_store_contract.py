"""The object-store contract, run against file://, memory:// and S3 on loopback."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from amed.errors import OutOfSpace, StoreError
from amed.store.checksum import WRITE_ALGORITHM, bytes_checksum
from amed.store.manifest import file_key, manifest_key, version_prefix
from amed.store.objects import ObjectStore
from tests.store.conftest import raw_delete, raw_keys, raw_put

CREATED_AT = "2026-11-25T10:00:00.000Z"
BIG_FILE_BYTES = 20 * 1024 * 1024
SMALL_FILES = 300


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel_path, data in files.items():
        path = root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def sample_files() -> dict[str, bytes]:
    files = {
        "a/b/c/deep.txt": b"deep\n",
        "empty.txt": b"",
        "big.bin": os.urandom(BIG_FILE_BYTES),
        "names/a b.txt": b"space",
        "names/\u00fc.txt": b"umlaut",
        "names/x#3": b"looks like a local temp file",
        "names/pct%41": b"percent",
        "names/line\nbreak": b"control character",
    }
    for i in range(SMALL_FILES):
        files[f"many/{i:03d}.txt"] = f"{i}\n".encode() * (i % 7)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def test_round_trip_gives_back_identical_bytes_and_correct_hashes(
    store: ObjectStore, tmp_path: Path
) -> None:
    files = sample_files()
    src = tmp_path / "src"
    write_tree(src, files)
    (src / "an-empty-dir").mkdir()

    manifest = store.put_version("proj", "mnist", 3, src, created_at=CREATED_AT)

    assert {e.path: (e.size_bytes, e.algorithm, e.digest) for e in manifest.files} == {
        path: (len(data), WRITE_ALGORITHM, bytes_checksum(data, WRITE_ALGORITHM))
        for path, data in files.items()
    }
    assert manifest.size_bytes == sum(len(data) for data in files.values())
    assert (manifest.project, manifest.dataset, manifest.version) == ("proj", "mnist", 3)
    assert manifest.created_at == CREATED_AT
    assert manifest.skipped == ()
    assert store.read_manifest("proj", "mnist", 3) == manifest

    dest = tmp_path / "dest"
    store.download_version(manifest, dest)
    assert read_tree(dest) == files
    assert store.verify(manifest, check_hashes=True) == []


def test_empty_directory_is_a_valid_empty_version(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    assert manifest.files == ()
    assert manifest.size_bytes == 0
    assert store.read_manifest("p", "n", 1) == manifest
    assert raw_keys(store) == {manifest_key("p", "n", 1): len(manifest.to_json())}


def test_manifest_is_written_after_every_file(store: ObjectStore, tmp_path: Path) -> None:
    files = {f"part-{i:03d}": os.urandom(1024) for i in range(SMALL_FILES)}
    files["big.bin"] = os.urandom(BIG_FILE_BYTES)
    write_tree(tmp_path / "src", files)
    mkey = manifest_key("p", "n", 1)
    violations: list[str] = []
    done = threading.Event()

    def watch() -> None:
        # Whenever the manifest is visible, every file it will list must be there too.
        while not done.is_set():
            keys = raw_keys(store)
            if mkey in keys:
                missing = [p for p in files if file_key("p", "n", 1, p) not in keys]
                if missing:
                    violations.append(f"manifest visible before {missing[:3]}")
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    finally:
        done.set()
        watcher.join()
    assert violations == []
    listed = raw_keys(store)
    assert set(listed) == {mkey} | {file_key("p", "n", 1, e.path) for e in manifest.files}
    assert listed[mkey] == len(manifest.to_json())


def test_delete_version_removes_every_object_and_is_idempotent(
    store: ObjectStore, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"a", "d/b.txt": b"b", "d/e/c.txt": b"c"})
    store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    kept = store.put_version("p", "n", 2, tmp_path / "src", created_at=CREATED_AT)

    assert store.delete_version("p", "n", 1) == 4
    assert store.read_manifest("p", "n", 1) is None
    assert not any(key.startswith(version_prefix("p", "n", 1)) for key in raw_keys(store))
    assert store.delete_version("p", "n", 1) == 0
    assert store.verify(kept) == []


def test_sweep_removes_unowned_versions_and_orphans_and_keeps_owned_ones(
    store: ObjectStore, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"a", "d/b.txt": b"bb"})
    owned_v1 = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    store.put_version("p", "n", 2, tmp_path / "src", created_at=CREATED_AT)
    other_project = store.put_version("q", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    orphan = file_key("p", "n", 3, "half-uploaded.bin")
    stray_in_owned = file_key("p", "n", 1, "not-in-manifest.bin")
    in_flight = file_key("p", "n", 4, "uploading.bin")
    junk = "datasets/p/n/not-a-version/x"
    outside = "elsewhere/keep.txt"
    for key in (orphan, stray_in_owned, in_flight, junk, outside):
        raw_put(store, key, b"debris")

    removed = store.sweep_debris({("p", "n", 1), ("p", "n", 4)}, project="p")

    v2_keys = {manifest_key("p", "n", 2)} | {
        file_key("p", "n", 2, path) for path in ("a.txt", "d/b.txt")
    }
    assert v2_keys | {orphan, stray_in_owned, junk} <= set(removed)
    keys = raw_keys(store, "")
    assert not (v2_keys | {orphan, stray_in_owned, junk}) & set(keys)
    assert in_flight in keys
    assert outside in keys
    assert store.verify(owned_v1) == []
    assert store.read_manifest("p", "n", 2) is None
    # Another project is out of the sweep's scope...
    assert store.verify(other_project) == []
    # ...until the whole store is swept.
    store.sweep_debris({("p", "n", 1), ("p", "n", 4)})
    assert store.read_manifest("q", "n", 1) is None
    assert store.verify(owned_v1) == []


def test_symlink_inside_is_stored_as_content_and_symlink_outside_is_skipped(
    store: ObjectStore, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"real/data.txt": b"inside", "top.txt": b"top"})
    outside = tmp_path / "outside"
    write_tree(outside, {"secret.txt": b"must not be stored"})
    (src / "link-to-file").symlink_to(src / "top.txt")
    (src / "link-to-dir").symlink_to("real")
    (src / "link-out-file").symlink_to(outside / "secret.txt")
    (src / "real" / "link-out-dir").symlink_to(outside)
    (src / "dangling").symlink_to(src / "nowhere")
    (src / "real" / "loop").symlink_to("..")
    os.mkfifo(src / "fifo")

    manifest = store.put_version("p", "n", 1, src, created_at=CREATED_AT)

    assert [e.path for e in manifest.files] == [
        "link-to-dir/data.txt",
        "link-to-file",
        "real/data.txt",
        "top.txt",
    ]
    assert [line.split(":")[0] for line in manifest.skipped] == [
        "dangling",
        "fifo",
        "link-out-file",
        "link-to-dir/link-out-dir",
        "link-to-dir/loop",
        "real/link-out-dir",
        "real/loop",
    ]
    assert "leaves the data directory" in manifest.skipped[2]
    dest = tmp_path / "dest"
    store.download_version(manifest, dest)
    assert read_tree(dest) == {
        "link-to-dir/data.txt": b"inside",
        "link-to-file": b"top",
        "real/data.txt": b"inside",
        "top.txt": b"top",
    }
    assert all(b"must not be stored" not in data for data in read_tree(dest).values())
    assert store.read_manifest("p", "n", 1) == manifest


def test_budget_exceeded_raises_out_of_space_and_leaves_nothing(
    store: ObjectStore, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"a.bin": b"x" * 600, "b.bin": b"y" * 400})

    with pytest.raises(OutOfSpace, match="1000 bytes"):
        store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT, budget_bytes=999)

    assert raw_keys(store) == {}
    manifest = store.put_version(
        "p", "n", 1, tmp_path / "src", created_at=CREATED_AT, budget_bytes=1000
    )
    assert manifest.size_bytes == 1000


def test_missing_source_directory_is_a_store_error(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"the task did not create .*never-made"):
        store.put_version("p", "n", 1, tmp_path / "never-made", created_at=CREATED_AT)
    assert raw_keys(store) == {}


def test_storing_over_a_committed_version_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"first"})
    first = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    write_tree(tmp_path / "src", {"a.txt": b"second"})

    with pytest.raises(StoreError, match="immutable"):
        store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)

    assert store.read_manifest("p", "n", 1) == first
    assert store.verify(first, check_hashes=True) == []


def test_leftovers_of_an_unfinished_attempt_are_cleared_before_upload(
    store: ObjectStore, tmp_path: Path
) -> None:
    stale = file_key("p", "n", 1, "from-a-crashed-run.bin")
    raw_put(store, stale, b"stale")
    write_tree(tmp_path / "src", {"a.txt": b"a"})

    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)

    assert set(raw_keys(store)) == {manifest_key("p", "n", 1), file_key("p", "n", 1, "a.txt")}
    assert [e.path for e in manifest.files] == ["a.txt"]


def test_verify_reports_a_missing_file_and_a_changed_file(
    store: ObjectStore, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"gone.txt": b"gone", "same-size.txt": b"abcd", "ok.txt": b"k"})
    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    assert store.verify(manifest, check_hashes=True) == []

    raw_delete(store, file_key("p", "n", 1, "gone.txt"))
    raw_put(store, file_key("p", "n", 1, "same-size.txt"), b"ABCD")

    assert store.verify(manifest) == ["gone.txt: missing from the store"]
    problems = store.verify(manifest, check_hashes=True)
    assert len(problems) == 2
    assert problems[0] == "gone.txt: missing from the store"
    assert problems[1].startswith("same-size.txt: content differs")

    raw_put(store, file_key("p", "n", 1, "ok.txt"), b"longer")
    assert "ok.txt: 6 bytes stored, the manifest says 1" in store.verify(manifest)
    raw_delete(store, manifest_key("p", "n", 1))
    assert any("manifest is missing" in p for p in store.verify(manifest))


def test_download_refuses_changed_content_and_leaves_no_partial_file(
    store: ObjectStore, tmp_path: Path
) -> None:
    write_tree(tmp_path / "src", {"a.txt": b"original"})
    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    raw_put(store, file_key("p", "n", 1, "a.txt"), b"tampered")

    with pytest.raises(StoreError, match=WRITE_ALGORITHM):
        store.download_version(manifest, tmp_path / "dest")

    assert list((tmp_path / "dest").iterdir()) == []


def test_read_manifest_is_none_when_absent_and_an_error_when_unreadable(
    store: ObjectStore,
) -> None:
    assert store.read_manifest("p", "n", 1) is None
    raw_put(store, manifest_key("p", "n", 1), b"{not json")
    with pytest.raises(StoreError, match="not a valid manifest"):
        store.read_manifest("p", "n", 1)


def test_used_bytes_counts_what_is_stored(store: ObjectStore, tmp_path: Path) -> None:
    assert store.used_bytes() == 0
    write_tree(tmp_path / "src", {"a.bin": b"x" * 1000, "b/c.bin": b"y" * 24})
    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    assert store.used_bytes() == 1024 + len(manifest.to_json())
    store.delete_version("p", "n", 1)
    assert store.used_bytes() == 0


def test_free_bytes_is_the_disk_for_file_stores_and_unknown_otherwise(
    store: ObjectStore,
) -> None:
    free = store.free_bytes()
    if store.url.startswith("file://"):
        assert free is not None
        assert free > 0
    else:
        assert free is None
