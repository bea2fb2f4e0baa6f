"""A version checksummed with sha256 (every version written before amed wrote BLAKE3) and one
checksummed with BLAKE3 read alike through `amed.datasets`: listed with their algorithm,
read whole, and refused once their bytes are altered."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import fsspec
import pytest

import amed.datasets as ds
from amed.store.checksum import BLAKE3, SHA256, bytes_checksum
from amed.store.manifest import FileEntry, file_key, manifest_key
from amed.store.schemes import open_store
from tests.store.conftest import raw_put

CREATED = "2026-01-01T00:00:00.000Z"
FILES = {"labels.csv": b"label,value\none,1\n", "sub/blob.bin": os.urandom(3 * 1024 * 1024)}


def published(tmp_path: Path, algorithm: str) -> str:
    """A store whose current version of p/n is FILES, its manifest written with
    `algorithm` whatever new versions are written with."""
    url = (tmp_path / "objects").as_uri()
    store = open_store(url)
    src = tmp_path / "src"
    for path, data in FILES.items():
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        (src / path).write_bytes(data)
    written = store.put_version("p", "n", 1, src, created_at=CREATED)
    manifest = replace(
        written,
        files=tuple(
            FileEntry(e.path, e.size_bytes, bytes_checksum(FILES[e.path], algorithm), algorithm)
            for e in written.files
        ),
    )
    raw_put(store, manifest_key("p", "n", 1), manifest.to_json())
    store.publish(manifest)
    return url


@pytest.mark.parametrize("algorithm", [SHA256, BLAKE3])
def test_a_version_is_listed_and_read_with_the_algorithm_that_checksummed_it(
    tmp_path: Path, algorithm: str
) -> None:
    url = published(tmp_path, algorithm)
    listed = ds.files("n", project="p", store=url)
    assert [(f.path, f.size_bytes, f.algorithm, f.digest) for f in listed] == [
        (path, len(data), algorithm, bytes_checksum(data, algorithm))
        for path, data in sorted(FILES.items())
    ]
    if algorithm == SHA256:
        assert [f.sha256 for f in listed] == [f.digest for f in listed]
    else:
        with pytest.raises(AttributeError, match="checksummed with blake3, not sha256"):
            _ = listed[0].sha256
    for path, data in FILES.items():
        assert ds.read_bytes("n", path, project="p", store=url) == data
    info = fsspec.filesystem("ame", store=url, project="p").info("n/labels.csv")
    assert info[algorithm] == bytes_checksum(FILES["labels.csv"], algorithm)


@pytest.mark.parametrize("algorithm", [SHA256, BLAKE3])
def test_altered_bytes_are_refused_whichever_algorithm_checksummed_them(
    tmp_path: Path, algorithm: str
) -> None:
    url = published(tmp_path, algorithm)
    blob = FILES["sub/blob.bin"]
    altered = blob[:-1] + bytes([blob[-1] ^ 1])  # same size, one bit flipped at the end
    raw_put(open_store(url), file_key("p", "n", 1, "sub/blob.bin"), altered)
    with pytest.raises(ds.ChecksumMismatch, match=r"sub/blob\.bin"):
        ds.read_bytes("n", "sub/blob.bin", project="p", store=url)
    assert ds.read_bytes("n", "labels.csv", project="p", store=url) == FILES["labels.csv"]
