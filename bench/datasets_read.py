"""9. Reading data sets through `amed.datasets`, against obstore's own get of the same objects.

A version is stored and published through amed's store (as the daemon does), then read in
this process the way a reader with only the store reads it:
- `ds.open(name, path, store=..., project=...).read()` of one big file (1 GiB; 32 MiB under
  `--quick`): the pointer and manifest are read, every byte is checked against the
  manifest's checksum (by its algorithm) before the bytes are returned;
- `ds.path(name, ...)` of 2,000 files of 64 KiB (100 under `--quick`) into an empty cache:
  every file downloaded, checked, made read-only, the entry renamed into place.
The sizes are the same for S3 as for file://: at 64 MiB the reader's two extra requests
(the pointer and the manifest, which a caller of obstore who already knows the key and its
digest does not make) weigh several times more in the ratio than at 1 GiB, so a smaller
object would measure that fixed cost, not the read.

Baselines, on the same objects in the same run, checksums included (what a careful user of
obstore writes): `obstore.get(store, key).bytes()` then the digest by the manifest's
algorithm (BLAKE3 since amed writes it, sha256 before) compared with the manifest's, and
the same streamed, hashed chunk by chunk as amed does (the target is held against the
faster of the two); for the many files, the same from as many threads as amed's own fetch
uses (`FETCH_WORKERS`, capped at the file count, as amed caps it), each file written to a
local directory whose sub-directories were made once beforehand (as amed makes them, not a
`mkdir` per file). A further figure for the big file gives the bare get, without the
checksum.
Stores: file:// on the repository's disk, S3 on moto (its own process, 127.0.0.1).

Fair because: the same bytes and the same objects for both sides; samples interleaved, the
order swapped every other round; before every timed step dirty pages are written out
(`sync`) and, for file://, the objects' pages are dropped from the page cache
(`posix_fadvise(DONTNEED)`), so neither side reads warm what the other just read: both
read cold from disk. With S3 both go through the same moto process. One untimed round
warms both alike; for the big file that round only opens it (amed reads its pointer and
manifest, obstore asks for the object's metadata: connections made, caches filled), as
reading it whole again would only warm pages that are dropped before every sample.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import obstore
from obstore.store import LocalStore, S3Store

from amed.errors import StoreError
from amed.store.checksum import WRITE_ALGORITHM, bytes_checksum, new_hasher
from amed.store.published import FETCH_WORKERS
from bench.common import Result, drop_dirty_pages, in_turn, runs_for, scratch, timed
from bench.data import ONE_GIB_FILE, SMALL_FILES, Shape, quick_shape, write_tree
from bench.s3server import moto_server, s3_client

QUESTION = "9 reading"
TARGET_SPEED = 0.9
BUCKET = "bench-read"
PROJECT, NAME = "bench", "data"
STORE_ATTEMPTS = 3


@dataclasses.dataclass
class Stored:
    """A published version: the URL readers get, the manifest's (key, size, digest) of each
    file and the algorithm of its digests, and obstore's own store over the same objects
    for the baseline."""

    url: str
    files: list[tuple[str, str, int, str]]  # (relative path, key, size, digest)
    backend: Any
    algorithm: str
    local: Path | None = None  # the objects' directory, for file://

    def cold(self) -> None:
        """Write dirty pages out, then drop the objects' pages from the page cache."""
        drop_dirty_pages()
        if self.local is None:
            return
        for entry in self.local.rglob("*"):
            if entry.is_file():
                fd = os.open(entry, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)


def run(quick: bool) -> list[Result]:
    def sized(shape: Shape) -> Shape:
        return quick_shape(shape) if quick else shape

    local = {"big": sized(ONE_GIB_FILE), "small": sized(SMALL_FILES)}
    remote = local
    results: list[Result] = []
    with scratch("read") as root:
        for name, shape in local.items():
            directory = root / f"objects-{name}"
            stored = _store(root, directory.as_uri(), shape, lambda d=directory: LocalStore(d))
            stored.local = directory
            results += _measure("file://", stored, shape, root, quick)
            shutil.rmtree(directory)
        with moto_server() as env, _environment(env):
            # Both versions stored in one bucket before either is read: one setup.
            for name, stored in _store_s3(env, root, remote).items():
                results += _measure("S3 (moto, 127.0.0.1)", stored, remote[name], root, quick)
    return results


