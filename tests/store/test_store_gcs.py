"""GCS, covered by configuration: no emulator answers obstore's XML-API writes (README,
"Stores"), so these check amed's side of the door against plain HTTP endpoints on
127.0.0.1 that record what they are asked: the bucket, prefix and endpoint a `gs://` URL
and the GOOGLE_* variables give, the token sent and never shown, and obstore's answers
turned into our errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from amed.errors import OutOfSpace, StoreError, StoreUnavailable
from amed.store.schemes import open_store
from tests.store.conftest import Answered

TOKEN = "ya29.gcs-token-must-never-show"


def use_gcs_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_SERVICE_ACCOUNT", "GOOGLE_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_BASE_URL", endpoint)
    monkeypatch.setenv("GOOGLE_BEARER_TOKEN", TOKEN)


def test_a_gs_url_reads_its_bucket_and_prefix_at_the_configured_endpoint(
    answering: Callable[..., Answered], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing object is an absent version; the request went to GOOGLE_BASE_URL, under
    the URL's bucket and prefix, with the token from the environment."""
    endpoint = answering(404, "NoSuchKey")
    use_gcs_environment(monkeypatch, endpoint.url)
    store = open_store("gs://team-bucket/amed/objects")

    assert store.read_manifest("p", "n", 1) is None

    [(method, path, auth)] = endpoint.requests
    assert (method, path) == ("GET", "/team-bucket/amed/objects/datasets/p/n/1/manifest.json")
    assert auth == f"Bearer {TOKEN}"
    assert store.url == "gs://team-bucket/amed/objects"
    assert TOKEN in store.credentials  # masked in what tasks print


def test_a_missing_bucket_is_a_permanent_error_not_an_absent_version(
    answering: Callable[..., Answered], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_gcs_environment(monkeypatch, answering(404, "NoSuchBucket").url)
    store = open_store("gs://no-such-bucket")

    with pytest.raises(StoreError, match="the bucket does not exist") as raised:
        store.read_manifest("p", "n", 1)

    assert not isinstance(raised.value, StoreUnavailable)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_temporary_and_show_no_token(
    answering: Callable[..., Answered], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    use_gcs_environment(monkeypatch, answering(status).url)
    store = open_store("gs://bucket/prefix")

    with pytest.raises(StoreUnavailable, match=str(status)) as raised:
        store.used_bytes()

    assert str(raised.value).startswith("gs://bucket/prefix: ")
    assert TOKEN not in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("status", [400, 403])
def test_refusals_are_permanent_errors(
    answering: Callable[..., Answered], monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    use_gcs_environment(monkeypatch, answering(status).url)
    store = open_store("gs://bucket")

    with pytest.raises(StoreError, match=str(status)) as raised:
        store.used_bytes()

    assert not isinstance(raised.value, StoreUnavailable | OutOfSpace)
    assert TOKEN not in str(raised.value)


def test_plain_http_only_for_an_endpoint_written_so(monkeypatch: pytest.MonkeyPatch) -> None:
    use_gcs_environment(monkeypatch, "https://storage.example.net")
    assert not (open_store("gs://bucket")._backend.client_options or {}).get("allow_http")
    use_gcs_environment(monkeypatch, "http://127.0.0.1:1")
    assert (open_store("gs://bucket")._backend.client_options or {}).get("allow_http")
