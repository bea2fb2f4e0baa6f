"""`ame://[project/]name[@version]/path`: data sets as an fsspec file system, so that pandas,
pyarrow, xarray and anything else that opens fsspec URLs read them:

    pandas.read_csv("ame://mnist/labels.csv")
    pandas.read_csv("ame://demo/mnist@3/labels.csv", storage_options={"store": "s3://b/p"})

Registered with fsspec by the `ame` entry point (group `fsspec.specs`). The first segment
is a project when that project has a data set named by the second; otherwise it is a data
set of the default project (see amed.datasets.places). `@<version>` pins a version.
Storage options: `store` (a store URL; default as `amed.datasets` finds one) and
`project`. Reads go through `amed.datasets`, so they are checked as it checks them: a
whole-file read (`cat`, `get`) returns nothing that does not match the manifest, an open
file raises at the read that reaches a mismatching end.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from typing import Any

from fsspec.asyn import AsyncFileSystem

from amed.datasets import list as list_datasets
from amed.datasets import locate
from amed.datasets.errors import DatasetError, UnknownDataset
from amed.datasets.located import Located
from amed.datasets.reading import list_files, open_file, read_file
from amed.store.filesystem import ReadOnlyFileSystem

NAMES_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class AmePath:
    """A path split: `project` None means the default one; `inner` is "" for the data
    set's top directory."""

    project: str | None
    name: str
    version: int | None
    inner: str
    prefix: str  # the path up to the data set, as the caller wrote it


