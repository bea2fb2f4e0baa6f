"""Opening a store from a URL: what is accepted, and what is refused in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from amed.errors import StoreError
from amed.store.schemes import OPENERS, open_store


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://user:hunter2@host/dir", "unknown store scheme 'ftp'"),
        ("no-scheme-at-all", "unknown store scheme ''"),
        ("s3://", "needs a bucket"),
        ("s3://user:hunter2@bucket?endpoint=x", "takes no query"),
        ("memory://somewhere", "nothing after it"),
        ("file://", "needs a directory"),
        ("gs://user:hunter2@bucket", "credentials in the environment"),
        ("az://user:hunter2@container/prefix", "credentials in the environment"),
        ("az:///prefix", "needs a container"),
        ("gs:///prefix", "needs a bucket"),
    ],
)
def test_bad_store_urls_are_refused_with_one_clear_line(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as raised:
        open_store(url)
    assert "\n" not in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_file_url_creates_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "objects"
    store = open_store(f"file://{root}")
    assert root.is_dir()
    assert store.url == f"file://{root}"
    assert store.used_bytes() == 0


def test_file_url_under_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(StoreError, match="cannot create"):
        open_store(f"file://{tmp_path / 'plain' / 'objects'}")


def test_each_memory_store_starts_empty() -> None:
    assert open_store("memory://").used_bytes() == 0
    assert open_store("memory://").url == "memory://"


def test_an_unknown_scheme_names_every_scheme_in_the_table() -> None:
    with pytest.raises(StoreError) as raised:
        open_store("ftp://host/dir")
    assert all(f"{scheme}://" in str(raised.value) for scheme in OPENERS)


def test_a_file_url_with_a_password_is_refused_without_showing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`file://user:password@/dir` is no store: refused, naming it without the password,
    and no directory named after the password is made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError) as raised:
        open_store(f"file://ops:pw-secret-9z@{tmp_path}/store")
    assert "pw-secret-9z" not in str(raised.value), raised.value
    assert "user or password" in str(raised.value)
    assert not [p for p in tmp_path.rglob("*") if "pw-secret-9z" in p.name]
