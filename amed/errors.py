"""Error types every layer may raise, in a module that imports nothing heavy: the CLI maps
them to exit codes without loading obstore, apprise or pydantic for a `ame ds list`."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting is invalid; the message starts with where it came from."""


class StateDirError(Exception):
    """`ame` found no state database where it looked, or may not read it: the operation
    fails (exit 1); the message names the places and, for a permission, the group that may."""


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
