"""What the state store says exists: the planner's view of the world."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from state.rows import AlertRow, ChannelRow, DatasetRow, TaskRow, VersionRow


@dataclass(frozen=True)
class Observed:
    datasets: Mapping[tuple[str, str], DatasetRow] = field(default_factory=dict)
    versions: Mapping[tuple[str, str], tuple[VersionRow, ...]] = field(default_factory=dict)
    alerts: Mapping[str, AlertRow] = field(default_factory=dict)
    channels: Mapping[str, ChannelRow] = field(default_factory=dict)
    tasks: Mapping[tuple[str, str], TaskRow] = field(default_factory=dict)

    def held_bytes(self) -> int:
        """Bytes of every committed version still in the store, served or not."""
        return sum(v.size_bytes for rows in self.versions.values() for v in rows)

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
