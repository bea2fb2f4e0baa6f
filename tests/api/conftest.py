"""A project stored by the real daemon in a file:// store or in S3 (moto on 127.0.0.1), and
readers in processes of their own that have nothing but the store's URL and credentials."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import obstore
import pytest

from amed.store.objects import ObjectStore
from amed.store.schemes import open_store
from tests.conftest import Workspace
from tests.store.conftest import (
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    azure_endpoint,  # noqa: F401 (a fixture)
    create_bucket,
    s3_endpoint,  # noqa: F401 (a fixture)
    store,  # noqa: F401 (a fixture: file://, memory://, S3 and Azure Blob)
)

READER = Path(__file__).with_name("reader.py")
READER_TIMEOUT_SECONDS = 120.0

SPEC = """
projectname: demo
tasks:
  - name: fetch
    executor: !custom
      command: {command}
    env:
      - key: CONTENT
        val: "{content}"
dataSets:
  - name: mnist
    path: ./data
    task:
      taskRef: fetch
"""

WRITE = (
    'mkdir -p data/train && printf "label,value\\n%s,1\\n%s,2\\n" "$CONTENT" "$CONTENT"'
    " > data/labels.csv && head -c {big_bytes} /dev/urandom > data/train/images.bin"
    ' && printf %s "$CONTENT" > data/train/name.txt'
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Stored:
    """A workspace whose daemon stores in `url`; `credentials` is what a reader elsewhere
    would hold besides the URL."""

    ws: Workspace
    url: str
    kind: str
    credentials: dict[str, str] = field(default_factory=dict)

    def produce(self, content: str, *, big_bytes: int = 3_000_000) -> dict[str, bytes]:
        """Run the daemon once over a spec whose data depends on `content`; return what the
        stored version holds, read back through the store (the task writes random bytes)."""
        command = WRITE.format(big_bytes=big_bytes)
        self.ws.write_spec(SPEC.format(command=command, content=content))
        proc = self.ws.once()
        assert proc.returncode == 0, proc.stderr
        row = self.ws.dataset("mnist")
        assert row["status"] == "ready", row
        return self.version_files(row["version"])

    def store(self) -> ObjectStore:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in self.credentials.items():
                patch.setenv(name, value)
            return open_store(self.url)

    def version_files(self, version: int) -> dict[str, bytes]:
        opened = self.store()
        manifest = opened.read_manifest("demo", "mnist", version, state_id=None)
        assert manifest is not None
        prefix = f"datasets/demo/mnist/{version}/files/"
        return {
            e.path: bytes(obstore.get(opened._backend, prefix + e.path).bytes())
            for e in manifest.files
        }

    def put_raw(self, key: str, data: bytes) -> None:
        """Write an object past amed, as an intruder or a crash would."""
        if self.kind == "file":
            path = self.ws.objects / key
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o644)  # stored files are read-only
                path.unlink()  # a linked file: never write through to its other name
            path.write_bytes(data)
        else:
            obstore.put(self.store()._backend, key, data)

    def delete_raw(self, key: str) -> None:
        obstore.delete(self.store()._backend, key)

    def reader_env(self, home: Path, **extra: str) -> dict[str, str]:
        """A reader elsewhere: no state dir, no project, no daemon; the store URL alone."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "AME_STORAGE": self.url,
            **self.credentials,
        }
        env.update(extra)
        return env

    def read(self, *ops: tuple[str, dict[str, Any]], **extra: str) -> list[dict[str, Any]]:
        """Run `ops` in a reader process with only the store (see tests/api/reader.py)."""
        home = self.ws.root / "reader-home"
        home.mkdir(exist_ok=True)
        return run_reader(list(ops), self.reader_env(home, **extra), cwd=home)


def run_reader(
    ops: list[tuple[str, dict[str, Any]]], env: dict[str, str], *, cwd: Path
) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, str(READER), json.dumps(ops)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=READER_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def start_reader(
    ops: list[tuple[str, dict[str, Any]]], env: dict[str, str], *, cwd: Path
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(READER), json.dumps(ops)],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(params=["file", "s3"])
def stored(request: pytest.FixtureRequest, ws: Workspace) -> Stored:
    if request.param == "file":
        return Stored(ws, ws.storage_url, "file")
    endpoint = request.getfixturevalue("s3_endpoint")
    url = f"s3://{create_bucket(endpoint)}/team"
    credentials = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": S3_REGION,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
    }
    # A bucket has no free space to measure: a remote store needs its capacity given.
    ws.env.update(AME_STORAGE=url, AME_CAPACITY="1Gi", **credentials)
    return Stored(ws, url, "s3", credentials)


@pytest.fixture
def file_stored(ws: Workspace) -> Stored:
    return Stored(ws, ws.storage_url, "file")
