"""The third place: a store alone, read through the pointers its owning daemons keep
(amed.store.pointer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from amed.datasets.errors import DatasetError, NotReady, UnknownDataset, VersionNotStored
from amed.datasets.located import Located, store_errors
from amed.datasets.model import DatasetInfo, PlaceKind
from amed.datasets.task_place import load_spec
from amed.errors import StoreURLError

if TYPE_CHECKING:
    from amed.store.objects import ObjectStore


class StorePlace:
    """A store and the pointers its owning daemons keep in it."""

    kind: PlaceKind = "store"

    def __init__(self, store: ObjectStore, project: str | None) -> None:
        self.store = store
        self.project = project

    def project_name(self, project: str | None) -> str:
        """The project asked for; without one, the store's only project or the one of the
        ame.yaml in AME_PROJECT (or the current directory)."""
        chosen = project or self.project
        if chosen:
            return chosen
        with store_errors(self.store.url):
            projects = self.store.projects()
        if len(projects) == 1:
            return projects[0]
        spec = load_spec(Path(os.environ.get("AME_PROJECT") or "."))
        if spec is not None and spec.name in projects:
            return spec.name
        raise DatasetError(
            f"{self.store.url} holds {'no projects' if not projects else 'several projects'}"
            f"{': ' + ', '.join(projects) if projects else ''}; name one with project='...'"
        )

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        name = self.project_name(project)
        with store_errors(self.store.url):
            pointers = self.store.published_all(name)
        infos = []
        for dataset, pointer in pointers.items():
            entry = None
            if pointer is not None and pointer.current is not None:
                entry = pointer.entry(pointer.current)
            updated = None
            if pointer is not None:
                from state.timefmt import parse_time

                updated = parse_time(pointer.updated_at)
            infos.append(
                DatasetInfo(
                    dataset,
                    name,
                    "ready" if entry is not None else None,
                    entry.version if entry is not None else None,
                    entry.size_bytes if entry is not None else None,
                    entry.files if entry is not None else None,
                    updated,
                    None,
                    "store",
                )
            )
        return infos

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        from amed.store.published import NotPublished

        chosen = self.project_name(project)
        try:
            with store_errors(self.store.url):
                try:
                    published = self.store.published(chosen, name, version)
                except NotPublished as exc:
                    raise self._why_not(chosen, name, version, exc, request) from None
        except StoreURLError as exc:
            raise DatasetError(str(exc)) from None
        manifest = published.manifest
        entry = published.pointer.entry(manifest.version)
        return Located(
            chosen,
            name,
            manifest.version,
            "store",
            store=self.store,
            manifest=manifest,
            manifest_sha256=entry.manifest_sha256 if entry is not None else None,
        )

    def _why_not(
        self, project: str, name: str, version: int | None, exc: Exception, request: bool
    ) -> DatasetError:
        from amed.store.published import NotPublished

        pointer = exc.pointer if isinstance(exc, NotPublished) else None
        hint = "; request=True needs the daemon's state dir (AME_STATE_DIR)" if request else ""
        if pointer is not None and version is not None:
            listed = ", ".join(str(e.version) for e in pointer.versions)
            return VersionNotStored(
                f"{name}: version {version} is not stored in {self.store.url} (stored: {listed})"
            )
        if pointer is not None:
            return NotReady(
                f"{name}: no current version in {self.store.url} (evicted or being deleted; "
                f"older versions stored: {', '.join(str(e.version) for e in pointer.versions)})"
                f"{hint}"
            )
        names = self.store.published_all(project)
        if name not in names:
            return UnknownDataset(
                f"{name}: nothing stored in project {project} at {self.store.url} (no such "
                f"data set, or evicted or removed); stored: {', '.join(names) or 'none'}"
            )
        return NotReady(
            f"{name}: no published version in {self.store.url} (not produced yet, evicted, "
            f"or stored before pointers existed: the daemon names it at its next start){hint}"
        )
