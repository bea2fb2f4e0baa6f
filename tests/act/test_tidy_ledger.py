"""The tidy ledger: a sweep reads only the pointers of data sets the log changed since the
last tidy, and every pointer when the ledger cannot vouch for them (forgotten after an
unclean stop, unreadable, or a day old)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amed.act.upkeep import (
    FULL_TIDY_SECONDS,
    StoreHealth,
    TidyLedger,
    keep_ledger,
    sweep_debris,
)
from amed.store.manifest import Manifest
from amed.store.objects import ObjectStore
from amed.store.pointer import pointer_key
from amed.store.schemes import open_store
from state.db import StateStore
from state.events import DatasetDeclared, Event, RunStarted, RunSucceeded, VersionStored
from tests.store.conftest import raw_delete, raw_keys, raw_put

AT = datetime(2026, 1, 1, tzinfo=UTC)
SPEC_HASH = "ab" * 32


@dataclass
class World:
    tmp: Path
    state: StateStore
    store: ObjectStore
    ledger: TidyLedger

    def stored(self, name: str, version: int, *, publish: bool = True) -> Manifest:
        """A version put in the store and committed in the log, its pointer written or not
        (a publish that failed)."""
        src = self.tmp / f"src-{name}-{version}"
        src.mkdir()
        (src / "x").write_text(f"{name} {version}")
        manifest = self.store.put_version(
            "p", name, version, src, created_at="2026-01-01T00:00:00Z"
        )
        run_id = f"{name}-v{version}"
        common = {"at": AT + timedelta(seconds=version), "project": "p", "dataset": name}
        events: list[Event] = []
        if version == 1:
            events.append(
                DatasetDeclared(
                    **common, spec_hash=SPEC_HASH, path=name, task="t", declared_size_bytes=None
                )
            )
        events += [
            RunStarted(
                **common, run_id=run_id, version=version, spec_hash=SPEC_HASH, task="t", attempt=1
            ),
            RunSucceeded(**common, run_id=run_id, seconds=0.01),
            VersionStored(
                **common,
                run_id=run_id,
                version=version,
                spec_hash=SPEC_HASH,
                size_bytes=manifest.size_bytes,
                files=len(manifest.files),
                seconds=0.01,
            ),
        ]
        self.state.append(events)
        if publish:
            self.store.publish(manifest)
        return manifest

    def sweep(self) -> list[str] | None:
        return sweep_debris(self.store, self.state.observed(), {"p"}, StoreHealth())

    def current(self, name: str) -> int | None:
        pointer = self.store.read_pointer("p", name)
        return None if pointer is None else pointer.current


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = open_store((tmp_path / "objects").as_uri())
    with StateStore.in_dir(tmp_path / "state") as state:
        ledger = TidyLedger(tmp_path / "state", store.url)
        keep_ledger(store, ledger)
        yield World(tmp_path, state, store, ledger)


def test_after_a_tidy_only_the_pointers_of_data_sets_the_log_changed_are_read(
    world: World,
) -> None:
    world.stored("a", 1)
    world.stored("b", 1)
    assert world.sweep() == []
    assert world.ledger.path.exists()
    raw_delete(world.store, pointer_key("p", "a"))  # what no event of the log explains
    world.stored("b", 2, publish=False)  # committed, its pointer write failed
    world.sweep()
    assert world.current("b") == 2, "a data set with events since the tidy is read and mended"
    assert world.current("a") is None, "one without is not read"
    world.ledger.forget()  # what a start after an unclean stop does
    world.sweep()
    assert world.current("a") == 1, "after that, every pointer is read"


@pytest.mark.parametrize(
    "damage",
    [
        "not json",
        json.dumps(
            {
                "store": "file:///elsewhere",
                "event_id": 10**9,
                "full_at": time.time(),
                "projects": ["p"],
            }
        ),
        json.dumps({"event_id": 10**9, "full_at": time.time(), "projects": ["p"]}),
        "stale",
        "fewer projects",
    ],
    # Ids that do not hold the time, so every xdist worker collects the same tests.
    ids=["not json", "another store", "no store", "stale", "fewer projects"],
)
def test_a_ledger_that_cannot_vouch_for_the_pointers_has_every_one_read(
    world: World, damage: str
) -> None:
    world.stored("a", 1)
    assert world.sweep() == []
    stamp = json.loads(world.ledger.path.read_text())
    if damage == "stale":
        stamp["full_at"] -= FULL_TIDY_SECONDS + 1
        damage = json.dumps(stamp)
    elif damage == "fewer projects":
        stamp["projects"] = ["other"]
        damage = json.dumps(stamp)
    world.ledger.path.write_text(damage)
    raw_delete(world.store, pointer_key("p", "a"))
    assert world.sweep() == []
    assert world.current("a") == 1
    assert pointer_key("p", "a") in raw_keys(world.store)
    assert json.loads(world.ledger.path.read_text())["store"] == world.store.url


def test_a_store_the_log_changed_nothing_in_since_the_last_sweep_is_not_listed(
    world: World,
) -> None:
    world.stored("a", 1)
    assert world.sweep() == []
    debris = "datasets/p/a/9/manifest.json"
    raw_put(world.store, debris, b"{}")  # what only a crash leaves
    assert world.sweep() == [], "nothing happened since: the store is not even listed"
    assert debris in raw_keys(world.store)
    world.ledger.forget()
    assert debris in (world.sweep() or [])
    assert debris not in raw_keys(world.store)
