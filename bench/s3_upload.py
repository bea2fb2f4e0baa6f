"""11. Storing one big file into S3, against boto3's own upload of the same file.

amed: `put_version` of a directory holding one file of 64 MiB (16 MiB under `--quick`)
into S3, as the daemon stores a data set: the file is hashed as it is read and uploaded in
parts, then the manifest is written. 64 MiB is still a multipart upload on both sides (8
parts of 8 MiB); above that, moto's own speed (it keeps every part in Python memory) sets
the time, not either client's, and the part took minutes.
Baseline: boto3's `upload_file` of the same file with its default transfer settings (8 MiB
parts, 10 at a time), which computes no sha256 at all; a second figure adds the sha256 a
careful boto3 user would compute for a manifest (read once more, after the upload); a third
is obstore's own put of the file in amed's parts, without a checksum (what amed's client
costs, apart from the hash and the commit).
Store: moto on 127.0.0.1, in its own process, so no side shares a GIL with the server.

Fair because: the same file and the same server for both; samples interleaved, the order
swapped every other round, `sync` before each timed step, every object deleted between
samples (untimed) so the server holds the same data before each; one untimed round first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import MIB, Result, drop_dirty_pages, in_turn, runs_for, scratch, timed
from bench.s3server import moto_server, s3_client

QUESTION = "11 storing to S3"
BUCKET = "bench-upload"
BIG_FILE_BYTES = 64 * MIB
QUICK_FILE_BYTES = 16 * MIB
HASH_BLOCK_BYTES = MIB


def run(quick: bool) -> list[Result]:
    size = QUICK_FILE_BYTES if quick else BIG_FILE_BYTES
    with scratch("upload") as root, moto_server() as env, _environment(env):
        source = root / "source"
        source.mkdir()
        path = source / "big.bin"
        _write_random(path, size)
        client: Any = s3_client(env)
        client.create_bucket(Bucket=BUCKET)
        amed_s, boto_s, boto_hash_s, bare_s = _measure(client, source, path, quick)
    measure = f"put_version of one {size // MIB} MiB file into S3 (moto)"
    return [
        _result(measure, amed_s, "boto3 upload_file (8 MiB × 10, no checksum)", boto_s),
        _result(measure, amed_s, "boto3 upload_file + sha256 of the file", boto_hash_s),
        _result(measure, amed_s, "obstore put of the file, amed's parts, no checksum", bare_s),
    ]


def _measure(client: Any, source: Path, path: Path, quick: bool) -> list[list[float]]:
    from amed.store.schemes import open_store

    store = open_store(f"s3://{BUCKET}/amed")
    versions = iter(range(1, 1_000_000))
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def amed() -> None:
        store.put_version("bench", "big", next(versions), source, created_at=created)

    def boto() -> None:
        client.upload_file(str(path), BUCKET, "boto/big.bin")

    def boto_hashed() -> None:
        client.upload_file(str(path), BUCKET, "boto/big.bin")
        _sha256(path)

    def bare() -> None:
        import obstore

        from amed.store.access import CHUNK_SIZE_BYTES, PART_CONCURRENCY

        with path.open("rb") as handle:
            obstore.put(
                store._backend,
                "bare/big.bin",
                handle,
                chunk_size=CHUNK_SIZE_BYTES,
                max_concurrency=PART_CONCURRENCY,
            )

    def cleanup() -> None:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=item["Key"])
        drop_dirty_pages()

    return _interleaved(quick, amed, boto, boto_hashed, bare, cleanup=cleanup)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size // MIB):
            handle.write(os.urandom(MIB))


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """amed opens the store with the credentials where a user would set them."""
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _interleaved(
    quick: bool, *steps: Callable[[], None], cleanup: Callable[[], None]
) -> list[list[float]]:
    """Samples of each step in turn, the order reversed every other round, `cleanup` before
    each; one untimed round first (connections, the server's first allocations)."""
    for step in steps:
        step()
        cleanup()
    samples: list[list[float]] = [[] for _ in steps]
    order = list(range(len(steps)))
    for round_ in range(runs_for(quick)):
        for index in in_turn(order, round_):
            cleanup()
            samples[index].append(timed(steps[index]))
    cleanup()
    return samples


def _result(measure: str, amed: list[float], baseline_name: str, baseline: list[float]) -> Result:
    return Result(QUESTION, measure, "s", tuple(amed), baseline_name, tuple(baseline), speed=True)
