"""1. Storing: from the producing task's exit to `ready`, against copying the same data.

amed runs for real (`amed run --once`, a fresh state and store per sample); the figure is read
from its event log: `run_succeeded.at` (the task exited 0) to `version_stored.at` (files and
manifest in the store, the event committed: the data set is `ready`). The task copies
pre-made data into its output, so its output is as hot in the page cache as `cp`'s source.
For the file:// pair with a target the task ends with `sync`: its output, like that
source, is already on the disk when the timed step starts, and neither side pays for
writing back what the producer wrote. The second file:// pair and the S3 rows sync
nothing before their timed steps.

Baselines, on the same data in the same run:
- file://: `cp -r` of the task's output to another directory on the same disk followed by
  `sync`, both timed: amed makes a version durable before it is ready (its files synced,
  then its manifest), so the same work is a copy that is on the disk, not one still in the
  page cache. `sync` before each timed step, the samples interleaved, the order swapped
  every round. In the second pair, with nothing synced after the producer, that `sync`
  writes the copy's source as well as the copy, twice what a durable copy needs: not like
  for like, and without a target; it is there for amed's span as a task that does not
  sync sees it; and,
  as the floor the manifest sets (it holds every file's checksum), hashlib's sha256 of the
  same bytes, read from the page cache;
- the checksum's choice: over the same bytes, in one process, interleaved: hashlib's sha256
  (what manifests have recorded), sha256 of 64 MiB parts hashed by two threads with a
  sha256 of their digests (the shape of S3's multipart checksums; hashlib releases the GIL),
  and BLAKE3 on one thread and on every core, each through `amed.store.checksum`'s read
  loop;
- S3 (moto on 127.0.0.1): boto3's transfer manager (what `aws s3 cp` uses), one
  `upload_file` per file, 10 files at a time; the server emptied before each sample, the
  order swapped every round.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import (
    KIB,
    MIB,
    Result,
    Workspace,
    drop_dirty_pages,
    event_seconds,
    execute,
    in_turn,
    runs_for,
    scratch,
    timed,
)
from bench.data import ONE_GIB_FILE, SMALL_FILES, Shape, quick_shape, write_tree
from bench.s3server import moto_server, s3_client

QUESTION = "1 storing"
TARGET_ONE_FILE = 0.9
TARGET_MANY_FILES = 2.0
"""Against `cp -r` + sync: one big file at 0.9x its speed; many small ones at twice it (a
copy pays per file, amed links them)."""
BUCKET = "bench"
BASELINE_UPLOAD_THREADS = 10
# moto keeps every object in its own memory, handles ~50-70 MB/s and ~200 requests/s: the
# figures are moto's more than amed's, so the sizes are only as large as a stable ratio
# needs (one sample takes a few seconds), which keeps the S3 part to about a minute.
S3_BIG_FILE = Shape("one 64 MiB file", 1, 64 * MIB)
S3_SMALL_FILES = Shape("200 files of 64 KiB", 200, 64 * KIB)

SPEC = """
projectname: bench
tasks:
  - name: produce
    executor: !custom
      command: cp -r {source} data{finish}
dataSets:
  - name: out
    path: ./data
    task:
      taskRef: produce
