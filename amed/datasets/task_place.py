"""The first place: the working copy of the task running this process, which holds the
versions of its inputs, placed and checked by amed before the task started."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from amed.datasets.errors import UnknownDataset
from amed.datasets.located import Located
from amed.datasets.model import DatasetInfo, PlaceKind

if TYPE_CHECKING:
    from spec import Project


@dataclass(frozen=True)
class TaskPlace:
    """The working copy of the task running this process, and the inputs placed in it."""

    root: Path
    project: str
    inputs: Mapping[str, Path]
    kind: PlaceKind = "task"

    @classmethod
    def here(cls) -> TaskPlace | None:
        """The task this process runs in, found from its environment and the ame.yaml of
        the working copy around the current directory; None outside a task."""
        task, producing = os.environ.get("AME_TASK"), os.environ.get("AME_DATASET")
        if not task and not producing:
            return None
        root = project_root(Path.cwd())
        if root is None:
            return None
        spec = load_spec(root)
        if spec is None:
            return None
        if task:
            found = spec.task(task)
            refs = found.data_sets if found is not None else ()
        else:
            data_set = spec.data_set(producing or "")
            refs = data_set.producer.data_sets if data_set is not None else ()
        inputs: dict[str, Path] = {}
        for ref in refs:
            declared = spec.data_set(ref.name)
            if ref.project not in (None, spec.name) or declared is None:
                continue
            directory = root / declared.path
            if directory.is_dir():
                inputs[ref.name] = directory
        return cls(root, spec.name, inputs)

    def has(self, name: str, project: str | None) -> bool:
        return name in self.inputs and project in (None, self.project)

    def datasets(self, project: str | None) -> list[DatasetInfo]:
        if project not in (None, self.project):
            return []
        return [self._info(name) for name in sorted(self.inputs)]

    def locate(
        self,
        name: str,
        project: str | None,
        version: int | None,
        *,
        request: bool = False,
        timeout_seconds: float = 3600.0,
    ) -> Located:
        if not self.has(name, project):
            raise UnknownDataset(
                f"{name}: not an input of this task (it uses: {', '.join(self.inputs) or 'none'})"
            )
        return Located(self.project, name, None, "task", directory=self.inputs[name])

    def _info(self, name: str) -> DatasetInfo:
        sizes = [p.stat().st_size for p in self.inputs[name].rglob("*") if p.is_file()]
        return DatasetInfo(
            name, self.project, "ready", None, sum(sizes), len(sizes), None, None, "task"
        )


def project_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / "ame.yaml").is_file() or (directory / "ame.yml").is_file():
            return directory
    return None


_specs: dict[tuple[Path, int], Project] = {}


def load_spec(root: Path) -> Project | None:
    """The working copy's ame.yaml, loaded once per process and file version."""
    from spec import SpecError, load_project

    file = root / "ame.yaml" if (root / "ame.yaml").is_file() else root / "ame.yml"
    try:
        key = (file, file.stat().st_mtime_ns)
        if key not in _specs:
            _specs[key] = load_project(file)
    except (OSError, SpecError):
        return None
    return _specs[key]
