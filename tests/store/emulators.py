"""Cloud store emulators on 127.0.0.1 for the contract suite: Azurite for Azure Blob.

Azurite comes from the npm registry. It is found on PATH, else in the cache folder CI
installs it into (`npm install --prefix "$AZURITE_PREFIX" azurite`, see `.ci/run`); the
tests that need it are skipped only where neither holds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path

# Azurite's well-known development account: public, the same in every installation.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_API_VERSION = "2021-08-06"
START_TIMEOUT_SECONDS = 120.0  # node starting on two loaded cores


def azurite_prefix() -> Path:
    """Where `.ci/run` installs Azurite when it is not on PATH."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("AZURITE_PREFIX") or Path(cache) / "amed-test" / "azurite")


def azurite_binary() -> str | None:
    installed = azurite_prefix() / "node_modules" / ".bin" / "azurite-blob"
    return shutil.which("azurite-blob") or (str(installed) if installed.exists() else None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def azurite(binary: str, workdir: Path) -> Iterator[str]:
    """Run Azurite's blob service on a free loopback port; yields its URL. Stopped by its
    own PID."""
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(workdir / "data"),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"azurite exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"azurite did not listen on port {port}")


def create_container(endpoint: str) -> str:
    """A new container, made with a SharedKey-signed `PUT ?restype=container` (obstore
    cannot create one)."""
    container = f"amed-test-{uuid.uuid4().hex[:12]}"
    date = formatdate(usegmt=True)
    headers = {"x-ms-date": date, "x-ms-version": AZURE_API_VERSION, "Content-Length": "0"}
    to_sign = (
        "PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{AZURE_API_VERSION}\n"
        f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
    )
    key = base64.b64decode(AZURITE_KEY)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(signature).decode()}"
    host, port = endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "PUT", f"/{AZURITE_ACCOUNT}/{container}?restype=container", headers=headers
        )
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    if answer.status != 201:
        raise RuntimeError(f"azurite refused the container: {answer.status} {body[:200]!r}")
    return container
