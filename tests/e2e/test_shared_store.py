"""Two state dirs (two daemons, as on two hosts) pointed at one store, file:// and S3 on
loopback: neither deletes nor serves the other's data, whatever the project names."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import obstore
import pytest

from amed.store.objects import ObjectStore
from amed.store.schemes import open_store
from state.read import StateReader
from tests.conftest import Workspace
from tests.service.daemon import Daemon, wait_for
from tests.store.conftest import (
    S3_ACCESS_KEY_ID,
    S3_REGION,
    S3_SECRET_ACCESS_KEY,
    create_bucket,
    s3_endpoint,  # noqa: F401 (a fixture)
)

SPEC = """
projectname: {project}
dataSets:
  - name: mnist
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && printf '{content}' > data/train.bin
"""


@dataclass
class Shared:
    """Two workspaces, each with its own project dir and state dir, on one store."""

    first: Workspace
    second: Workspace
    url: str

    def open(self) -> ObjectStore:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in self.first.env.items():
                patch.setenv(name, value)
            return open_store(self.url)


def workspace(root: Path, name: str, env: dict[str, str]) -> Workspace:
    (root / name / "project").mkdir(parents=True)
    return Workspace(
        root=root / name,
        project=root / name / "project",
        state=root / name / "state",
        objects=root / "objects",
        env=dict(env),
    )


@pytest.fixture(params=["file", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    env: dict[str, str] = {}
    url = (tmp_path / "objects").as_uri()
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        url = f"s3://{create_bucket(endpoint)}/team"
        env = {
            "AME_STORAGE": url,
            "AME_CAPACITY": "1Gi",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": S3_REGION,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_ACCESS_KEY,
        }
    yield Shared(workspace(tmp_path, "first", env), workspace(tmp_path, "second", env), url)


def state_id(ws: Workspace) -> str:
    reader = StateReader.in_dir(ws.state)
    try:
        found = reader.state_id()
    finally:
        reader.close()
    assert found is not None
    return found


def pulled(ws: Workspace, name: str = "mnist") -> bytes:
    dest = ws.root / f"pulled-{name}"
    proc = ws.run("ame", "ds", "pull", name, str(dest), "--force")
    assert proc.returncode == 0, proc.stderr
    return (dest / "train.bin").read_bytes()


def one_error_line(proc: object) -> str:
    lines = proc.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in lines[0] and S3_SECRET_ACCESS_KEY not in lines[0]
    return lines[0]


def data_keys(shared: Shared) -> set[str]:
    store = shared.open()
    return {m["path"] for chunk in obstore.list(store._backend, "datasets") for m in chunk}


def test_a_second_state_with_the_same_project_is_refused_and_the_first_keeps_its_data(
    shared: Shared,
) -> None:
    first, second = shared.first, shared.second
    first.write_spec(SPEC.format(project="demo", content="first"))
    second.write_spec(SPEC.format(project="demo", content="second"))
    assert first.once().returncode == 0
    keys = data_keys(shared)

    proc = second.once()
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.startswith("error: project demo in ")
    assert f"claimed by state {state_id(first)} on host {socket.gethostname()}" in line
    assert f"(state dir {first.state.absolute()})" in line
    assert "amed run --take-over" in line and "datasets/demo/ will then be swept" in line
    assert f"ame store release demo --state-dir {first.state.absolute()}" in line

    assert data_keys(shared) == keys
    assert pulled(first) == b"first"
    assert first.once().returncode == 0, "the first state still owns and sweeps its project"
    assert data_keys(shared) == keys
    assert pulled(first) == b"first"


def test_two_projects_on_one_store_keep_their_data_through_each_others_sweeps(
    shared: Shared,
) -> None:
    first, second = shared.first, shared.second
    first.write_spec(SPEC.format(project="alpha", content="alpha"))
    second.write_spec(SPEC.format(project="beta", content="beta"))
    assert first.once().returncode == 0
    assert second.once().returncode == 0
    store = shared.open()
    obstore.put(store._backend, "datasets/alpha/mnist/9/files/crash", b"left by a crash")
    obstore.put(store._backend, "datasets/beta/mnist/9/files/crash", b"left by a crash")

    assert second.once().returncode == 0
    assert "datasets/alpha/mnist/9/files/crash" in data_keys(shared), "not beta's to sweep"
    assert "datasets/beta/mnist/9/files/crash" not in data_keys(shared)
    assert first.once().returncode == 0
    assert "datasets/alpha/mnist/9/files/crash" not in data_keys(shared)
    assert pulled(first) == b"alpha"
    assert pulled(second) == b"beta"


def test_take_over_moves_the_project_and_the_old_state_never_serves_the_new_bytes(
    shared: Shared,
) -> None:
    first, second = shared.first, shared.second
    first.write_spec(SPEC.format(project="demo", content="first"))
    second.write_spec(SPEC.format(project="demo", content="second"))
    assert first.once().returncode == 0

    proc = second.once("--take-over")
    assert proc.returncode == 0, proc.stderr
    assert pulled(second) == b"second"

    proc = first.run("ame", "ds", "pull", "mnist", str(first.root / "dest"))
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert f"stored by state {state_id(second)}, not by this state ({state_id(first)})" in line
    assert not (first.root / "dest").exists()
    shown = json.loads(first.run("ame", "ds", "show", "mnist", "--json", check=True).stdout)
    assert f"stored by state {state_id(second)}" in shown["manifest"]["error"]

    proc = first.once()
    assert proc.returncode == 2
    assert f"claimed by state {state_id(second)}" in one_error_line(proc)
    assert pulled(second) == b"second"


def test_release_lets_another_state_claim_the_project(shared: Shared) -> None:
    first, second = shared.first, shared.second
    first.write_spec(SPEC.format(project="demo", content="first"))
    second.write_spec(SPEC.format(project="demo", content="second"))
    assert first.once().returncode == 0
    assert second.once().returncode == 2

    proc = second.run("ame", "store", "release", "demo")
    assert proc.returncode == 1
    assert f"claimed by state {state_id(first)}" in one_error_line(proc)
    assert pulled(first) == b"first"

    proc = first.run("ame", "store", "release", "demo")
    assert proc.returncode == 0, proc.stderr
    assert "released project demo" in proc.stdout
    proc = second.once()
    assert proc.returncode == 0, proc.stderr
    assert pulled(second) == b"second"
    proc = first.run("ame", "store", "release", "demo")
    assert proc.returncode == 1, "the claim is the second state's now"


def test_a_manifest_of_another_state_is_refused_by_pull(ws: Workspace) -> None:
    ws.write_spec(SPEC.format(project="demo", content="mine"))
    assert ws.once().returncode == 0
    path = ws.objects / "datasets/demo/mnist/1/manifest.json"
    document = json.loads(path.read_text())
    assert document["state_id"] == state_id(ws)
    document["state_id"] = "another0state0id"
    path.write_text(json.dumps(document))

    proc = ws.run("ame", "ds", "pull", "mnist", str(ws.root / "dest"))
    assert proc.returncode == 1
    assert "stored by state another0state0id, not by this state" in one_error_line(proc)
    assert not (ws.root / "dest").exists()


def test_a_running_daemon_that_loses_its_claim_stops_writing_there_and_says_so(
    tmp_path: Path,
) -> None:
    first = workspace(tmp_path, "first", {})
    second = workspace(tmp_path, "second", {})
    first.write_spec(SPEC.format(project="demo", content="first"))
    second.write_spec(SPEC.format(project="demo", content="second"))
    daemon = Daemon(first, "--interval", "3600")
    try:
        daemon.wait_for_log("version_stored")
        assert second.once("--take-over").returncode == 0
        first.write_spec(SPEC.format(project="demo", content="first, edited"))
        lost = daemon.wait_for_log("project_claimed_elsewhere")
        assert f"claimed by state {state_id(second)}" in lost["error"]
        wait_for(lambda: first.dataset("mnist")["status"] == "failed")
        daemon.check_alive()
        os.utime(first.project / "ame.yaml")  # another pass: nothing is tried there now
        assert pulled(second) == b"second"
        assert len(daemon.logged("project_claimed_elsewhere")) == 1
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        daemon.kill()
    assert not daemon.logged("version_stored")[1:], "nothing stored after the take-over"