class AmeFileSystem(ReadOnlyFileSystem):
    """Read-only fsspec file system over committed data set versions."""

    protocol = "ame"
    root_marker = ""

    def __init__(
        self,
        *args: Any,
        store: str | None = None,
        project: str | None = None,
        **kwargs: Any,
    ) -> None:
        passed = {k: v for k, v in kwargs.items() if k in ("asynchronous", "loop", "batch_size")}
        super().__init__(*args, **passed)
        self.store = store
        self.project = project
        self._names: dict[str | None, tuple[float, frozenset[str]]] = {}

    # ---- paths ------------------------------------------------------------------------

    def _data_sets(self, project: str | None) -> frozenset[str]:
        """The data set names of a project (None: the default one), cached a little: a path
        is split against them."""
        found = self._names.get(project)
        if found is not None and time.monotonic() - found[0] < NAMES_TTL_SECONDS:
            return found[1]
        try:
            names = frozenset(d.name for d in list_datasets(project=project, store=self.store))
        except DatasetError:
            names = frozenset()
        self._names[project] = (time.monotonic(), names)
        return names

    def split(self, path: str) -> AmePath:
        parts = [part for part in self._strip_protocol(path).split("/") if part]
        if not parts:
            raise UnknownDataset(f"{self.protocol}://: name a data set")
        project = self.project
        if len(parts) >= 2 and parts[1].partition("@")[0] in self._data_sets(parts[0]):
            project, parts = parts[0], parts[1:]
            prefix = f"{project}/{parts[0]}"
        else:
            prefix = parts[0]
        name, _, pinned = parts[0].partition("@")
        version = None
        if pinned:
            if not pinned.isdigit():
                raise UnknownDataset(f"{path}: {pinned!r} is not a version number")
            version = int(pinned)
        return AmePath(project, name, version, "/".join(parts[1:]), prefix)

    def _locate(self, where: AmePath) -> Located:
        return locate(where.name, version=where.version, project=where.project, store=self.store)

    # ---- reading (sync; the async methods run these on a worker thread) ----------------------

    def _info_now(self, path: str) -> dict[str, Any]:
        where = self.split(path)
        located = self._locate(where)
        name = self._strip_protocol(path)
        if not where.inner:
            return {"name": name, "size": 0, "type": "directory", "version": located.version}
        inner = where.inner.rstrip("/")
        for info in list_files(located):
            if info.path == inner:
                return {
                    "name": name,
                    "size": info.size_bytes,
                    "type": "file",
                    info.algorithm: info.digest,
                    "version": located.version,
                }
            if info.path.startswith(inner + "/"):
                return {"name": name, "size": 0, "type": "directory", "version": located.version}
        raise UnknownDataset(f"{self.protocol}://{name}: no such file in {located.label}")

    def _ls_now(self, path: str, detail: bool) -> list[dict[str, Any]] | list[str]:
        stripped = self._strip_protocol(path)
        parts = [part for part in stripped.split("/") if part]
        entries: list[dict[str, Any]]
        top = parts[0].partition("@")[0] if parts else ""
        if not parts or (len(parts) == 1 and top not in self._data_sets(self.project)):
            project = parts[0] if parts else self.project
            names = sorted(self._data_sets(project))
            if parts and not names:
                raise UnknownDataset(f"{self.protocol}://{stripped}: no such data set or project")
            base = f"{parts[0]}/" if parts else ""
            entries = [{"name": base + n, "size": 0, "type": "directory"} for n in names]
        else:
            where = self.split(path)
            located = self._locate(where)
            inner = where.inner.rstrip("/")
            seen: dict[str, dict[str, Any]] = {}
            for info in list_files(located):
                if inner and not info.path.startswith(inner + "/"):
                    continue
                rest = info.path[len(inner) + 1 :] if inner else info.path
                head, _, tail = rest.partition("/")
                child = "/".join(part for part in (where.prefix, inner, head) if part)
                if tail:
                    seen.setdefault(child, {"name": child, "size": 0, "type": "directory"})
                else:
                    seen[child] = {"name": child, "size": info.size_bytes, "type": "file"}
            if inner and not seen:
                raise UnknownDataset(f"{self.protocol}://{stripped}: no such directory")
            entries = [seen[key] for key in sorted(seen)]
        return entries if detail else [entry["name"] for entry in entries]

    def _cat_now(self, path: str, start: int | None, end: int | None) -> bytes:
        where = self.split(path)
        located = self._locate(where)
        if start is None and end is None:
            return read_file(located, where.inner)
        with open_file(located, where.inner) as handle:
            size = handle.seek(0, 2)
            first = 0 if start is None else (size + start if start < 0 else start)
            last = size if end is None else (size + end if end < 0 else min(end, size))
            if last <= first:
                return b""
            handle.seek(first)
            return handle.read(last - first)

    def _get_now(self, rpath: str, lpath: str) -> None:
        where = self.split(rpath)
        located = self._locate(where)
        with open_file(located, where.inner) as source, open(lpath, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)

    # ---- fsspec ---------------------------------------------------------------------------

    async def _info(self, path: str, **_kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._info_now, path)

    async def _ls(  # type: ignore[override]
        self, path: str, detail: bool = True, **_kwargs: Any
    ) -> list[dict[str, Any]] | list[str]:
        return await asyncio.to_thread(self._ls_now, path, detail)

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **_kwargs: Any
    ) -> bytes:
        return await asyncio.to_thread(self._cat_now, path, start, end)

    async def _cat(  # type: ignore[override]
        self, path: Any, recursive: bool = False, **kwargs: Any
    ) -> Any:
        """fsspec's own: one path gives its bytes, several a dict (the adapter's `_cat`
        always gives a dict)."""
        return await AsyncFileSystem._cat(self, path, recursive=recursive, **kwargs)

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: list[int] | int,
        ends: list[int] | int,
        *_args: Any,
        **_kwargs: Any,
    ) -> list[bytes]:
        starts = [starts] * len(paths) if isinstance(starts, int) else starts
        ends = [ends] * len(paths) if isinstance(ends, int) else ends
        return [await self._cat_file(p, s, e) for p, s, e in zip(paths, starts, ends, strict=True)]

    async def _get_file(self, rpath: str, lpath: str, **_kwargs: Any) -> None:
        await asyncio.to_thread(self._get_now, rpath, lpath)

    def _open(self, path: str, mode: str = "rb", *_args: Any, **_kwargs: Any) -> Any:
        if mode != "rb":
            raise self._refuse(path)
        where = self.split(path)
        return open_file(self._locate(where), where.inner)

    def modified(self, path: str) -> Any:
        raise NotImplementedError(f"{self.protocol}://: versions, not times, say what changed")
