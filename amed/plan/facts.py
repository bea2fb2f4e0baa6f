"""What the planner is told: the facts it cannot find out for itself, and the policy it
applies. Plain values, so that deciding stays a pure function of its arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from amed.config import DEFAULTS

Key = tuple[str, str]


def _default(setting: str) -> Any:
    """The setting's default: every default has its one home in amed.config's Settings,
    and a planner told nothing (its tests, mostly) applies the same policy as a daemon."""
    return DEFAULTS[setting]


@dataclass(frozen=True)
class Policy:
    """The settings the planner applies, by value (see amed.act.observe.policy_of)."""

    eviction_high_percent: float = _default("eviction_high_percent")
    eviction_low_percent: float = _default("eviction_low_percent")
    low_space_percent: float = _default("low_space_percent")
    alert_repeat_seconds: float = _default("alert_repeat_seconds")
    alert_after_failures: int = _default("alert_after_failures")
    deletion_grace_seconds: float = _default("deletion_grace_seconds")
    deletion_max_percent: float = _default("deletion_max_percent")
    watchdog: bool = _default("alert_watchdog")


@dataclass(frozen=True)
class Facts:
    """What the planner may not find out for itself.

    `running_runs`: run ids with a live process in this daemon. `free_slots`: how many more
    producers may start now. `hold`: data sets not to start again now (a `--once` invocation
    tries each data set once). `capacity_bytes`: amed's budget in the store, if one is set.
    `disk_free_bytes`: the real free space under a local store. `in_use`: data sets that
    running tasks use. `wanted`: evicted data sets something asked for. `store_error` and
    `spec_error`: what is wrong with the store or ame.yaml right now, if anything.
    `code_digest`: the digest of the project files a task can see (amed.act.code_digest),
    part of every data set's identity; None when it is not known, and then not compared.
    """

    now: datetime
    running_runs: frozenset[str] = frozenset()
    free_slots: int = 1
    hold: frozenset[Key] = frozenset()
    capacity_bytes: int | None = None
    disk_free_bytes: int | None = None
    in_use: frozenset[Key] = frozenset()
    wanted: frozenset[Key] = frozenset()
    store_error: str | None = None
    spec_error: str | None = None
    code_digest: str | None = None
    policy: Policy = field(default_factory=Policy)
