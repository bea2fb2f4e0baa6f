"""Downloads keep a sparse file's holes: the same bytes, without writing the zeros."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from amed.store.checksum import bytes_checksum
from amed.store.datafiles import SPARSE_BLOCK_BYTES, SparseWriter
from amed.store.objects import ObjectStore

CREATED_AT = "2026-11-25T10:00:00Z"
MiB = 1024 * 1024
BLOCK_BYTES = 512  # the unit of st_blocks


def make_sparse(path: Path, size_bytes: int, data_at: dict[int, bytes]) -> bytes:
    """A file of `size_bytes` that is a hole except for `data_at`; returns its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.truncate(size_bytes)
        for offset, data in data_at.items():
            out.seek(offset)
            out.write(data)
    return path.read_bytes()


def allocated_bytes(path: Path) -> int:
    return path.stat().st_blocks * BLOCK_BYTES


def test_a_sparse_file_downloads_with_the_same_bytes_and_its_holes_kept(
    store: ObjectStore, tmp_path: Path
) -> None:
    size_bytes = 16 * MiB + 777  # not a whole number of blocks
    data_at = {
        0: b"head",
        5 * MiB - 3: os.urandom(10),  # across a block boundary
        9 * MiB + 4321: os.urandom(3 * SPARSE_BLOCK_BYTES),
        size_bytes - 5: b"tail!",
    }
    src = tmp_path / "src"
    expected = make_sparse(src / "disk.img", size_bytes, data_at)
    make_sparse(src / "trailing-hole.img", 4 * MiB, {0: b"only at the start"})
    manifest = store.put_version("p", "n", 1, src, created_at=CREATED_AT)

    dest = tmp_path / "dest"
    store.download_version(manifest, dest)

    image = dest / "disk.img"
    assert image.read_bytes() == expected
    entry = manifest.files[0]
    assert bytes_checksum(expected, entry.algorithm) == entry.digest
    assert allocated_bytes(image) <= 8 * SPARSE_BLOCK_BYTES < size_bytes // 32
    trailing = dest / "trailing-hole.img"
    assert trailing.stat().st_size == 4 * MiB
    assert trailing.read_bytes() == (src / "trailing-hole.img").read_bytes()
    assert allocated_bytes(trailing) <= SPARSE_BLOCK_BYTES
    assert store.verify(manifest, check_hashes=True) == []


def test_a_file_of_data_downloads_whole(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(3 * MiB + 5)
    (src / "data.bin").write_bytes(data)
    (src / "zeros.bin").write_bytes(bytes(2 * MiB))
    manifest = store.put_version("p", "n", 1, src, created_at=CREATED_AT)
    dest = tmp_path / "dest"
    store.download_version(manifest, dest)
    assert (dest / "data.bin").read_bytes() == data
    assert allocated_bytes(dest / "data.bin") >= len(data)
    assert (dest / "zeros.bin").read_bytes() == bytes(2 * MiB)
    assert allocated_bytes(dest / "zeros.bin") == 0


# A stream made of runs of zeros and of data, of any length around the block size, as
# delivered in chunks of any size (a store picks its own).
_runs = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=1, max_value=3 * SPARSE_BLOCK_BYTES)),
    max_size=8,
)
_chunk_sizes = st.lists(
    st.integers(min_value=1, max_value=2 * SPARSE_BLOCK_BYTES), min_size=1, max_size=6
)


@settings(max_examples=80, deadline=None)
@given(runs=_runs, chunk_sizes=_chunk_sizes | st.just([SPARSE_BLOCK_BYTES]))
def test_sparse_writer_gives_back_every_byte_and_writes_no_block_of_zeros(
    runs: list[tuple[bool, int]], chunk_sizes: list[int]
) -> None:
    data = b"".join(bytes(n) if zeros else os.urandom(n) for zeros, n in runs)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "out"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            writer = SparseWriter(fd, str(path))
            offset = turn = 0
            while offset < len(data):
                step = chunk_sizes[turn % len(chunk_sizes)]
                writer.write(data[offset : offset + step])
                offset, turn = offset + step, turn + 1
            writer.finish()
        finally:
            os.close(fd)
        assert path.read_bytes() == data
        blocks = [
            data[start : start + SPARSE_BLOCK_BYTES]
            for start in range(0, len(data), SPARSE_BLOCK_BYTES)
        ]
        data_blocks = sum(1 for block in blocks if block.count(0) != len(block))
        assert allocated_bytes(path) <= data_blocks * SPARSE_BLOCK_BYTES
