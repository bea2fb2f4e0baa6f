"""Checksums: each file's algorithm is recorded, and every reader verifies sha256 (every
manifest written before algorithms were recorded) and BLAKE3 alike."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from amed.store.checksum import BLAKE3, SHA256, bytes_checksum, file_checksum, new_hasher
from amed.store.manifest import FileEntry, Manifest
from amed.store.objects import ObjectStore
from amed.store.sources import ContentMismatch

CREATED_AT = "2026-11-25T10:00:00.000Z"
MiB = 1024 * 1024
# The published test vectors for empty input.
EMPTY = {
    SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    BLAKE3: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
}

# A manifest exactly as amed wrote it before checksums named their algorithm.
EARLIER_MANIFEST = b"""{
 "format": 1,
 "project": "p",
 "dataset": "n",
 "version": 1,
 "created_at": "2026-11-25T10:00:00.000Z",
 "size_bytes": 3,
 "files": [
  {
   "path": "a.txt",
   "size_bytes": 3,
   "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
  }
 ],
 "skipped": []
}
"""


@pytest.mark.parametrize("algorithm", [SHA256, BLAKE3])
def test_each_algorithm_gives_its_published_digest(algorithm: str, tmp_path: Path) -> None:
    assert bytes_checksum(b"", algorithm) == EMPTY[algorithm]
    (tmp_path / "empty").write_bytes(b"")
    fd = os.open(tmp_path / "empty", os.O_RDONLY)
    try:
        checksum = file_checksum(fd, threading.Event(), algorithm)
    finally:
        os.close(fd)
    assert (checksum.algorithm, checksum.digest, checksum.size_bytes) == (
        algorithm,
        EMPTY[algorithm],
        0,
    )


def test_a_file_read_in_blocks_hashes_as_its_bytes_do(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 17)  # blocks of 1 MiB and a tail
    (tmp_path / "f").write_bytes(data)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        for algorithm in (SHA256, BLAKE3):
            checksum = file_checksum(fd, None, algorithm)
            assert checksum.digest == bytes_checksum(data, algorithm)
            assert checksum.size_bytes == len(data)
    finally:
        os.close(fd)


def test_an_unknown_algorithm_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'md5' is not one of sha256, blake3"):
        new_hasher("md5")


def test_a_manifest_written_earlier_still_reads_as_sha256() -> None:
    manifest = Manifest.from_json(EARLIER_MANIFEST)
    (entry,) = manifest.files
    assert entry.algorithm == SHA256
    assert entry.digest == entry.sha256 == bytes_checksum(b"abc", SHA256)
    assert entry.problem(3, bytes_checksum(b"abc", SHA256)) is None
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert json.loads(manifest.to_json()) == json.loads(EARLIER_MANIFEST), "the same document"


def test_a_blake3_entry_is_recorded_under_its_algorithm_and_round_trips() -> None:
    entry = FileEntry("a.txt", 3, bytes_checksum(b"abc", BLAKE3), BLAKE3)
    manifest = Manifest("p", "n", 1, CREATED_AT, (entry,))
    document = json.loads(manifest.to_json())
    assert document["files"] == [{"path": "a.txt", "size_bytes": 3, "blake3": entry.digest}]
    assert Manifest.from_json(manifest.to_json()) == manifest
    with pytest.raises(ValueError, match="checksummed with blake3, not sha256"):
        _ = entry.sha256


def test_the_content_digest_of_sha256_entries_is_unchanged_and_blake3_differs() -> None:
    sha = FileEntry("a.txt", 3, bytes_checksum(b"abc", SHA256))
    blake = FileEntry("a.txt", 3, bytes_checksum(b"abc", BLAKE3), BLAKE3)
    earlier = Manifest.from_json(EARLIER_MANIFEST)
    assert Manifest("p", "n", 2, CREATED_AT, (sha,)).content_digest == earlier.content_digest
    assert Manifest("p", "n", 2, CREATED_AT, (blake,)).content_digest != earlier.content_digest


@pytest.mark.parametrize(
    "files",
    [
        [{"path": "a", "size_bytes": 1}],
        [{"path": "a", "size_bytes": 1, "sha256": EMPTY[SHA256], "blake3": EMPTY[BLAKE3]}],
        [{"path": "a", "size_bytes": 1, "blake3": "XYZ"}],
        [{"path": "a", "size_bytes": 1, "md5": "d41d8cd98f00b204e9800998ecf8427e"}],
    ],
    ids=["none", "two", "not-hex", "unknown"],
)
def test_a_file_needs_exactly_one_known_checksum(files: list[dict[str, object]]) -> None:
    document = json.loads(EARLIER_MANIFEST)
    document.update(files=files, size_bytes=1)
    with pytest.raises(ValueError):
        Manifest.from_json(json.dumps(document).encode())


def _as(manifest: Manifest, files: dict[str, bytes], algorithm: str) -> Manifest:
    """`manifest` as a writer using `algorithm` would have recorded `files`: whichever
    algorithm new versions are written with, both kinds of manifest are read."""
    entries = tuple(
        FileEntry(e.path, e.size_bytes, bytes_checksum(files[e.path], algorithm), algorithm)
        for e in manifest.files
    )
    return replace(manifest, files=entries)


def _stored(store: ObjectStore, tmp_path: Path) -> tuple[Manifest, dict[str, bytes]]:
    files = {"big.bin": os.urandom(9 * MiB), "small.txt": b"small\n", "empty": b""}
    src = tmp_path / "src"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    return store.put_version("p", "n", 1, src, created_at=CREATED_AT), files


def test_every_reader_verifies_blake3_and_sha256_alike(store: ObjectStore, tmp_path: Path) -> None:
    stored, files = _stored(store, tmp_path)
    for manifest in (_as(stored, files, SHA256), _as(stored, files, BLAKE3)):
        assert store.verify(manifest, check_hashes=True) == []
        algorithm = manifest.files[0].algorithm
        store.download_version(manifest, tmp_path / f"downloaded-{algorithm}")
        store.fetch_version(manifest, tmp_path / f"fetched-{algorithm}")
        for dest in (tmp_path / f"downloaded-{algorithm}", tmp_path / f"fetched-{algorithm}"):
            assert {name: (dest / name).read_bytes() for name in files} == files
        for entry in manifest.files:
            with store.open_file(manifest, entry) as raw:
                assert raw.readall() == files[entry.path]


def test_every_reader_refuses_bytes_that_differ_under_either_algorithm(
    store: ObjectStore, tmp_path: Path
) -> None:
    stored, files = _stored(store, tmp_path)
    other = {**files, "small.txt": b"SMALL\n"}  # same size, other bytes
    for manifest in (_as(stored, other, SHA256), _as(stored, other, BLAKE3)):
        algorithm = manifest.files[0].algorithm
        problems = store.verify(manifest, check_hashes=True)
        assert problems == [
            f"small.txt: content differs from the manifest ({algorithm} "
            f"{bytes_checksum(files['small.txt'], algorithm)}, the manifest says "
            f"{bytes_checksum(other['small.txt'], algorithm)})"
        ]
        with pytest.raises(ContentMismatch, match=r"small\.txt"):
            store.download_version(manifest, tmp_path / f"refused-{algorithm}")
        with pytest.raises(ContentMismatch, match=r"small\.txt"):
            store.fetch_version(manifest, tmp_path / f"refused-fetch-{algorithm}")
        small = next(e for e in manifest.files if e.path == "small.txt")
        with store.open_file(manifest, small) as raw, pytest.raises(ContentMismatch):
            raw.readall()
