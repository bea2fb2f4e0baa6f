from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Workspace
from tests.service.daemon import Daemon

StartDaemon = Callable[..., Daemon]


@pytest.fixture
def start_daemon(ws: Workspace) -> Iterator[StartDaemon]:
    """Start `amed run` processes; any still running when the test ends is killed."""
    started: list[Daemon] = []

    def start(*args: str, **kwargs: object) -> Daemon:
        daemon = Daemon(ws, *args, **kwargs)  # type: ignore[arg-type]
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()
