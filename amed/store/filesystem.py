"""obstore's fsspec adapter, read-only, as the base of the `ame://` file system
(amed.datasets.fs).

It lives here because obstore is imported only under amed/store. The adapter brings the
fsspec plumbing (its event loop, `cat`, `get`, instance caching); what it cannot give is
which version a path means and the check of every byte against its manifest, so the
subclass answers `_info`, `_ls`, `_cat_file`, `_get_file` and `_open` itself. Every write
is refused here: a committed version never changes, and only the daemon stores one.
Needs fsspec, which amed itself does not depend on: this module is imported only when
fsspec loads the `ame` protocol from the entry point.
"""

from __future__ import annotations

import warnings
from typing import Any

from obstore.fsspec import FsspecStore


class ReadOnlyFileSystem(FsspecStore):
    """obstore's FsspecStore with every write refused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # The adapter warns of any protocol it does not open stores for itself.
            warnings.simplefilter("ignore")
            super().__init__(*args, **kwargs)

    def _refuse(self, path: object) -> PermissionError:
        return PermissionError(f"{path}: {self.protocol}:// is read-only")

    async def _rm_file(self, path: str, **_kwargs: Any) -> None:
        raise self._refuse(path)

    async def _rm(self, path: Any, *_args: Any, **_kwargs: Any) -> None:
        raise self._refuse(path)

    async def _cp_file(self, path1: str, path2: str, **_kwargs: Any) -> None:
        raise self._refuse(path2)

    async def _pipe_file(self, path: str, value: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise self._refuse(path)

    async def _put_file(self, lpath: str, rpath: str, *_args: Any, **_kwargs: Any) -> None:
        raise self._refuse(rpath)

    async def _mkdir(self, path: str, *_args: Any, **_kwargs: Any) -> None:
        raise self._refuse(path)

    async def _makedirs(self, path: str, *_args: Any, **_kwargs: Any) -> None:
        raise self._refuse(path)
