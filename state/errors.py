"""Error types of the state store, importable without SQLite's writer or the event models."""

from __future__ import annotations


class StateError(Exception):
    """The state database cannot be used: newer than this program, or corrupt."""


class StoreMismatch(StateError):
    """The state dir's versions live in another store than the one given."""
