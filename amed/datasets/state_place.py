"""The second place: a daemon's state on this host. Its database (read-only) says which
version is current and why there is none; the bytes come from its store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from amed.datasets.errors import Evicted, NotReady, UnknownDataset, VersionGone, VersionNotStored
from amed.datasets.located import Located, open_store_cached, store_errors
from amed.datasets.model import DatasetInfo, PlaceKind

if TYPE_CHECKING:
    from amed.store.objects import ObjectStore
    from state.read import StateReader
    from state.rows import DatasetRow

POLL_SECONDS = 0.5
GIVE_UP_STATUSES = ("failed", "blocked", "removed")


class StatePlace:
    """A daemon's state directory on this host: its database read-only, its store."""

    kind: PlaceKind = "state"

    def __init__(self, state_dir: Path, storage_url: str) -> None:
        self.state_dir = state_dir
        self.storage_url = storage_url

    @classmethod
    def here(cls) -> tuple[StatePlace | None, str]:
        """The state this host's settings name (flags aside: AME_STATE_DIR, AME_CONFIG,
        then the defaults), if it has a database; else None and where it looked."""
        from amed.config import resolve
        from amed.errors import ConfigError

        try:
            settings = resolve({})
        except ConfigError as exc:
            return None, f"no usable amed settings ({exc})"
        if not (settings.state_dir / "state.db").is_file():
            return None, f"no amed state in {settings.state_dir}"
        return cls(settings.state_dir, settings.storage_url), ""

    @contextmanager
    def _reader(self) -> Iterator[StateReader]:
        from state.read import StateReader

        reader = StateReader.in_dir(self.state_dir)
        try:
            yield reader
        finally:
            reader.close()

    @property
    def store(self) -> ObjectStore:
        return open_store_cached(self.storage_url)

    def knows_project(self, project: str) -> bool:
        with self._reader() as reader:
            return any(row.project == project for row in reader.datasets(include_removed=True))

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        with self._reader() as reader:
            rows = reader.datasets()
        return [_row_info(row) for row in rows if project in (None, row.project)]

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        with self._reader() as reader:
            row = reader.dataset(name, project)
            state_id = reader.state_id()
            if row is None or row.status == "removed":
                known = sorted({r.name for r in reader.datasets()})
                gone = " (removed: no longer in ame.yaml)" if row is not None else ""
                raise UnknownDataset(
                    f"{name}: no such data set in {self.state_dir}{gone}; "
                    f"known: {', '.join(known) or 'none'}"
                )
            if version is not None:
                stored = [v.version for v in reader.versions(row.project, row.name)]
                if version not in stored:
                    raise VersionNotStored(
                        f"{name}: version {version} is not stored (stored: "
                        f"{', '.join(map(str, stored)) or 'none'})"
                    )
        if version is None and row.version is None:
            row = self._wait_for_version(row, request, timeout_seconds)
        number = version if version is not None else row.version
        assert number is not None
        with store_errors(self.storage_url):
            manifest = self.store.read_manifest(row.project, row.name, number, state_id=state_id)
        if manifest is None:
            raise VersionGone(
                f"{name}: version {number} is no longer in {self.store.url} (deleted just now?); "
                "read it again to get the current version"
            )
        return Located(row.project, row.name, number, "state", store=self.store, manifest=manifest)

    def _wait_for_version(self, row: DatasetRow, request: bool, timeout: float) -> DatasetRow:
        """A version of a data set that has none: asked of the daemon and waited for with
        `request`, as `ame ds pull` does; otherwise why there is none."""
        if not request or row.status in ("blocked",):
            raise _not_ready(row, "" if request else "; request=True asks the daemon for it")
        with self._reader() as reader:
            daemon = reader.daemon()
        asked = datetime.now(UTC)
        if row.status in ("evicted", "failed"):
            from state.db import StateStore
            from state.events import DatasetRequested

            try:
                asking = DatasetRequested(
                    at=asked, project=row.project, dataset=row.name, reason="read"
                )
                with StateStore.in_dir(self.state_dir) as writer:
                    writer.append([asking])
            except Exception as exc:  # noqa: BLE001 - sqlite3 or OSError: report as ours
                raise NotReady(
                    f"{row.name}: cannot ask the daemon for it ({exc})", status=row.status
                ) from None
        if daemon is None or not daemon.alive_at(asked):
            raise _not_ready(row, f"; no amed daemon is running for {self.state_dir} to produce it")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            with self._reader() as reader:
                current = reader.dataset(row.name, row.project)
            if current is None:
                break
            if current.version is not None and current.status == "ready":
                return current
            if current.status == "blocked" or (
                current.status in GIVE_UP_STATUSES and current.updated_at >= asked
            ):
                raise _not_ready(current, "")
        raise NotReady(
            f"{row.name}: not ready within {timeout:g} s of asking for it", status=row.status
        )


def _not_ready(row: DatasetRow, hint: str) -> NotReady:
    why = (row.error or "").strip().splitlines()
    reason = f": {why[0]}" if why else ""
    kind = Evicted if row.status == "evicted" else NotReady
    return kind(f"{row.name} is {row.status}{reason}{hint}", status=row.status, error=row.error)


def _row_info(row: DatasetRow) -> DatasetInfo:
    return DatasetInfo(
        row.name,
        row.project,
        row.status,
        row.version,
        row.size_bytes,
        row.files,
        row.updated_at,
        row.error,
        "state",
    )
