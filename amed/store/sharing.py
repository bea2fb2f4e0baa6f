"""Serving one state of several that share a store: the claims (amed.store.claims) read,
taken and released, and the check every write and delete under a project goes through.

A layer of its own between the object access and the commit protocol, so that the
protocol (amed.store.objects) states where a claim is needed and this module alone decides
what holding one means.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from amed.errors import ProjectClaimed, StoreError
from amed.store.access import ObjectAccess
from amed.store.claims import Claim, claim_key
from state.timefmt import format_time

if TYPE_CHECKING:
    from obstore import PutMode
    from obstore.store import ObjectStore as Backend

CLAIM_ATTEMPTS = 3


class SharedAccess(ObjectAccess):
    """Until `bind`, a store serves no state and checks no claim (tests, a reader without
    a state)."""

    def __init__(self, backend: Backend, url: str, *, secrets: Collection[str] = ()) -> None:
        super().__init__(backend, url, secrets=secrets)
        self.state_id: str | None = None
        self._host = ""
        self._state_dir = ""
        self._on_claim_lost: Callable[[Claim], None] | None = None

    def bind(
        self,
        state_id: str,
        *,
        host: str = "",
        state_dir: str = "",
        on_claim_lost: Callable[[Claim], None] | None = None,
    ) -> None:
        """Serve one state from now on: its id goes into every manifest written, manifests
        of other states are refused, and writes and deletes under a project need its claim.
        `on_claim_lost` hears of each claim found held by another state when it was needed.
        An unbound store (tests, a reader without a state) checks none of this."""
        Claim("x", state_id, host, state_dir, "-")  # checks the id and the texts up front
        self.state_id, self._host, self._state_dir = state_id, host, state_dir
        self._on_claim_lost = on_claim_lost

    def read_claim(self, project: str) -> Claim | None:
        """The claim on a project, or None when no state has claimed it."""
        key = claim_key(project)
        data = self._get_bytes(key)
        if data is None:
            return None
        try:
            return Claim.from_json(data)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"{self.url}: {key} is not a valid claim: {exc}") from None

    def claim(self, project: str, *, take_over: bool = False) -> Claim:
        """Claim a project for the bound state unless another state holds it, and return
        the claim that holds afterwards (compare its `state_id`). The first claim is
        written create-only, so of two states racing exactly one wins; `take_over`
        replaces another state's claim."""
        if self.state_id is None:
            raise StoreError(f"{self.url}: claiming {project} needs a state (bind first)")
        for _ in range(CLAIM_ATTEMPTS):
            found = self.read_claim(project)
            if found is not None and (found.state_id == self.state_id or not take_over):
                return found
            stamp = format_time(datetime.now(UTC))
            mine = Claim(project, self.state_id, self._host, self._state_dir, stamp)
            mode: PutMode = "create" if found is None else "overwrite"
            if self._put_bytes(claim_key(project), mine.to_json(), mode=mode):
                return mine
        raise StoreError(f"{self.url}: the claim on project {project} keeps changing; try again")

    def release_claim(self, project: str) -> Claim | None:
        """Delete the bound state's claim on a project; return the claim that was deleted,
        or None when there was none. Another state's claim is a ProjectClaimed error."""
        found = self.read_claim(project)
        if found is None:
            return None
        if found.state_id != self.state_id:
            raise ProjectClaimed(
                f"{self.url}: project {project} is claimed by {found.owner()}, not by this "
                f"state ({self.state_id}); only that state can release it"
            )
        self._delete([claim_key(project)])
        return found

    def _require_claim(self, project: str, *, take_free: bool) -> None:
        """Refuse (ProjectClaimed) to write or delete under a project whose claim is not
        the bound state's. `take_free` claims an unclaimed project first, for a version
        this state is about to store or recorded as its own; a sweep takes nothing."""
        if self.state_id is None:
            return
        held = self.claim(project) if take_free else self.read_claim(project)
        if held is not None and held.state_id == self.state_id:
            return
        if held is None:
            raise ProjectClaimed(
                f"{self.url}: project {project} is not claimed by this state "
                f"({self.state_id}); nothing under it is deleted"
            )
        if self._on_claim_lost is not None:
            self._on_claim_lost(held)
        raise ProjectClaimed(
            f"{self.url}: project {project} is claimed by {held.owner()}, not by this "
            f"state ({self.state_id}); nothing under it is written or deleted"
        )
