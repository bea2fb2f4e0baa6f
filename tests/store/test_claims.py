"""Claims on a shared store, run against file://, memory:// and S3 on loopback: two states
that share a store never write, sweep or serve under each other's projects."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest

from amed.errors import ProjectClaimed, StoreError
from amed.store.claims import Claim, claim_key
from amed.store.manifest import Manifest, file_key, manifest_key
from amed.store.objects import ObjectStore
from tests.store.conftest import raw_keys, raw_put

CREATED_AT = "2026-11-25T10:00:00.000Z"
FIRST = "first0state0id01"
SECOND = "second0state0id2"


def state_of(store: ObjectStore, state_id: str, lost: list[Claim] | None = None) -> ObjectStore:
    """Another handle on the same objects, serving one state, as a second daemon has."""
    shared = copy.copy(store)
    shared.bind(
        state_id,
        host=f"host-{state_id[:5]}",
        state_dir=f"/var/lib/{state_id[:5]}",
        on_claim_lost=None if lost is None else lost.append,
    )
    return shared


def data_dir(tmp_path: Path, name: str, content: bytes) -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "data.bin").write_bytes(content)
    return src


def test_the_first_claim_wins_and_names_its_state(store: ObjectStore) -> None:
    first, second = state_of(store, FIRST), state_of(store, SECOND)
    held = first.claim("proj")
    assert (held.state_id, held.host, held.state_dir) == (FIRST, "host-first", "/var/lib/first")
    assert held.claimed_at.endswith("Z")
    assert second.claim("proj") == held
    assert first.claim("proj") == held, "claiming again changes nothing"
    assert store.read_claim("proj") == held
    assert "claims/proj.json" in raw_keys(store, "claims/")
    assert raw_keys(store) == {}, "the claim lives outside datasets/"


def test_of_states_racing_for_a_project_exactly_one_wins(store: ObjectStore) -> None:
    states = [state_of(store, f"racer{i:02d}state") for i in range(6)]
    results: list[Claim] = []
    gate = threading.Barrier(len(states))

    def race(state: ObjectStore) -> None:
        gate.wait()
        results.append(state.claim("proj"))

    threads = [threading.Thread(target=race, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({claim.state_id for claim in results}) == 1
    assert store.read_claim("proj") == results[0]


def test_take_over_replaces_the_claim(store: ObjectStore) -> None:
    first, second = state_of(store, FIRST), state_of(store, SECOND)
    first.claim("proj")
    assert second.claim("proj", take_over=True).state_id == SECOND
    assert store.read_claim("proj").state_id == SECOND  # type: ignore[union-attr]
    assert first.claim("proj").state_id == SECOND, "no state takes a claim back unasked"


def test_only_the_owning_state_releases_its_claim(store: ObjectStore) -> None:
    first, second = state_of(store, FIRST), state_of(store, SECOND)
    assert first.release_claim("proj") is None, "nothing to release"
    first.claim("proj")
    with pytest.raises(ProjectClaimed, match=f"claimed by state {FIRST} on host host-first"):
        second.release_claim("proj")
    assert store.read_claim("proj").state_id == FIRST  # type: ignore[union-attr]
    assert first.release_claim("proj").state_id == FIRST  # type: ignore[union-attr]
    assert store.read_claim("proj") is None
    assert second.claim("proj").state_id == SECOND


def test_storing_claims_a_free_project_and_writes_the_state_id(
    store: ObjectStore, tmp_path: Path
) -> None:
    first = state_of(store, FIRST)
    manifest = first.put_version(
        "proj", "n", 1, data_dir(tmp_path, "a", b"first"), created_at=CREATED_AT
    )
    assert manifest.state_id == FIRST
    assert store.read_claim("proj").state_id == FIRST  # type: ignore[union-attr]
    assert json.loads(raw_bytes(store, manifest_key("proj", "n", 1)))["state_id"] == FIRST


def test_a_state_neither_stores_nor_deletes_nor_sweeps_under_another_states_claim(
    store: ObjectStore, tmp_path: Path
) -> None:
    lost: list[Claim] = []
    first, second = state_of(store, FIRST), state_of(store, SECOND, lost)
    stored = first.put_version(
        "proj", "n", 1, data_dir(tmp_path, "a", b"first"), created_at=CREATED_AT
    )
    before = raw_keys(store)
    with pytest.raises(ProjectClaimed, match=f"claimed by state {FIRST}"):
        second.put_version(
            "proj", "n", 1, data_dir(tmp_path, "b", b"second"), created_at=CREATED_AT
        )
    with pytest.raises(ProjectClaimed):
        second.delete_version("proj", "n", 1)
    with pytest.raises(ProjectClaimed):
        second.sweep_debris([], project="proj")
    assert raw_keys(store) == before
    assert [claim.state_id for claim in lost] == [FIRST] * 3
    assert first.read_manifest("proj", "n", 1) == stored


def test_a_sweep_leaves_an_unclaimed_project_alone(store: ObjectStore) -> None:
    raw_put(store, file_key("legacy", "n", 1, "x"), b"someone's")
    first = state_of(store, FIRST)
    with pytest.raises(ProjectClaimed, match="not claimed by this state"):
        first.sweep_debris([], project="legacy")
    with pytest.raises(StoreError, match="one project at a time"):
        first.sweep_debris([])
    assert file_key("legacy", "n", 1, "x") in raw_keys(store)
    assert store.read_claim("legacy") is None, "a sweep claims nothing"


def test_two_projects_on_one_store_keep_their_data_through_each_others_sweeps(
    store: ObjectStore, tmp_path: Path
) -> None:
    first, second = state_of(store, FIRST), state_of(store, SECOND)
    one = first.put_version("one", "n", 1, data_dir(tmp_path, "a", b"1"), created_at=CREATED_AT)
    two = second.put_version("two", "n", 1, data_dir(tmp_path, "b", b"2"), created_at=CREATED_AT)
    raw_put(store, file_key("one", "n", 7, "crash"), b"debris")
    assert first.sweep_debris([("one", "n", 1)], project="one") == [
        file_key("one", "n", 7, "crash")
    ]
    assert second.sweep_debris([("two", "n", 1)], project="two") == []
    assert first.verify(one, check_hashes=True) == []
    assert second.verify(two, check_hashes=True) == []


def test_another_states_manifest_at_our_key_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    first, second = state_of(store, FIRST), state_of(store, SECOND)
    first.claim("proj")
    second.claim("proj", take_over=True)
    second.put_version("proj", "n", 1, data_dir(tmp_path, "b", b"second"), created_at=CREATED_AT)
    with pytest.raises(StoreError, match=f"stored by state {SECOND}, not by this state"):
        first.read_manifest("proj", "n", 1)
    with pytest.raises(StoreError, match="refusing another state's data"):
        store.read_manifest("proj", "n", 1, state_id=FIRST)
    assert store.read_manifest("proj", "n", 1) is not None, "an unbound reader checks nothing"
    assert second.read_manifest("proj", "n", 1) is not None


def test_a_manifest_from_before_state_ids_is_still_served(store: ObjectStore) -> None:
    legacy = Manifest("proj", "n", 1, CREATED_AT, ())
    raw_put(store, manifest_key("proj", "n", 1), legacy.to_json())
    assert state_of(store, FIRST).read_manifest("proj", "n", 1) == legacy


def test_an_unbound_store_writes_no_claim(store: ObjectStore, tmp_path: Path) -> None:
    store.put_version("proj", "n", 1, data_dir(tmp_path, "a", b"x"), created_at=CREATED_AT)
    assert raw_keys(store, "claims/") == {}
    assert store.read_manifest("proj", "n", 1).state_id is None  # type: ignore[union-attr]


def test_a_damaged_claim_is_one_line_error(store: ObjectStore) -> None:
    raw_put(store, claim_key("proj"), b"{not json")
    with pytest.raises(StoreError, match=r"claims/proj.json is not a valid claim") as info:
        state_of(store, FIRST).claim("proj")
    assert "\n" not in str(info.value)


def test_claims_round_trip_and_refuse_what_is_not_one() -> None:
    claim = Claim("proj", FIRST, "h", "/s", CREATED_AT)
    assert Claim.from_json(claim.to_json()) == claim
    for bad in (b"[]", b'{"format": 2}', json.dumps({"format": 1, "project": "p"}).encode()):
        with pytest.raises(ValueError):
            Claim.from_json(bad)
    with pytest.raises(ValueError):
        Claim("a/b", FIRST, "h", "/s", CREATED_AT)
    with pytest.raises(ValueError):
        Claim("proj", FIRST, "h\nforged line", "/s", CREATED_AT)


def raw_bytes(store: ObjectStore, key: str) -> bytes:
    import obstore

    return bytes(obstore.get(store._backend, key).bytes())
