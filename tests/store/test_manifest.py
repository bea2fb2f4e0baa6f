"""The manifest and the key layout: pure functions, no store needed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amed.store.manifest import (
    FileEntry,
    Manifest,
    file_key,
    manifest_key,
    parse_version_key,
    version_prefix,
)

SHA_A = "a" * 64
CREATED_AT = "2026-11-25T10:00:00.000Z"


def manifest(*files: FileEntry, skipped: tuple[str, ...] = ()) -> Manifest:
    return Manifest("proj", "mnist", 3, CREATED_AT, files, skipped)


def test_keys_follow_the_documented_layout() -> None:
    assert version_prefix("proj", "mnist", 3) == "datasets/proj/mnist/3/"
    assert manifest_key("proj", "mnist", 3) == "datasets/proj/mnist/3/manifest.json"
    assert file_key("proj", "mnist", 3, "a/b.txt") == "datasets/proj/mnist/3/files/a/b.txt"


def test_file_keys_escape_only_what_a_store_cannot_hold_or_would_misread() -> None:
    assert file_key("p", "n", 1, "x#3") == "datasets/p/n/1/files/x%233"
    assert file_key("p", "n", 1, "100%") == "datasets/p/n/1/files/100%25"
    assert file_key("p", "n", 1, "a\nb") == "datasets/p/n/1/files/a%0Ab"
    assert file_key("p", "n", 1, "\u00fc b.txt") == "datasets/p/n/1/files/\u00fc b.txt"


@pytest.mark.parametrize(
    ("key", "owner"),
    [
        ("datasets/p/n/3/manifest.json", ("p", "n", 3)),
        ("datasets/p/n/3/files/a/b", ("p", "n", 3)),
        ("datasets/p/n/12/anything", ("p", "n", 12)),
        ("datasets/p/n/03/files/a", None),
        ("datasets/p/n/0/files/a", None),
        ("datasets/p/n/x/files/a", None),
        ("datasets/p/n/3", None),
        ("datasets/p/n/3/", None),
        ("other/p/n/3/files/a", None),
        ("datasets/p/3", None),
    ],
)
def test_parse_version_key_names_the_owning_version(
    key: str, owner: tuple[str, str, int] | None
) -> None:
    assert parse_version_key(key) == owner


@pytest.mark.parametrize(
    ("project", "dataset", "version"),
    [("", "n", 1), ("p/q", "n", 1), ("p", "..", 1), ("p", "n", 0), ("p", "n", True)],
)
def test_version_prefix_refuses_what_cannot_be_a_key(
    project: str, dataset: str, version: int
) -> None:
    with pytest.raises(ValueError):
        version_prefix(project, dataset, version)


def test_size_is_the_sum_of_the_files() -> None:
    m = manifest(FileEntry("a", 3, SHA_A), FileEntry("b/c", 4, SHA_A))
    assert m.size_bytes == 7
    assert json.loads(m.to_json())["size_bytes"] == 7


names = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"), min_size=1
).filter(lambda s: s not in (".", ".."))


@given(
    paths=st.sets(st.lists(names, min_size=1, max_size=3).map("/".join), max_size=8),
    size=st.integers(min_value=0, max_value=2**53),
    skipped=st.lists(st.text(), max_size=3),
)
def test_json_round_trip_keeps_every_field(paths: set[str], size: int, skipped: list[str]) -> None:
    m = manifest(*(FileEntry(p, size, SHA_A) for p in sorted(paths)), skipped=tuple(skipped))
    assert Manifest.from_json(m.to_json()) == m


def valid_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(manifest(FileEntry("a", 1, SHA_A)).to_json())
    return document


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format=2),
        lambda d: d.update(version="3"),
        lambda d: d.update(version=True),
        lambda d: d.update(created_at="yesterday"),
        lambda d: d.update(created_at="2026-11-25T10:00:00"),
        lambda d: d.update(created_at="2026-11-25T10:00:00+02:00"),
        lambda d: d.update(size_bytes=99),
        lambda d: d.update(skipped="a string"),
        lambda d: d.pop("files"),
        lambda d: d["files"].append({"path": "a", "size_bytes": 1, "sha256": SHA_A}),
        lambda d: d["files"][0].update(path="../escape"),
        lambda d: d["files"][0].update(path="/abs"),
        lambda d: d["files"][0].update(size_bytes=-1),
        lambda d: d["files"][0].update(sha256="XYZ"),
        lambda d: d["files"].insert(0, {"path": "b", "size_bytes": 1, "sha256": SHA_A}),
        lambda d: d.update(state_id=None),
        lambda d: d.update(state_id="../etc"),
        lambda d: d.update(state_id="short"),
    ],
)
def test_from_json_refuses_a_malformed_manifest(change: object) -> None:
    document = valid_document()
    change(document)  # type: ignore[operator]
    with pytest.raises(ValueError):
        Manifest.from_json(json.dumps(document).encode())


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b"\xff\xfe", b"null"])
def test_from_json_refuses_junk(data: bytes) -> None:
    with pytest.raises(ValueError):
        Manifest.from_json(data)


def test_the_state_id_travels_with_the_manifest() -> None:
    m = Manifest("proj", "mnist", 3, CREATED_AT, (), state_id="0123456789abcdef")
    assert json.loads(m.to_json())["state_id"] == "0123456789abcdef"
    assert Manifest.from_json(m.to_json()) == m


def test_a_manifest_written_before_state_ids_still_parses_without_one() -> None:
    document = valid_document()
    assert "state_id" not in document
    assert Manifest.from_json(json.dumps(document).encode()).state_id is None
