"""What the state store says exists: the planner's view of the world."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from state.rows import DatasetRow, VersionRow


@dataclass(frozen=True)
class Observed:
    datasets: Mapping[tuple[str, str], DatasetRow] = field(default_factory=dict)
    versions: Mapping[tuple[str, str], tuple[VersionRow, ...]] = field(default_factory=dict)

    def owned_versions(self) -> set[tuple[str, str, int]]:
        """Every committed version, plus the versions live runs are producing: what a debris
        sweep must keep."""
        owned = {v.key for rows in self.versions.values() for v in rows}
        owned |= {
            (row.project, row.name, row.running_version)
            for row in self.datasets.values()
            if row.running_version is not None
        }
        return owned
