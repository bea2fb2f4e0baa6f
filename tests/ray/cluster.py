"""A Ray head and an S3 server (moto) that talk only on loopback, for tests and benchmarks.

Ray binds some of its agents to the machine's outward address even when told
`--node-ip-address 127.0.0.1`, so everything runs in a network namespace of its own, where
loopback is the only interface: the Ray head, moto, and every `amed`/`ame` the test starts
(through `nsenter`, which execs the program, so a PID is the program's). The namespace is
held by a `sleep` started with `unshare --net`; at the end, every process in it is stopped
by PID (found by its network namespace, which nothing outside shares), then the holder.
Needs root (as tests and CI run here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
MOTO_PORT = 5000
RAY_ADDRESS = "http://127.0.0.1:8265"
BUCKET = "amed-ray"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ray-test-key",
    "AWS_SECRET_ACCESS_KEY": "ray-test-secret-9d1c",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}",
}
"""What the daemon and the workers (the Ray head here) have in their environment."""


def why_not() -> str | None:
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "needs root for a network namespace (unshare --net)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if not (BIN / "ray").exists():
        return "needs Ray (pip install 'amed[ray]')"
    return None


class Namespace:
    """A network namespace with loopback up, held by a process of its own."""

    def __init__(self) -> None:
        self._holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != "up":
            self._holder.kill()
            raise RuntimeError("could not make a network namespace")
        self.path = f"/proc/{self._holder.pid}/ns/net"
        self.inode = Path(self.path).readlink()

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", f"--net={self.path}", *argv]

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv),
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def popen(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(argv),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            text=True,
            **kwargs,
        )

    def python(self, code: str, *, env: Mapping[str, str] | None = None) -> Any:
        """Run `code` in the namespace; it prints one JSON document, returned."""
        proc = self.run([sys.executable, "-c", code], env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def pids(self) -> list[int]:
        """Every process in the namespace but its holder."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self._holder.pid:
                continue
            try:
                if (entry / "ns" / "net").readlink() == self.inode:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def close(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 15
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        self._holder.kill()
        self._holder.wait()


class Cluster:
    """A Ray head and moto in a namespace; `env` is what the daemon needs besides."""

    def __init__(self) -> None:
        self.ns = Namespace()
        self.temp = Path(tempfile.mkdtemp(prefix="amed-ray-", dir="/tmp"))
        self.moto: subprocess.Popen[str] | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AME_", "RAY_"))}
        env.update(CREDENTIALS)
        env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", os.defpath)])
        return env

    def _start(self) -> None:
        self.moto = self.ns.popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The workers run `python -m amed.worker`: this venv's Python first on the PATH.
        started = self.ns.run(
            [
                str(BIN / "ray"),
                "start",
                "--head",
                "--node-ip-address=127.0.0.1",
                "--dashboard-host=127.0.0.1",
                f"--temp-dir={self.temp}",
                "--num-cpus=2",
                "--disable-usage-stats",
            ],
            env={**self.env, "RAY_USAGE_STATS_ENABLED": "0"},
        )
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed: {started.stderr[-2000:]}")
        self.ns.python(_MAKE_BUCKET, env=self.env)

    def objects(self, prefix: str) -> dict[str, str]:
        """sha256 of every object under `prefix` in the bucket, by key."""
        code = _OBJECTS.replace("PREFIX", json.dumps(prefix))
        return dict(self.ns.python(code, env=self.env))

    def jobs(self) -> list[dict[str, Any]]:
        """Ray's list of jobs: submission id, status, entrypoint."""
        return list(self.ns.python(_JOBS, env=self.env))

    def close(self) -> None:
        self.ns.close()
        shutil.rmtree(self.temp, ignore_errors=True)


_MAKE_BUCKET = f"""
import json, time, boto3, botocore
s3 = boto3.client("s3")
for _ in range(600):
    try:
        s3.create_bucket(Bucket={BUCKET!r})
        break
    except botocore.exceptions.EndpointConnectionError:
        time.sleep(0.1)
print(json.dumps(True))
"""

_OBJECTS = f"""
import hashlib, json, boto3
s3 = boto3.client("s3")
out = {{}}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket={BUCKET!r}, Prefix=PREFIX):
    for item in page.get("Contents", []):
        body = s3.get_object(Bucket={BUCKET!r}, Key=item["Key"])["Body"].read()
        out[item["Key"]] = hashlib.sha256(body).hexdigest()
print(json.dumps(out))
"""

_JOBS = f"""
import json
from ray.job_submission import JobSubmissionClient
jobs = JobSubmissionClient({RAY_ADDRESS!r}).list_jobs()
print(json.dumps([
    {{"submission_id": j.submission_id, "status": str(j.status.value), "entrypoint": j.entrypoint,
      "runtime_env": j.runtime_env, "metadata": j.metadata}}
    for j in jobs
]))
"""
