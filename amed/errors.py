"""Error types of the store and alert doors, in a module that imports nothing heavy: the
CLI maps them to exit codes without loading obstore or apprise for a `ame ds list`."""

from __future__ import annotations


class StoreError(Exception):
    """The store refused or failed; one line, never credentials."""


class StoreURLError(StoreError):
    """The store URL itself is wrong (its shape or scheme): invalid input, not a failure."""


class StoreUnavailable(StoreError):
    """Temporary: the network is down, a request timed out, the server answered 5xx."""


class OutOfSpace(StoreError):
    """The disk under the store (ENOSPC) or the caller's budget is full."""


class AlertConfigError(Exception):
    """An alert URL or apprise config that cannot be used; the message holds no secret."""


class ProjectClaimed(StoreError):
    """A project's prefix in a shared store belongs to another state (amed.store.claims): this
    state may neither write nor delete there."""
