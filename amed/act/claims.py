"""Which of its projects this state may act on, in a store other states may share.

The store is bound to this state's id (amed.store.claims). A project another state has
claimed is left alone from the moment that is seen (at start, when the project's name
changes, at a sweep, or when a version is stored or deleted): nothing is produced, stored,
evicted or swept there any more, and the daemon says so once.

`ProjectClaims._lock` guards `_lost`: run workers report a lost claim too (the store calls
`lost_to` when it refuses a version being stored). `_checked` and `_take_over` belong to the
pass thread.
"""

from __future__ import annotations

import threading

from amed import logs
from amed.act.upkeep import StoreHealth
from amed.errors import ProjectClaimed, StoreError
from amed.store.claims import Claim
from amed.store.objects import ObjectStore


def claim_refusal(project: str, held: Claim, store_url: str) -> str:
    """The one line that says whose a project is, and the two ways to change that."""
    return (
        f"project {project} in {store_url} is claimed by {held.owner()} since "
        f"{held.claimed_at}; to take it over run `amed run --take-over` (that state's data "
        f"under datasets/{project}/ will then be swept), or release it on host {held.host}: "
        f"`ame store release {project} --state-dir {held.state_dir}`"
    )


class ProjectClaims:
    def __init__(
        self, store: ObjectStore, state_id: str, health: StoreHealth, *, take_over: bool
    ) -> None:
        """`take_over`: the first project claimed is taken from whichever state holds it."""
        self.store = store
        self.state_id = state_id
        self.health = health
        self._lock = threading.Lock()
        self._lost: dict[str, Claim] = {}  # projects another state holds, as last seen
        self._checked: str | None = None  # the project whose claim was checked last
        self._take_over = take_over
        self._log = logs.get()

    def claim(self, project: str) -> None:
        """Claim ame.yaml's project at start, before anything else of it is written: a
        ProjectClaimed error (the daemon refuses to start) when another state holds it.
        A store that cannot be reached now is tried again at the next pass."""
        held = self._check(project)
        if held is not None and held.state_id != self.state_id:
            raise ProjectClaimed(claim_refusal(project, held, self.store.url))

    def check_renamed(self, project: str) -> None:
        """At each pass: a project not checked yet (renamed, or unreachable last time) is
        claimed, or left alone when another state holds it."""
        if project == self._checked:
            return
        held = self._check(project)
        if held is not None and held.state_id != self.state_id:
            self.lost_to(held)

    def lost(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._lost)

    def lost_to(self, held: Claim) -> None:
        """Another state holds a project of ours: said once, then the project is left
        alone."""
        with self._lock:
            known = self._lost.get(held.project)
            self._lost[held.project] = held
        if known != held:
            self._log.error(
                "project_claimed_elsewhere",
                project=held.project,
                error=claim_refusal(held.project, held, self.store.url),
            )

    def _check(self, project: str) -> Claim | None:
        """Claim the project if it is free (or, once, take it over when asked to), and
        return the claim that holds; None when the store could not say."""
        self._checked = project
        take_over, self._take_over = self._take_over, False
        try:
            held = self.store.claim(project, take_over=take_over)
        except StoreError as exc:
            self._checked, self._take_over = None, take_over  # again at the next pass
            self.health.report(exc)
            self._log.warning("claim_check_failed", project=project, error=str(exc))
            return None
        if held.state_id == self.state_id:
            with self._lock:
                self._lost.pop(project, None)
            self._log.info("project_claimed", project=project, taken_over=take_over)
        return held
