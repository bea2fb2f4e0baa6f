"""The fast paths of storing into file://: BLAKE3 on several threads gives the digest one
thread gives, the worker pool keeps order and stops at the first failure, and a manifest
written line by line is the JSON it always was."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from amed.store.checksum import (
    BLAKE3,
    PARALLEL_BLOCK_BYTES,
    PARALLEL_MIN_BYTES,
    bytes_checksum,
    file_checksum,
)
from amed.store.datafiles import run_all
from amed.store.manifest import FileEntry, Manifest

CREATED_AT = "2026-12-06T10:00:00.000Z"


@pytest.mark.parametrize(
    "size_bytes",
    [PARALLEL_MIN_BYTES, 2 * PARALLEL_BLOCK_BYTES + PARALLEL_MIN_BYTES + 1023],
)
def test_blake3_on_several_threads_gives_the_one_thread_digest(
    tmp_path: Path, size_bytes: int
) -> None:
    # Distinct 1 KiB chunks, so a block hashed twice, skipped or out of place changes the
    # digest; the second size ends inside a chunk and inside a block.
    data = b"".join(i.to_bytes(8, "little") * 128 for i in range(size_bytes // 1024 + 1))
    data = data[:size_bytes]
    path = tmp_path / "big"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        threaded = file_checksum(fd, None, BLAKE3)
        single = file_checksum(fd, None, BLAKE3, threads=1)
        two = file_checksum(fd, None, BLAKE3, threads=2)
    finally:
        os.close(fd)
    expected = bytes_checksum(data, BLAKE3)  # one update of the whole, one thread
    assert threaded.digest == single.digest == two.digest == expected
    assert threaded.size_bytes == single.size_bytes == size_bytes


def test_a_hash_on_several_threads_stops_when_aborted(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(bytes(PARALLEL_MIN_BYTES))
    abort = threading.Event()
    abort.set()
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="cancelled"):
            file_checksum(fd, abort, BLAKE3)
    finally:
        os.close(fd)


def test_the_pool_returns_results_in_the_order_of_the_items() -> None:
    items = list(range(500))
    assert run_all(lambda n: n * n, items, None, 3) == [n * n for n in items]
    assert run_all(lambda n: n, [7], None, 3) == [7]
    assert run_all(lambda n: n, [], None, 3) == []


def test_the_pool_raises_the_first_failure_and_stops_taking_items() -> None:
    abort = threading.Event()
    taken: list[int] = []
    items = list(range(1000))

    def work(n: int) -> int:
        taken.append(n)
        if n == 10:
            raise ValueError("item 10 failed")
        if abort.is_set():
            raise OSError("cancelled")  # what a file being stored raises once aborted
        return n

    with pytest.raises(ValueError, match="item 10 failed"):
        run_all(work, items, abort, 2)
    assert abort.is_set()
    assert len(taken) < len(items)  # the rest were never started


def test_a_manifest_written_line_by_line_is_the_json_of_its_entries() -> None:
    paths = sorted(['a "quoted"\\name', "tab\there", "é/ü/\u2028", "emoji/\U0001f600", "z"])
    entries = tuple(
        FileEntry(path, index * 1000, f"{index:064x}", BLAKE3 if index % 2 else "sha256")
        for index, path in enumerate(paths)
    )
    manifest = Manifest("p", "n", 1, CREATED_AT, entries, ("x: a fifo",), "state-0001")
    text = manifest.to_json().decode("utf-8")
    lines = text.splitlines()
    file_lines = [line.rstrip(",") for line in lines if line.startswith(' {"path"')]
    assert file_lines == [
        " " + json.dumps({"path": e.path, "size_bytes": e.size_bytes, e.algorithm: e.digest})
        for e in entries
    ]
    assert text.isascii()
    assert Manifest.from_json(manifest.to_json()) == manifest