def _measure(where: str, stored: Stored, shape: Shape, root: Path, quick: bool) -> list[Result]:
    if shape.files == 1:
        return _read_results(where, stored, shape, quick)
    return [_path_result(where, stored, shape, root, quick)]


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """amed.datasets reads the store's credentials where a user would set them."""
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


def _reset(env: dict[str, str]) -> None:
    request = urllib.request.Request(env["AWS_ENDPOINT_URL"] + "/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def _store_s3(env: dict[str, str], root: Path, shapes: dict[str, Shape]) -> dict[str, Stored]:
    """`_store` each shape under its own prefix of an empty bucket, tried again from scratch
    when moto, on a loaded machine, lets an upload time out: storing is the setup, not what
    is measured."""
    client: Any = s3_client(env)

    def backend(prefix: str) -> Any:
        return S3Store(
            BUCKET,
            prefix=prefix,
            endpoint=env["AWS_ENDPOINT_URL"],
            region=env["AWS_REGION"],
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            client_options={"allow_http": True},
        )

    for attempt in range(1, STORE_ATTEMPTS + 1):
        _reset(env)
        client.create_bucket(Bucket=BUCKET)
        try:
            return {
                name: _store(
                    root, f"s3://{BUCKET}/{name}", shape, lambda prefix=name: backend(prefix)
                )
                for name, shape in shapes.items()
            }
        except StoreError as exc:
            if attempt == STORE_ATTEMPTS:
                raise
            sys.stderr.write(f"bench datasets: storing into moto failed ({exc}); again\n")
    raise AssertionError("unreachable")


def _store(root: Path, url: str, shape: Shape, backend: Callable[[], Any]) -> Stored:
    """Store and publish one version of `shape` at `url`, as the daemon would."""
    from amed.store.manifest import file_key
    from amed.store.schemes import open_store

    source = root / "source"
    write_tree(source, shape)
    try:
        store = open_store(url)
        created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        manifest = store.put_version(PROJECT, NAME, 1, source, created_at=created)
        store.publish(manifest)
    finally:
        shutil.rmtree(source, ignore_errors=True)
    files = [
        (e.path, file_key(PROJECT, NAME, 1, e.path), e.size_bytes, e.digest) for e in manifest.files
    ]
    algorithm = manifest.files[0].algorithm if manifest.files else WRITE_ALGORITHM
    return Stored(url, files, backend(), algorithm)


# ---- one big file -------------------------------------------------------------------------


def _read_results(where: str, stored: Stored, shape: Shape, quick: bool) -> list[Result]:
    import amed.datasets as ds

    path, key, size, sha = stored.files[0]
    algorithm = stored.algorithm

    def amed() -> None:
        with ds.open(NAME, path, store=stored.url, project=PROJECT) as handle:
            data = handle.read()
        assert len(data) == size

    def baseline() -> None:
        data = obstore.get(stored.backend, key).bytes()
        if bytes_checksum(data, algorithm) != sha:
            raise RuntimeError(f"{key}: checksum mismatch")

    def streamed() -> None:
        digest, data = new_hasher(algorithm), bytearray()
        for chunk in obstore.get(stored.backend, key).stream():
            digest.update(chunk)
            data += chunk
        if len(data) != size or digest.hexdigest() != sha:
            raise RuntimeError(f"{key}: checksum mismatch")

    def bare() -> None:
        obstore.get(stored.backend, key).bytes()

    def warm() -> None:
        with ds.open(NAME, path, store=stored.url, project=PROJECT) as handle:
            handle.read(1)
        obstore.head(stored.backend, key)

    local = stored.local
    if local is not None:
        # From a file the streamed read is several times slower than the whole get (5x in
        # every run so far): never the fair baseline, so not timed. Reading the stored file
        # straight into one buffer is what amed itself does there, so it is one.

        def direct() -> None:
            with open(local / key, "rb", buffering=0) as file:
                data = file.read()  # one buffer of the file's size
            if bytes_checksum(data, algorithm) != sha:
                raise RuntimeError(f"{key}: checksum mismatch")

        other, other_name = direct, f"the stored file read into one buffer + {algorithm}"
    else:
        other, other_name = streamed, f"obstore get streamed, {algorithm} per chunk"
    amed_s, base_s, other_s, bare_s = _interleaved(
        quick, amed, baseline, other, bare, cleanup=stored.cold, warm=warm
    )
    measure = f"{where}, {shape.label}: ds.open().read()"
    # The target is held against the faster of the two checked reads.
    whole_faster = statistics.median(base_s) <= statistics.median(other_s)
    return [
        _result(measure, amed_s, f"obstore get + {algorithm}", base_s, target=whole_faster),
        _result(measure, amed_s, other_name, other_s, target=not whole_faster),
        _result(measure, amed_s, "obstore get, no checksum", bare_s, target=False),
    ]


# ---- many small files ---------------------------------------------------------------------


def _path_result(where: str, stored: Stored, shape: Shape, root: Path, quick: bool) -> Result:
    import amed.datasets as ds

    caches = root / "caches"
    threads = min(FETCH_WORKERS, len(stored.files))
    counter = iter(range(1_000_000))

    def amed() -> None:
        os.environ["XDG_CACHE_HOME"] = str(caches / f"c{next(counter)}")  # an empty cache
        local = ds.path(NAME, store=stored.url, project=PROJECT)
        assert local.is_dir()

    def baseline() -> None:
        dest = caches / f"b{next(counter)}"
        for directory in sorted({str(Path(rel).parent) for rel, _, _, _ in stored.files}):
            (dest / directory).mkdir(parents=True, exist_ok=True)

        def fetch(item: tuple[str, str, int, str]) -> None:
            rel, key, _, sha = item
            data = obstore.get(stored.backend, key).bytes()
            if bytes_checksum(data, stored.algorithm) != sha:
                raise RuntimeError(f"{key}: checksum mismatch")
            (dest / rel).write_bytes(data)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fetch, stored.files))

    saved = os.environ.get("XDG_CACHE_HOME")
    try:
        amed_s, base_s = _interleaved(quick, amed, baseline, cleanup=lambda: _empty(caches, stored))
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    return _result(
        f"{where}, {shape.label}: ds.path() into an empty cache",
        amed_s,
        f"obstore get + {stored.algorithm} + write, ×{threads} threads (amed's fetch workers)",
        base_s,
    )


def _empty(directory: Path, stored: Stored) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    stored.cold()


# ---- shared ---------------------------------------------------------------------------------


def _interleaved(
    quick: bool,
    *steps: Callable[[], None],
    cleanup: Callable[[], None] = drop_dirty_pages,
    warm: Callable[[], None] | None = None,
) -> list[list[float]]:
    """Samples of each step, taken in turn, the order reversed every other round, `cleanup`
    before each; one untimed round first (connections, caches of the pointer's manifest:
    what a reader that reads more than once has), `warm` when it does that for every step
    more cheaply than running each."""
    if warm is not None:
        warm()
    else:
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


def _result(
    measure: str, amed: list[float], baseline_name: str, baseline: list[float], target: bool = True
) -> Result:
    result = Result(
        QUESTION,
        measure,
        "s",
        tuple(amed),
        baseline_name,
        tuple(baseline),
        speed=True,
        target=f"≥ {TARGET_SPEED}× speed" if target else "",
    )
    if not target or result.ratio is None:
        return result
    return dataclasses.replace(result, met=result.ratio >= TARGET_SPEED)
