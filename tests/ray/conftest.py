"""One Ray head and one S3 server for every test here (a Ray head takes tens of seconds to
start on two busy cores); see tests.ray.cluster."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ray.cluster import BIN, BUCKET, RAY_ADDRESS, Cluster, why_not


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that takes the cluster runs on one xdist worker (`--dist loadgroup`), so
    the suite starts one Ray head, not one per worker. Before xdist reads the marks."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray-cluster"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    reason = why_not()
    if reason is not None:
        if os.environ.get("CI"):  # CI installs Ray and runs as root: a skip would hide it
            pytest.fail(f"Ray tests: {reason}")
        pytest.skip(f"Ray tests: {reason}")
    made = Cluster()
    try:
        yield made
    finally:
        made.close()


@dataclass
class RayProject:
    """A project and a state dir whose data go to S3 and whose tasks go to Ray."""

    cluster: Cluster
    root: Path
    prefix: str

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self) -> dict[str, str]:
        return {
            **self.cluster.env,
            "AME_PROJECT": str(self.project),
            "AME_STATE_DIR": str(self.state),
            "AME_STORAGE": f"s3://{BUCKET}/{self.prefix}",
            "AME_CAPACITY": "1Gi",
            "AME_ENGINE": "ray",
            "RAY_ADDRESS": RAY_ADDRESS,
            "AME_INTERVAL": "0.5",
            "AME_RETRY_BASE_SECONDS": "3600",
            "AME_STOP_TIMEOUT": "0",
        }

    def write(self, relative: str, text: str) -> None:
        path = self.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        program, *rest = args
        return self.cluster.ns.run([str(BIN / program), *rest], env=self.env(), timeout=timeout)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """`amed run` as a service, in the namespace; its PID is amed's."""
        log = open(self.root / "amed.log", "a")  # noqa: SIM115 - the daemon holds it
        return self.cluster.ns.popen(
            [str(BIN / "amed"), "run", *args], env={**self.env(), **env}, stdout=log, stderr=log
        )

    def datasets(self) -> dict[str, dict[str, Any]]:
        if not (self.state / "state.db").exists():
            return {}
        proc = self.run("ame", "ds", "list", "--json")
        assert proc.returncode == 0, proc.stderr
        return {row["name"]: row for row in json.loads(proc.stdout)}

    def events(self) -> list[dict[str, Any]]:
        proc = self.run("ame", "events", "--json")
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.fixture
def ray_project(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest) -> RayProject:
    made = RayProject(cluster, tmp_path, prefix=request.node.name.replace("_", "-")[:40])
    made.project.mkdir()
    return made
