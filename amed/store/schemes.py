"""Opening a store by URL: one opener per scheme, in one table.

A new scheme is a function `(parts, safe_url, secrets) -> ObjectStore` and a line in
`OPENERS`; what every URL goes through (no query or fragment, credentials masked in any
error, a failing opener reported as one line) is done once, in `open_store`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from obstore.exceptions import BaseError
from obstore.store import AzureStore, GCSStore, MemoryStore, S3Store

from amed.errors import StoreError, StoreURLError
from amed.store.datafiles import local_error
from amed.store.local import LocalObjectStore
from amed.store.objects import ObjectStore
from amed.store.translate import first_line, longest_first, redact, strip_userinfo

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig

# Without a timeout a hung endpoint blocks a request for about three minutes.
REQUEST_TIMEOUT = "30s"
CONNECT_TIMEOUT = "5s"
RETRY_MAX = 3
RETRY_TIMEOUT_SECONDS = 60

CREDENTIAL_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_BEARER_TOKEN",
)
"""Credentials obstore reads from the environment: masked in every error, and in what
tasks print."""

Opener = Callable[[SplitResult, str, list[str]], ObjectStore]


def open_store(url: str) -> ObjectStore:
    """Open the store a URL names.

    - `file:///abs/dir` (created if missing; `file://rel/dir` is taken relative to the
      current directory), `memory://` (a new, empty store each time),
    - `s3://bucket[/prefix]`: endpoint, region and credentials from the usual AWS_*
      variables (`s3://KEY:SECRET@bucket` also works, and is redacted everywhere),
    - `gs://bucket[/prefix]`, `az://container[/prefix]`: through obstore, credentials
      from the environment.
    Remote stores always get request timeouts and a bounded retry; a bad URL or an
    unknown scheme is a StoreError.
    """
    safe_url = strip_userinfo(url)
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        raise StoreURLError(f"{safe_url}: not a valid store URL") from None
    secrets = [unquote(s) for s in (user, password) if s]
    secrets += [os.environ.get(v, "") for v in CREDENTIAL_VARIABLES]
    if parts.query or parts.fragment:
        raise StoreURLError(
            f"{_mask(safe_url, secrets)}: a store URL takes no query or fragment; "
            "configure endpoints and credentials through the environment"
        )
    scheme = parts.scheme.lower()
    opener = OPENERS.get(scheme)
    if opener is None:
        known = [f"{name}://" for name in OPENERS]
        raise StoreURLError(
            f"{_mask(safe_url, secrets)}: unknown store scheme {scheme!r}; "
            f"use {', '.join(known[:-1])} or {known[-1]}"
        )
    try:
        return opener(parts, safe_url, secrets)
    except (BaseError, ValueError, OSError) as exc:
        raise StoreError(_mask(f"{safe_url}: cannot open: {first_line(exc)}", secrets)) from None


# ---- openers ------------------------------------------------------------------------------


def _open_file(parts: SplitResult, safe_url: str, secrets: list[str]) -> ObjectStore:
    if parts.username is not None or parts.password is not None:
        # Else `user:password@` would be read as part of the path, and make a directory.
        raise StoreURLError(f"{safe_url}: a file:// URL takes no user or password")
    text = unquote(parts.path)
    if parts.netloc not in ("", "localhost"):
        text = unquote(parts.netloc) + text
    if not text:
        raise StoreURLError(f"{safe_url}: a file:// URL needs a directory")
    root = Path(text)
    if not root.is_absolute():
        root = Path.cwd() / root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise local_error(f"{safe_url}: cannot create {root}", exc) from None
    # The credentials in the environment are not this store's, but they are the daemon's:
    # masked all the same.
    return LocalObjectStore(root, safe_url, secrets=secrets)


def _open_memory(parts: SplitResult, safe_url: str, secrets: list[str]) -> ObjectStore:
    if parts.netloc or parts.path.strip("/"):
        raise StoreURLError(f"{safe_url}: write memory:// with nothing after it")
    return ObjectStore(MemoryStore(), "memory://")


def _open_s3(parts: SplitResult, safe_url: str, secrets: list[str]) -> ObjectStore:
    bucket = parts.netloc.rpartition("@")[2]
    if not bucket:
        raise StoreURLError(f"{safe_url}: an s3:// URL needs a bucket")
    endpoint = _first_variable("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    options: dict[str, str] = {}
    if endpoint:
        options["endpoint"] = endpoint
    if region:
        options["region"] = region
    if parts.username or parts.password:
        options["access_key_id"] = unquote(parts.username or "")
        options["secret_access_key"] = unquote(parts.password or "")
    backend = S3Store(
        bucket,
        prefix=_prefix(parts),
        client_options=_client_options(endpoint.startswith("http://")),
        retry_config=_retry_config(),
        **options,  # type: ignore[arg-type]
    )
    return ObjectStore(backend, safe_url, secrets=secrets)


def _open_azure(parts: SplitResult, safe_url: str, secrets: list[str]) -> ObjectStore:
    """`az://container[/prefix]`: account, key (or SAS, token, service principal) and
    endpoint from the AZURE_* variables obstore reads; `AZURE_STORAGE_USE_EMULATOR=true`
    talks to Azurite (at `AZURITE_BLOB_STORAGE_URL`, by default http://127.0.0.1:10000)."""
    container = _bucket(parts, safe_url, "a container")
    emulator = _truthy(os.environ.get("AZURE_STORAGE_USE_EMULATOR"))
    endpoint = _first_variable("AZURE_STORAGE_ENDPOINT", "AZURE_ENDPOINT")
    backend = AzureStore(
        container,
        prefix=_prefix(parts),
        client_options=_client_options(emulator or endpoint.startswith("http://")),
        retry_config=_retry_config(),
    )
    return ObjectStore(backend, safe_url, secrets=secrets)


def _open_gcs(parts: SplitResult, safe_url: str, secrets: list[str]) -> ObjectStore:
    """`gs://bucket[/prefix]`: credentials from GOOGLE_APPLICATION_CREDENTIALS (or
    GOOGLE_SERVICE_ACCOUNT[_PATH|_KEY]), another endpoint from GOOGLE_BASE_URL."""
    bucket = _bucket(parts, safe_url, "a bucket")
    endpoint = _first_variable("GOOGLE_BASE_URL")
    backend = GCSStore(
        bucket,
        prefix=_prefix(parts),
        client_options=_client_options(endpoint.startswith("http://")),
        retry_config=_retry_config(),
    )
    return ObjectStore(backend, safe_url, secrets=secrets)


OPENERS: dict[str, Opener] = {
    "file": _open_file,
    "memory": _open_memory,
    "s3": _open_s3,
    "az": _open_azure,
    "gs": _open_gcs,
}
"""Scheme (lower case) to opener; the order is the order an unknown scheme's error lists."""


# ---- what every remote store gets -------------------------------------------------------------


def _client_options(allow_http: bool) -> ClientConfig:
    options: ClientConfig = {"timeout": REQUEST_TIMEOUT, "connect_timeout": CONNECT_TIMEOUT}
    if allow_http:
        options["allow_http"] = True
    return options


def _bucket(parts: SplitResult, safe_url: str, what: str) -> str:
    """The bucket (container) of a URL whose credentials must come from the environment:
    a URL is logged and shown, the environment is not."""
    scheme = parts.scheme.lower()
    if parts.username or parts.password:
        raise StoreURLError(
            f"{safe_url}: put {scheme}:// credentials in the environment, not the URL"
        )
    if not parts.netloc:
        raise StoreURLError(f"{safe_url}: the URL needs {what} ({scheme}://NAME[/prefix])")
    return unquote(parts.netloc)


def _prefix(parts: SplitResult) -> str | None:
    return unquote(parts.path).strip("/") or None


def _first_variable(*names: str) -> str:
    return next((os.environ[name] for name in names if os.environ.get(name)), "")


def _truthy(value: str | None) -> bool:
    """As obstore reads its boolean variables."""
    return (value or "").strip().lower() in ("1", "true", "on", "yes", "y")


def _retry_config() -> RetryConfig:
    return {
        "max_retries": RETRY_MAX,
        "retry_timeout": timedelta(seconds=RETRY_TIMEOUT_SECONDS),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=5),
            "base": 2,
        },
    }


def _mask(text: str, secrets: list[str]) -> str:
    return redact(text, longest_first(secrets))
