"""The data the producing tasks write: one big file, or many small ones, all distinct.

Every file (and every block of the big one) differs, so no tool can deduplicate its way to a
better figure; the bytes are random, so none can compress them either.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from bench.common import GIB, KIB, MIB

BLOCK_BYTES = 16 * MIB
SEED = 20261125


@dataclass(frozen=True)
class Shape:
    """`files` files of `file_bytes` each, under one directory."""

    label: str
    files: int
    file_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.files * self.file_bytes


ONE_GIB_FILE = Shape("one 1 GiB file", 1, GIB)
SMALL_FILES = Shape("2,000 files of 64 KiB", 2000, 64 * KIB)


def quick_shape(shape: Shape) -> Shape:
    """The same kind of data, small enough for `--quick`."""
    if shape.files == 1:
        return Shape("one 32 MiB file", 1, 32 * MIB)
    return Shape("100 files of 64 KiB", 100, shape.file_bytes)


def write_tree(dest: Path, shape: Shape) -> None:
    """Write `shape` under `dest` (created), files spread over sub-directories of 500."""
    rng = random.Random(SEED)
    pool = rng.randbytes(BLOCK_BYTES)
    dest.mkdir(parents=True, exist_ok=True)
    for index in range(shape.files):
        sub = dest / f"part{index // 500:03d}" if shape.files > 1 else dest
        sub.mkdir(exist_ok=True)
        _write_file(sub / f"f{index:06d}.bin", shape.file_bytes, index, pool)


def _write_file(path: Path, size_bytes: int, index: int, pool: bytes) -> None:
    with open(path, "wb") as handle:
        written = 0
        block = 0
        while written < size_bytes:
            length = min(BLOCK_BYTES, size_bytes - written)
            stamp = f"{index}:{block}:".encode()
            offset = (index * 7919 + block * 104729) % (BLOCK_BYTES - length + 1)
            handle.write(stamp + pool[offset + len(stamp) : offset + length])
            written += length
            block += 1
    os.utime(path)
