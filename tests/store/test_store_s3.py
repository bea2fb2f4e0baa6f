"""S3 on loopback: unreachable endpoints, missing buckets, credentials kept out of sight."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from amed.errors import OutOfSpace, StoreError, StoreUnavailable
from amed.store.schemes import open_store
from tests.store.conftest import (
    S3_ACCESS_KEY_ID,
    S3_SECRET_ACCESS_KEY,
    create_bucket,
    free_port,
    use_s3_environment,
)

CREATED_AT = "2026-11-25T10:00:00Z"
URL_KEY_ID = "AKIAURLKEYID"
URL_SECRET = "url-secret-must-never-show"


def test_unreachable_endpoint_raises_store_unavailable_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed_port = free_port()
    use_s3_environment(monkeypatch, f"http://127.0.0.1:{closed_port}")
    store = open_store(f"s3://{URL_KEY_ID}:{URL_SECRET}@bucket/prefix")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"a")

    with pytest.raises(StoreUnavailable) as raised:
        store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)
    with pytest.raises(StoreUnavailable) as raised_read:
        store.read_manifest("p", "n", 1)

    assert store.url == "s3://bucket/prefix"
    for error in (raised.value, raised_read.value):
        text = str(error)
        assert "\n" not in text
        assert text.startswith("s3://bucket/prefix: ")
        for secret in (URL_SECRET, URL_KEY_ID, S3_SECRET_ACCESS_KEY):
            assert secret not in text
    assert URL_SECRET not in repr(store)


def test_credentials_in_the_url_are_used_and_never_shown(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_s3_environment(monkeypatch, s3_endpoint)
    bucket = create_bucket(s3_endpoint)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = open_store(f"s3://{URL_KEY_ID}:{URL_SECRET}@{bucket}")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"a")

    manifest = store.put_version("p", "n", 1, tmp_path / "src", created_at=CREATED_AT)

    assert store.read_manifest("p", "n", 1) == manifest
    assert store.url == f"s3://{bucket}"
    assert URL_SECRET not in repr(store)


def test_missing_bucket_is_a_permanent_error_not_an_absent_version(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3_environment(monkeypatch, s3_endpoint)
    store = open_store("s3://no-such-bucket-here")

    with pytest.raises(StoreError, match="bucket does not exist") as raised:
        store.read_manifest("p", "n", 1)

    assert not isinstance(raised.value, StoreUnavailable)
    assert S3_SECRET_ACCESS_KEY not in str(raised.value)
    assert S3_ACCESS_KEY_ID not in str(raised.value)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_temporary(
    answering_with: Callable[[int], str], status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3_environment(monkeypatch, answering_with(status))
    store = open_store("s3://bucket")
    with pytest.raises(StoreUnavailable, match=str(status)):
        store.read_manifest("p", "n", 1)
    with pytest.raises(StoreUnavailable):
        store.used_bytes()


@pytest.mark.parametrize("status", [400, 403])
def test_refusals_are_permanent_errors(
    answering_with: Callable[[int], str], status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3_environment(monkeypatch, answering_with(status))
    store = open_store("s3://bucket")
    with pytest.raises(StoreError, match=str(status)) as raised:
        store.used_bytes()
    assert not isinstance(raised.value, StoreUnavailable | OutOfSpace)
    assert "\n" not in str(raised.value)
