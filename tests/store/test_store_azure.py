"""Azure Blob (Azurite on loopback): a missing container, a wrong key, an unreachable
endpoint, and the account key kept out of sight. The contract itself runs over Azure in
test_store_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from amed.errors import StoreError, StoreUnavailable
from amed.store.schemes import open_store
from tests.store.conftest import free_port, use_azure_environment
from tests.store.emulators import AZURITE_ACCOUNT, create_container

CREATED_AT = "2026-11-25T10:00:00Z"
WRONG_KEY = "d3Jvbmcta2V5LW11c3QtbmV2ZXItc2hvdy13cm9uZy1rZXk="


def source(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"a")
    return tmp_path / "src"


def test_a_missing_container_is_a_permanent_error_not_an_absent_version(
    azure_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_azure_environment(monkeypatch, azure_endpoint)
    store = open_store("az://no-such-container/prefix")

    with pytest.raises(StoreError, match="the container does not exist") as raised:
        store.read_manifest("p", "n", 1)

    assert not isinstance(raised.value, StoreUnavailable)
    assert str(raised.value).startswith("az://no-such-container/prefix: ")


def test_a_wrong_account_key_is_refused_without_showing_it(
    azure_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_azure_environment(monkeypatch, azure_endpoint)
    container = create_container(azure_endpoint)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", WRONG_KEY)
    store = open_store(f"az://{container}")

    with pytest.raises(StoreError) as raised:
        store.put_version("p", "n", 1, source(tmp_path), created_at=CREATED_AT)

    assert not isinstance(raised.value, StoreUnavailable)
    assert "403" in str(raised.value)
    assert WRONG_KEY not in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_unreachable_endpoint_is_temporary_and_shows_no_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_azure_environment(monkeypatch, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", AZURITE_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", WRONG_KEY)
    store = open_store("az://box/team")

    with pytest.raises(StoreUnavailable) as raised:
        store.put_version("p", "n", 1, source(tmp_path), created_at=CREATED_AT)
    with pytest.raises(StoreUnavailable) as raised_read:
        store.read_manifest("p", "n", 1)

    for error in (raised.value, raised_read.value):
        assert str(error).startswith("az://box/team: ")
        assert WRONG_KEY not in str(error)
        assert "\n" not in str(error)
    assert store.credentials == (WRONG_KEY,)


@pytest.mark.parametrize(
    ("variables", "plain_http"),
    [
        ({"AZURE_STORAGE_USE_EMULATOR": "true"}, True),
        ({"AZURE_STORAGE_ENDPOINT": "http://127.0.0.1:1/acct"}, True),
        ({"AZURE_STORAGE_ENDPOINT": "https://blob.example.net/acct"}, False),
        ({}, False),
    ],
)
def test_plain_http_only_for_the_emulator_or_an_endpoint_written_so(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], plain_http: bool
) -> None:
    use_azure_environment(monkeypatch, "http://127.0.0.1:1")
    monkeypatch.delenv("AZURE_STORAGE_USE_EMULATOR")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "someaccount")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    store = open_store("az://box")
    assert bool((store._backend.client_options or {}).get("allow_http")) is plain_http
