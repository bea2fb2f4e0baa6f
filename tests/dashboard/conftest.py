"""A state dir with one data set in each interesting state, and a real dashboard on loopback."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from amed.web.live import SCRIPT
from amed.web.server import Dashboard, start_dashboard
from state.db import StateStore
from state.events import (
    AlertDelivered,
    AlertDeliveryFailed,
    AlertRaised,
    DatasetDeclared,
    DatasetEvicted,
    DatasetRemoved,
    Event,
    RunFailed,
    RunStarted,
    RunSucceeded,
    VersionDeleted,
    VersionStored,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MiB = 2**20
CAPACITY_BYTES = 64 * MiB
MNIST_BYTES = 3 * MiB
HOSTILE_NAME = "<i>odd</i>"
HOSTILE_REASON = "exited with code 2: <script>alert('x')</script> & \"quoted\""
HOSTILE_OUTPUT = "<img src=x onerror=alert(1)>\n"
HOSTILE_TITLE = "<b>broken</b> keeps failing"


def _declared(name: str, at: datetime, size_bytes: int | None = None) -> DatasetDeclared:
    return DatasetDeclared(
        at=at,
        project="demo",
        dataset=name,
        spec_hash=f"hash-{name}",
        path=f"data/{name}",
        task="make",
        declared_size_bytes=size_bytes,
    )


def _stored(name: str, at: datetime, size_bytes: int, version: int = 1) -> list[Event]:
    run = f"{name}-{version}"
    return [
        RunStarted(
            at=at,
            project="demo",
            dataset=name,
            run_id=run,
            version=version,
            spec_hash=f"hash-{name}",
            task="make",
            attempt=1,
        ),
        RunSucceeded(at=at, project="demo", dataset=name, run_id=run, seconds=2.5),
        VersionStored(
            at=at + timedelta(seconds=3),
            project="demo",
            dataset=name,
            run_id=run,
            version=version,
            spec_hash=f"hash-{name}",
            size_bytes=size_bytes,
            files=4,
            seconds=0.5,
        ),
    ]


def seed_events() -> list[Event]:
    """mnist ready (3 MiB of a declared 8 MiB), broken failed with a hostile error, old
    evicted, gone removed, a data set with a hostile name pending; one alert firing, one
    delivery that worked and one that did not."""
    events: list[Event] = [
        _declared("mnist", T0, 8 * MiB),
        *_stored("mnist", T0, MNIST_BYTES),
        _declared("broken", T0),
        RunStarted(
            at=T0,
            project="demo",
            dataset="broken",
            run_id="broken-1",
            version=1,
            spec_hash="hash-broken",
            task="make",
            attempt=1,
        ),
        RunFailed(
            at=T0 + timedelta(seconds=1),
            project="demo",
            dataset="broken",
            run_id="broken-1",
            stage="task",
            reason=HOSTILE_REASON,
            exit_code=2,
            output_tail=HOSTILE_OUTPUT,
        ),
        _declared("old", T0),
        *_stored("old", T0, 7 * MiB),
        DatasetEvicted(
            at=T0 + timedelta(minutes=5),
            project="demo",
            dataset="old",
            version=1,
            reason="making room for big",
            bytes_freed=7 * MiB,
        ),
        VersionDeleted(
            at=T0 + timedelta(minutes=5),
            project="demo",
            dataset="old",
            version=1,
            reason="evicted",
            objects=5,
        ),
        _declared("gone", T0),
        DatasetRemoved(
            at=T0 + timedelta(minutes=6), project="demo", dataset="gone", reason="not declared"
        ),
        _declared(HOSTILE_NAME, T0),
        AlertRaised(
            at=T0,
            project="demo",
            key="failed:demo/broken",
            severity="critical",
            title=HOSTILE_TITLE,
            body="see ame ds show broken",
        ),
        AlertDelivered(
            at=T0, project="demo", key="failed:demo/broken", notice="alert", channels=("json://a",)
        ),
        AlertDeliveryFailed(
            at=T0,
            project="demo",
            key="failed:demo/broken",
            notice="alert",
            channel="json://b",
            error="connection refused",
        ),
    ]
    return events


def seed(state_dir: Path) -> Path:
    with StateStore.in_dir(state_dir) as store:
        store.append(seed_events())
    return state_dir


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: str


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> Reply:
    """One real HTTP request; error statuses are replies too, not exceptions."""
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read().decode())


def without_our_script(page: str) -> str:
    """The page less the one script the dashboard writes itself (exactly once): whatever
    `<script` is left came from data and was not escaped."""
    ours = f"<script>{SCRIPT}</script>"
    assert page.count(ours) == 1, "the page does not carry its live-update script once"
    return page.replace(ours, "")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return seed(tmp_path / "state")


@pytest.fixture
def dashboard(state_dir: Path, tmp_path: Path) -> Iterator[Dashboard]:
    with start_dashboard(
        state_dir,
        "127.0.0.1:0",
        capacity_bytes=CAPACITY_BYTES,
        storage_url=(tmp_path / "objects").as_uri(),
    ) as running:
        yield running
