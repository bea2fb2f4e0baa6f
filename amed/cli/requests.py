"""What the CLI asks of the daemon: request events appended to the log, and whether a
daemon is there to act on them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from state.read import StateReader

if TYPE_CHECKING:
    from state.events import Event


def now() -> datetime:
    return datetime.now(UTC)


def append(state_dir: Path, events: Sequence[Event]) -> None:
    from state.db import StateStore  # the writer, only when a command writes

    with StateStore.in_dir(state_dir) as store:
        store.append(events)


def daemon_alive(state_dir: Path) -> bool:
    reader = StateReader.in_dir(state_dir)
    try:
        row = reader.daemon()
    finally:
        reader.close()
    return row is not None and row.alive_at(now())


def no_daemon_hint(state_dir: Path) -> str:
    return (
        f"no amed daemon is running for {state_dir}; start one (`systemctl start amed` or "
        "`amed run`), or run `amed run --once`"
    )