"""


def run(quick: bool) -> list[Result]:
    shapes = [ONE_GIB_FILE, SMALL_FILES]
    results: list[Result] = []
    with scratch("storing") as root:
        for shape in shapes:
            shape = quick_shape(shape) if quick else shape
            source = root / "source"
            write_tree(source, shape)
            results += _file_result(root, source, shape, quick)
            if shape.files == 1:
                results += checksum_results(source, shape, quick)
            shutil.rmtree(source)
        with moto_server() as s3_env:
            for shape in (S3_BIG_FILE, S3_SMALL_FILES):
                shape = quick_shape(shape) if quick else shape
                source = root / "source"
                write_tree(source, shape)
                results.append(_s3_result(root, source, shape, quick, s3_env))
                shutil.rmtree(source)
    return results


def _amed_store_seconds(
    root: Path, source: Path, storage_url: str, env: dict[str, str], *, settled: bool
) -> float:
    """`settled`: the task syncs before it exits, so its output is on the disk, as `cp`'s
    source is after the `sync` before a timed copy."""
    if not storage_url.startswith("file:"):  # a bucket's free space is its stated budget
        env = {**env, "AME_CAPACITY": "1Ti"}
    ws = Workspace(root / "ws", storage_url=storage_url, env=env)
    try:
        ws.write_spec(SPEC.format(source=source, finish=" && sync" if settled else ""))
        ws.once()
        return event_seconds(ws.events(), "run_succeeded", "version_stored")
    finally:
        shutil.rmtree(ws.root, ignore_errors=True)
        drop_dirty_pages()


def _file_result(root: Path, source: Path, shape: Shape, quick: bool) -> list[Result]:
    """The target's pair starts with the output on the disk on both sides; the second pair
    with it still in the page cache (a task that does not sync), where amed's span writes the
    output back and the copy's `sync` writes it and the copy."""
    amed: list[float] = []
    copy: list[float] = []
    digest: list[float] = []
    amed_unsynced: list[float] = []
    copy_unsynced: list[float] = []
    steps = [
        lambda: amed.append(_amed_store_seconds(root, source, "", {}, settled=True)),
        lambda: copy.append(_cp_seconds(root, source, settled=True)),
        lambda: digest.append(_sha256_seconds(source)),
        lambda: amed_unsynced.append(_amed_store_seconds(root, source, "", {}, settled=False)),
        lambda: copy_unsynced.append(_cp_seconds(root, source, settled=False)),
    ]
    for round_number in range(runs_for(quick)):
        for step in in_turn(steps, round_number):
            drop_dirty_pages()  # each sample starts with nothing left to write back
            step()
    measure = f"file:// store, {shape.label}"
    target = TARGET_ONE_FILE if shape.files == 1 else TARGET_MANY_FILES
    return [
        _result(measure, amed, "cp -r + sync", copy, target),
        _result(measure, amed, "sha256 of the same bytes (hashlib)", digest),
        _result(
            f"{measure}, the task's output not yet on the disk",
            amed_unsynced,
            "cp -r + sync, its source not yet on the disk (the sync writes both)",
            copy_unsynced,
        ),
    ]


def checksum_results(source: Path, shape: Shape, quick: bool) -> list[Result]:
    """Each candidate checksum against hashlib's sha256, over the same big file."""
    from amed.store.checksum import BLAKE3, SHA256, file_checksum

    (path,) = [p for p in source.rglob("*") if p.is_file()]
    candidates = {
        SHA256: lambda fd: file_checksum(fd, None, SHA256),
        BLAKE3: lambda fd: file_checksum(fd, None, BLAKE3, threads=1),
        "blake3-cores": lambda fd: file_checksum(fd, None, BLAKE3),
        "parts": lambda fd: _sha256_of_parts(fd, os.fstat(fd).st_size),
    }
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    fd = os.open(path, os.O_RDONLY)
    try:
        for round_number in range(runs_for(quick)):
            order = list(candidates.items())
            for name, compute in in_turn(order, round_number):
                drop_dirty_pages()
                seconds[name].append(timed(lambda compute=compute: compute(fd)))
    finally:
        os.close(fd)
    measure = f"checksum of {shape.label}, page cache"
    names = {
        BLAKE3: "BLAKE3, one thread",
        "blake3-cores": "BLAKE3, every core (as amed stores)",
        "parts": "sha256 of 64 MiB parts, two threads",
    }
    return [
        Result(
            QUESTION,
            f"{measure}: {label}",
            "s",
            tuple(seconds[name]),
            "hashlib sha256",
            tuple(seconds[SHA256]),
            speed=True,
        )
        for name, label in names.items()
    ]


