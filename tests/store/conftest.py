"""Stores for the contract suite: every test taking `store` runs on file://, memory://, S3
(moto's server on 127.0.0.1) and Azure Blob (Azurite on 127.0.0.1), so all behave the same
by construction."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import boto3
import obstore
import pytest
from moto.server import ThreadedMotoServer

from amed.store.local import LocalObjectStore
from amed.store.objects import ObjectStore
from amed.store.schemes import open_store
from tests.store.emulators import azurite, azurite_binary, create_container

S3_REGION = "us-east-1"
S3_ACCESS_KEY_ID = "AKIATESTSTOREKEY"
S3_SECRET_ACCESS_KEY = "test-secret-access-key-do-not-log"


@contextlib.contextmanager
def tmpfs_at(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mount_point` (an existing directory) for the block: a
    real file system of its own, that fills up. Needs root; the test is skipped elsewhere."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def free_port() -> int:
    """A port nothing listens on right now (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def create_bucket(endpoint: str) -> str:
    bucket = f"amed-test-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY_ID,
        aws_secret_access_key=S3_SECRET_ACCESS_KEY,
    ).create_bucket(Bucket=bucket)
    return bucket


def use_s3_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_REGION", S3_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_ACCESS_KEY)


@pytest.fixture(scope="session")
def azure_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = azurite_binary()
    if binary is None:
        pytest.skip("needs Azurite: npm install --prefix ~/.cache/amed-test/azurite azurite")
    with azurite(binary, tmp_path_factory.mktemp("azurite")) as endpoint:
        yield endpoint


def use_azure_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name in list(os.environ):
        if name.startswith("AZURE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_STORAGE_USE_EMULATOR", "true")
    monkeypatch.setenv("AZURITE_BLOB_STORAGE_URL", endpoint)


@pytest.fixture(params=["file", "memory", "s3", "azure"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "file":
        return open_store(f"file://{tmp_path / 'objects'}")
    if request.param == "memory":
        return open_store("memory://")
    if request.param == "azure":
        endpoint = request.getfixturevalue("azure_endpoint")
        use_azure_environment(request.getfixturevalue("monkeypatch"), endpoint)
        return open_store(f"az://{create_container(endpoint)}/team/objects")
    endpoint = request.getfixturevalue("s3_endpoint")
    use_s3_environment(request.getfixturevalue("monkeypatch"), endpoint)
    # A prefix inside the bucket, so keys are checked relative to it.
    return open_store(f"s3://{create_bucket(endpoint)}/team/objects")


@dataclass
class Answered:
    """What an `answering` endpoint was asked: each request's method, decoded path and
    Authorization header."""

    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)


@pytest.fixture
def answering() -> Iterator[Callable[..., Answered]]:
    """An HTTP endpoint on 127.0.0.1 that answers every request with one status code and
    an S3-style XML error (`code`), and records what it was asked."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, code: str = "Refused") -> Answered:
        answered = Answered("")

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                auth = self.headers.get("Authorization") or ""
                answered.requests.append((self.command, unquote(self.path), auth))
                body = f"<Error><Code>{code}</Code><Message>by the test</Message></Error>"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body.encode())

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        answered.url = f"http://127.0.0.1:{server.server_address[1]}"
        return answered

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def answering_with(answering: Callable[..., Answered]) -> Callable[[int], str]:
    """The URL of an `answering` endpoint."""
    return lambda status: answering(status).url


@pytest.fixture
def file_store(tmp_path: Path) -> ObjectStore:
    return open_store(f"file://{tmp_path / 'objects'}")


def raw_keys(store: ObjectStore, prefix: str = "datasets/") -> dict[str, int]:
    """Every key under `prefix` with its size, read past the adapter."""
    return {
        meta["path"]: meta["size"]
        for chunk in obstore.list(store._backend, prefix.rstrip("/"))
        for meta in chunk
    }


def raw_put(store: ObjectStore, key: str, data: bytes) -> None:
    """Write an object past the adapter, the way a crash or another writer would."""
    obstore.put(store._backend, key, data)


def raw_delete(store: ObjectStore, key: str) -> None:
    obstore.delete(store._backend, key)


def local_root(store: ObjectStore) -> Path:
    assert isinstance(store, LocalObjectStore)
    return store.root
