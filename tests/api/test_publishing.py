"""The store's side of reading without the daemon, on file://, memory:// and S3: the pointer
that names committed versions, kept and mended by the sweep, and verified reads."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from amed.datasets.cache import trim
from amed.errors import StoreError
from amed.store.manifest import Manifest
from amed.store.objects import ObjectStore
from amed.store.pointer import Pointer, pointer_key
from amed.store.published import WHOLE_GET_FETCH_BYTES, NotPublished, file_entry
from amed.store.sources import ContentMismatch, ObjectGone
from tests.store.conftest import raw_keys, raw_put

CREATED = "2026-01-01T00:00:00.000Z"


def put(store: ObjectStore, tmp_path: Path, version: int, files: dict[str, bytes]) -> Manifest:
    src = tmp_path / f"src{version}"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return store.put_version("p", "n", version, src, created_at=CREATED)


def test_publish_names_the_current_version_and_keeps_older_ones_until_deleted(
    store: ObjectStore, tmp_path: Path
) -> None:
    one = put(store, tmp_path, 1, {"a.txt": b"one"})
    with pytest.raises(NotPublished) as nothing:
        store.published("p", "n")
    assert nothing.value.pointer is None
    store.publish(one)
    two = put(store, tmp_path, 2, {"a.txt": b"two"})
    assert store.published("p", "n").version == 1, "stored is not published"
    store.publish(two)
    assert store.published("p", "n").version == 2
    assert store.published("p", "n", 1).manifest == one
    store.delete_version("p", "n", 1)
    with pytest.raises(NotPublished) as gone:
        store.published("p", "n", 1)
    assert gone.value.pointer is not None and gone.value.pointer.current == 2
    store.delete_version("p", "n", 2)
    assert store.read_pointer("p", "n") is None
    assert raw_keys(store) == {}


def test_a_manifest_that_is_not_the_one_published_is_never_used(
    store: ObjectStore, tmp_path: Path
) -> None:
    one = put(store, tmp_path, 1, {"a.txt": b"one"})
    store.publish(one)
    other = json.loads(one.to_json())
    other["files"][0][one.files[0].algorithm] = "0" * 64
    raw_put(store, "datasets/p/n/1/manifest.json", json.dumps(other).encode())
    with pytest.raises(StoreError, match="not the manifest that was published"):
        store.published("p", "n")


def test_the_sweep_keeps_pointers_drops_what_is_not_committed_and_names_the_current(
    store: ObjectStore, tmp_path: Path
) -> None:
    one = put(store, tmp_path, 1, {"a.txt": b"one"})
    store.publish(one)
    put(store, tmp_path, 2, {"a.txt": b"two"})  # committed, but its pointer write was lost
    put(store, tmp_path, 3, {"a.txt": b"three"})  # a run's upload, not committed yet
    owned = {("p", "n", 1), ("p", "n", 2), ("p", "n", 3)}
    assert store.sweep_debris(owned, project="p", current={("p", "n", 2)}) == []
    pointer = store.read_pointer("p", "n")
    assert pointer is not None
    assert pointer.current == 2
    assert [e.version for e in pointer.versions] == [1, 2], "3 is not named before its event"
    # Version 1 deleted behind the pointer's back (a crash after the pointer was
    # rewritten is the only way): the sweep drops it from the pointer.
    store.sweep_debris({("p", "n", 2)}, project="p", current={("p", "n", 2)})
    pointer = store.read_pointer("p", "n")
    assert pointer is not None and [e.version for e in pointer.versions] == [2]
    assert pointer_key("p", "n") in raw_keys(store)


def test_a_pointer_naming_versions_nobody_owns_goes_with_them(
    store: ObjectStore, tmp_path: Path
) -> None:
    store.publish(put(store, tmp_path, 1, {"a.txt": b"one"}))
    removed = store.sweep_debris(set(), project="p", current=set())
    assert pointer_key("p", "n") in removed
    assert raw_keys(store) == {}


def test_verified_reads_seek_and_stop_at_a_mismatching_end(
    store: ObjectStore, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    one = put(store, tmp_path, 1, {"d/big.bin": data, "empty": b""})
    entry = file_entry(one, "d/big.bin")
    assert entry is not None and file_entry(one, "nope") is None
    with io.BufferedReader(store.open_file(one, entry)) as handle:
        handle.seek(2_000_000)
        assert handle.read(100) == data[2_000_000:2_000_100]
        handle.seek(10)
        assert handle.read(5) == data[10:15]
        assert handle.read() == data[15:]
    empty = file_entry(one, "empty")
    assert empty is not None
    assert store.open_file(one, empty).readall() == b""
    raw_put(store, "datasets/p/n/1/files/d/big.bin", data[:-1] + b"!")
    with io.BufferedReader(store.open_file(one, entry)) as handle:
        assert handle.read(1000) == data[:1000]
        with pytest.raises(ContentMismatch, match=r"d/big\.bin"):
            handle.read()
        with pytest.raises(ContentMismatch):
            handle.read(1)
    with pytest.raises(ContentMismatch):
        store.open_file(one, entry).readall()


def test_a_file_deleted_before_it_is_opened_is_gone(store: ObjectStore, tmp_path: Path) -> None:
    one = put(store, tmp_path, 1, {"a.txt": b"one"})
    entry = file_entry(one, "a.txt")
    assert entry is not None
    store.delete_version("p", "n", 1)
    with pytest.raises(ObjectGone):
        store.open_file(one, entry).readall()


def test_a_fetched_version_is_whole_and_read_only_and_an_object_that_differs_is_refused(
    store: ObjectStore, tmp_path: Path
) -> None:
    small, big = os.urandom(64 * 1024), os.urandom(WHOLE_GET_FETCH_BYTES + 17)
    files = {"d/small.bin": small, "d/e/big.bin": big, "empty": b""}
    one = put(store, tmp_path, 1, files)
    store.fetch_version(one, tmp_path / "whole")
    for rel, data in files.items():
        assert (tmp_path / "whole" / rel).read_bytes() == data
        assert (tmp_path / "whole" / rel).stat().st_mode & 0o222 == 0, "read-only"
    key = "datasets/p/n/1/files/d/small.bin"
    for bad in (small + b"!", small[:-1] + bytes([small[-1] ^ 1]), small[:-1]):
        raw_put(store, key, bad)
        with pytest.raises(ContentMismatch, match=r"d/small\.bin"):
            store.fetch_version(one, tmp_path / f"bad-{len(bad)}-{bad[-1]}")
    raw_put(store, key, small)
    store.delete_version("p", "n", 1)
    with pytest.raises(ObjectGone):
        store.fetch_version(one, tmp_path / "gone")


def test_a_pointer_round_trips_and_refuses_what_is_malformed() -> None:
    from amed.store.pointer import PointedVersion

    entry = PointedVersion(1, "a" * 64, 10, 2, CREATED)
    pointer = Pointer("p", "n", 1, (entry,), "state-0001", CREATED)
    assert Pointer.from_json(pointer.to_json()) == pointer
    for bad in ({"versions": []}, {"current": 2}, {"format": 9}, {"versions": [{"version": 0}]}):
        document = json.loads(pointer.to_json())
        document.update(bad)
        with pytest.raises(ValueError):
            Pointer.from_json(json.dumps(document).encode())


def test_the_cache_trims_least_recently_used_entries_first(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    entries = []
    for n in range(4):
        entry = root / "store" / "p" / "n" / f"v{n}-x"
        (entry / "data").mkdir(parents=True)
        (entry / "entry.json").write_text(json.dumps({"size_bytes": 100}))
        os.utime(entry / "entry.json", (time.time() - 100 + n, time.time() - 100 + n))
        entries.append(entry)
    os.utime(entries[0] / "entry.json")  # used just now
    removed = trim(root, 250, keep=entries[3])
    assert removed == [entries[1], entries[2]]
    assert entries[0].exists() and entries[3].exists()
