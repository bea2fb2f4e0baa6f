"""Gathering what the planner is told: the state of the log and the facts it cannot find
out for itself (the time, free space, live runs, whether the store answers, the digest of
the project files a task can see).

Shared by the daemon's passes and by `amed run --once --dry-run`, so that a dry run plans
from the same facts a pass would. The dry run reads the state database read-only, does not
open (and so create) the store, and takes the runs the log calls live as belonging to a
daemon that is running, so it never reports them as lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from amed import logs
from amed.act.code_digest import CACHE_NAME, CodeDigests, excluded_paths
from amed.act.journal import Journal
from amed.act.runs import Runs
from amed.act.upkeep import StoreHealth
from amed.config import Settings
from amed.plan.facts import Facts, Key, Policy
from amed.store.diskspace import free_bytes_under
from amed.store.objects import ObjectStore
from spec import Project
from state.observed import Observed
from state.read import StateReader

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def policy_of(settings: Settings) -> Policy:
    return Policy(
        eviction_high_percent=settings.eviction_high_percent,
        eviction_low_percent=settings.eviction_low_percent,
        low_space_percent=settings.low_space_percent,
        alert_repeat_seconds=settings.alert_repeat_seconds,
        alert_after_failures=settings.alert_after_failures,
        deletion_grace_seconds=settings.deletion_grace_seconds,
        deletion_max_percent=settings.deletion_max_percent,
        watchdog=settings.alert_watchdog,
    )


def facts_of(
    settings: Settings,
    *,
    now: datetime,
    running: frozenset[str],
    disk_free_bytes: int | None,
    hold: frozenset[Key] = frozenset(),
    store_error: str | None = None,
    spec_error: str | None = None,
    code_digest: str | None = None,
) -> Facts:
    """`settings` is one snapshot: the policy and the budget come from the same one."""
    return Facts(
        now=now,
        running_runs=running,
        free_slots=settings.max_parallel - len(running),
        hold=hold,
        capacity_bytes=settings.capacity_bytes,
        disk_free_bytes=disk_free_bytes,
        store_error=store_error,
        spec_error=spec_error,
        code_digest=code_digest,
        policy=policy_of(settings),
    )


def code_digest_of(digests: CodeDigests, settings: Settings, desired: Project) -> str | None:
    """None when the project cannot be read: identities are then not compared on code,
    rather than every data set being produced again for a read error."""
    try:
        return digests.digest(settings.project_dir, excluded_paths(settings, desired))
    except OSError as exc:
        logs.get().warning("code_digest_failed", error=str(exc))
        return None


class Observer:
    """What a daemon's pass plans from."""

    def __init__(
        self, journal: Journal, runs: Runs, store: ObjectStore, health: StoreHealth, clock: Clock
    ) -> None:
        self.journal = journal
        self.runs = runs
        self.store = store
        self.health = health
        self.clock = clock
        self._digests: CodeDigests | None = None

    def observe(
        self,
        settings: Settings,
        desired: Project,
        *,
        hold: frozenset[Key] = frozenset(),
        spec_error: str | None = None,
    ) -> tuple[Observed, Facts]:
        # Live runs first, then the snapshot: a run that ends in between is then seen as
        # stored or failed, never as live-in-the-log-but-gone (which would mark it lost).
        live = self.runs.live()
        try:
            disk_free = self.store.free_bytes()
        except OSError:
            disk_free = None
        cache = settings.state_dir / CACHE_NAME
        if self._digests is None or self._digests.cache_file != cache:
            self._digests = CodeDigests(cache)
        facts = facts_of(
            settings,
            now=self.clock(),
            running=live,
            disk_free_bytes=disk_free,
            hold=hold,
            store_error=self.health.error,
            spec_error=spec_error,
            code_digest=code_digest_of(self._digests, settings, desired),
        )
        return self.journal.observed(), facts


def observe_read_only(
    settings: Settings, desired: Project, now: datetime
) -> tuple[Observed, Facts]:
    """The log and the facts as a dry run sees them, changing nothing (the code digest's
    cache is read, never written)."""
    reader = StateReader.in_dir(settings.state_dir)
    try:
        observed = reader.observed()
    finally:
        reader.close()
    live = frozenset(row.run_id for row in observed.datasets.values() if row.run_id)
    facts = facts_of(
        settings,
        now=now,
        running=live,
        disk_free_bytes=free_bytes_under(settings.storage_url),
        code_digest=code_digest_of(
            CodeDigests(settings.state_dir / CACHE_NAME, persist=False), settings, desired
        ),
    )
    return observed, facts