def _sha256_of_parts(fd: int, size_bytes: int) -> str:
    part_bytes = 64 * MIB

    def part(start: int) -> bytes:
        digest = hashlib.sha256()
        buffer = bytearray(MIB)
        view = memoryview(buffer)
        offset, end = start, min(size_bytes, start + part_bytes)
        while offset < end:
            read = os.preadv(fd, [view[: min(MIB, end - offset)]], offset)
            digest.update(view[:read])
            offset += read
        return digest.digest()

    with ThreadPoolExecutor(2) as pool:
        digests = list(pool.map(part, range(0, size_bytes, part_bytes)))
    return hashlib.sha256(b"".join(digests)).hexdigest()


def _sha256_seconds(source: Path) -> float:
    files = sorted(p for p in source.rglob("*") if p.is_file())

    def digest_all() -> None:
        for path in files:
            with path.open("rb") as stream:
                hashlib.file_digest(stream, "sha256")

    return timed(digest_all)


def _cp_seconds(root: Path, source: Path, *, settled: bool) -> float:
    """`settled`: the untimed copy that stands for the task's output is synced first, else
    the timed copy's `sync` writes it back too, as amed's span does for an unsynced task."""
    output, dest = root / "output", root / "copy"
    try:
        execute(["cp", "-r", str(source), str(output)])
        if settled:
            drop_dirty_pages()

        def copy_to_disk() -> None:
            execute(["cp", "-r", str(output), str(dest)])
            os.sync()

        return timed(copy_to_disk)
    finally:
        shutil.rmtree(output, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        drop_dirty_pages()


def _s3_result(
    root: Path, source: Path, shape: Shape, quick: bool, s3_env: dict[str, str]
) -> Result:
    amed: list[float] = []
    boto: list[float] = []
    store = f"s3://{BUCKET}/amed"
    steps = [
        lambda: amed.append(_amed_store_seconds(root, source, store, s3_env, settled=False)),
        lambda: boto.append(_boto_seconds(root, source, s3_env)),
    ]
    for round_number in range(runs_for(quick)):
        for step in in_turn(steps, round_number):
            _reset(s3_env)
            step()
    _reset(s3_env)
    return _result(
        f"S3 (moto, 127.0.0.1), {shape.label}",
        amed,
        "boto3 upload_file ×10",
        boto,
    )


def _reset(s3_env: dict[str, str]) -> None:
    """Empty the server (moto keeps objects in memory) and make the bucket again."""
    request = urllib.request.Request(s3_env["AWS_ENDPOINT_URL"] + "/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).close()
    client: Any = s3_client(s3_env)
    client.create_bucket(Bucket=BUCKET)


def _boto_seconds(root: Path, source: Path, s3_env: dict[str, str]) -> float:
    output = root / "output"
    client: Any = s3_client(s3_env)
    try:
        execute(["cp", "-r", str(source), str(output)])
        files = [p for p in output.rglob("*") if p.is_file()]

        def upload(path: Path) -> None:
            client.upload_file(str(path), BUCKET, f"boto/{path.relative_to(output).as_posix()}")

        def upload_all() -> None:
            with ThreadPoolExecutor(BASELINE_UPLOAD_THREADS) as pool:
                list(pool.map(upload, files))

        return timed(upload_all)
    finally:
        shutil.rmtree(output, ignore_errors=True)


def _result(
    measure: str,
    amed: list[float],
    baseline_name: str,
    baseline: list[float],
    target: float | None = None,
) -> Result:
    result = Result(
        QUESTION,
        measure + " (task exit → ready)",
        "s",
        tuple(amed),
        baseline_name,
        tuple(baseline),
        speed=True,
        target=f"≥ {target:g}× speed" if target is not None else "",
    )
    if target is None or result.ratio is None:
        return result
    return dataclasses.replace(result, met=result.ratio >= target)
