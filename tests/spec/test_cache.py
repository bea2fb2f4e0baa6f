"""The cache of a loaded ame.yaml: served only for the very same file and limits, warnings
included; anything wrong with it is a miss, never an error; a bad file is always reported."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from spec import SpecError, load_project
from spec.cache import load_project_cached

SPEC = """\
projectname: cached
dataSets:
  - name: d
    path: out
    task:
      executor: !custom
        command: make
        pythonVersion: "3.11"
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "project").mkdir()
    (tmp_path / "state").mkdir()
    spec = tmp_path / "project" / "ame.yaml"
    spec.write_text(SPEC)
    return spec, tmp_path / "state" / "spec-cache.pickle"


def swap_cached_name(cache: Path, name: str) -> None:
    """Rewrite the cached project under the same key: a load that returns it was served
    from the cache."""
    data = cache.read_bytes()
    key, _, body = data.partition(b"\n")
    project = pickle.loads(body)
    cache.write_bytes(key + b"\n" + pickle.dumps(project.model_copy(update={"name": name})))


def test_an_unchanged_file_is_served_from_the_cache_with_its_warnings(
    files: tuple[Path, Path],
) -> None:
    spec, cache = files
    loaded = load_project_cached(spec, cache)
    assert loaded == load_project(spec)
    assert loaded.warnings and "pythonVersion" in loaded.warnings[0]
    swap_cached_name(cache, "from_the_cache")
    again = load_project_cached(spec, cache)
    assert again.name == "from_the_cache"
    assert again.warnings == loaded.warnings


@pytest.mark.parametrize("change", ["the file", "the size limit", "the path"])
def test_anything_the_result_depends_on_makes_a_miss(files: tuple[Path, Path], change: str) -> None:
    spec, cache = files
    load_project_cached(spec, cache)
    swap_cached_name(cache, "stale")
    if change == "the file":
        spec.write_text(SPEC.replace("make", "make all"))
        assert load_project_cached(spec, cache).name == "cached"
    elif change == "the size limit":
        assert load_project_cached(spec, cache, max_bytes=2 * 1024 * 1024).name == "cached"
    else:
        moved = spec.parent.parent / "elsewhere"
        spec.parent.rename(moved)
        assert load_project_cached(moved / "ame.yaml", cache).name == "cached"


@pytest.mark.parametrize(
    "damage", [b"", b"garbage", b"0" * 64 + b"\nnot a pickle", "truncated", "writable"]
)
def test_a_damaged_or_untrusted_cache_is_a_miss_never_an_error(
    files: tuple[Path, Path], damage: bytes | str
) -> None:
    spec, cache = files
    load_project_cached(spec, cache)
    swap_cached_name(cache, "stale")
    if damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:100])
    elif damage == "writable":
        cache.chmod(0o664)  # anyone in the group could have written it
    else:
        assert isinstance(damage, bytes)
        cache.write_bytes(damage)
    assert load_project_cached(spec, cache) == load_project(spec)
    assert load_project_cached(spec, cache).name == "cached"


def test_a_bad_file_is_reported_with_its_location_whatever_the_cache_holds(
    files: tuple[Path, Path],
) -> None:
    spec, cache = files
    load_project_cached(spec, cache)
    spec.write_text(SPEC.replace("path: out", "path: out\n    bogus: 1"))
    with pytest.raises(SpecError) as raised:
        load_project_cached(spec, cache)
    assert f"{spec}:5:5" in str(raised.value)
    assert "bogus" in str(raised.value)


def test_a_cache_that_cannot_be_written_costs_nothing_but_the_load(tmp_path: Path) -> None:
    spec = tmp_path / "ame.yaml"
    spec.write_text(SPEC)
    missing = tmp_path / "no such dir" / "spec-cache.pickle"
    assert load_project_cached(spec, missing) == load_project(spec)
    assert not missing.parent.exists()
