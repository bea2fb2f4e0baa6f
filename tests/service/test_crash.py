"""Crash safety: SIGKILL `amed` at many moments, restart it, and check after every restart that
nothing `ready` lacks data, that the log explains the tables, and that it converges.

The moments are chosen by watching the files amed writes (a task's output in its working
copy, an upload under a version prefix, a new manifest, a superseded version losing its
manifest) and killing as soon as one appears, plus plain random delays. Every cycle edits
ame.yaml first, so each restart has a new version of the big data set to produce and an old
one to delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from spec import load_project
from state.db import StateStore
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import Daemon

FILES = 300
FILE_BYTES = 256 * 1024
KILLS = 30
TRIGGER_TIMEOUT_SECONDS = 8.0
MAKE_DATA = f"""
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
block = os.urandom({FILE_BYTES})
for i in range({FILES} if out == "big" else 3):
    with open(f"{{out}}/f{{i:03d}}.bin", "wb") as f:
        f.write(i.to_bytes(4, "big") + block[4:])
with open(f"{{out}}/generation", "w") as f:
    f.write(sys.argv[2])
"""
SPEC = """
projectname: demo
dataSets:
  - name: big
    path: ./big
    task:
      executor: !custom
        command: {python} make_data.py big {big}
  - name: small
    path: ./small
    task:
      executor: !custom
        command: {python} make_data.py small {small}
"""


def write_generation(ws: Workspace, generation: int) -> None:
    ws.write_spec(SPEC.format(python=sys.executable, big=generation, small=generation // 2))


def versions_dir(ws: Workspace, name: str = "big") -> Path:
    return ws.objects / "datasets" / "demo" / name


def version_dirs(ws: Workspace) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(versions_dir(ws)) if e.is_dir()]
    except FileNotFoundError:
        return []


# -- the moments to kill at: each returns a predicate over the files amed writes -------------


def task_writing(ws: Workspace) -> Callable[[], bool]:
    runs = ws.state / "runs"
    before = {entry.name for entry in os.scandir(runs)} if runs.exists() else set()

    def check() -> bool:
        try:
            return any(
                (Path(run.path) / "work" / "big").is_dir()
                for run in os.scandir(runs)
                if run.name not in before
            )
        except FileNotFoundError:
            return False

    return check


def uploading(ws: Workspace) -> Callable[[], bool]:
    before = {d.name for d in version_dirs(ws)}

    def check() -> bool:
        for directory in version_dirs(ws):
            if directory.name in before:
                continue
            try:
                if any(True for _ in os.scandir(directory / "files")):
                    return True
            except FileNotFoundError:
                continue
        return False

    return check


def manifest_written(ws: Workspace) -> Callable[[], bool]:
    before = {d.name for d in version_dirs(ws) if (d / "manifest.json").exists()}
    return lambda: any(
        (d / "manifest.json").exists() for d in version_dirs(ws) if d.name not in before
    )


def deleting(ws: Workspace) -> Callable[[], bool]:
    """A version that had a manifest has lost it but still has files: mid-deletion."""
    had = {d.name for d in version_dirs(ws) if (d / "manifest.json").exists()}
    return lambda: any(
        d.name in had and not (d / "manifest.json").exists() for d in version_dirs(ws)
    )


def after_delay(rng: random.Random) -> Callable[[Workspace], Callable[[], bool]]:
    def make(ws: Workspace) -> Callable[[], bool]:
        until = time.monotonic() + rng.uniform(0.0, 1.5)
        return lambda: time.monotonic() >= until

    return make


def kill_when(daemon: Daemon, reached: Callable[[], bool]) -> bool:
    """SIGKILL the daemon as soon as `reached()`, or after the timeout; True if reached."""
    deadline = time.monotonic() + TRIGGER_TIMEOUT_SECONDS
    hit = False
    while time.monotonic() < deadline:
        if reached():
            hit = True
            break
        if daemon.proc.poll() is not None:
            raise AssertionError(f"amed exited by itself: {daemon.log_path.read_text()[-2000:]}")
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    return hit


# -- what must hold after every crash ------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def assert_consistent(ws: Workspace) -> dict[str, int]:
    """The log explains the tables, and every served version is whole in the store.

    Returns {data set: served version} for the ready ones."""
    with StateStore.in_dir(ws.state) as state:
        assert state.check() == []
        observed = state.observed()
    ready: dict[str, int] = {}
    for (project, name), row in observed.datasets.items():
        if row.version is None:
            assert row.status != "ready", row
            continue
        prefix = ws.objects / "datasets" / project / name / str(row.version)
        manifest = json.loads((prefix / "manifest.json").read_text())
        assert row.files == len(manifest["files"]) and row.size_bytes == sum(
            f["size_bytes"] for f in manifest["files"]
        )
        for entry in manifest["files"]:
            assert sha256_of(prefix / "files" / entry["path"]) == entry["sha256"], entry
        if row.status == "ready":
            ready[name] = row.version
    return ready


def assert_no_debris(ws: Workspace) -> None:
    """Every object under datasets/ belongs to a committed, listed version."""
    owned: set[str] = set()
    for manifest_path in (ws.objects / "datasets").rglob("manifest.json"):
        prefix = manifest_path.parent.relative_to(ws.objects).as_posix()
        owned.add(f"{prefix}/manifest.json")
        for entry in json.loads(manifest_path.read_text())["files"]:
            owned.add(f"{prefix}/files/{entry['path']}")
    assert set(ws.store_keys()) == owned


def test_sigkill_at_any_moment_never_loses_data_and_the_daemon_converges(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.env.update(AME_RETRY_BASE_SECONDS="0.001", AME_MAX_PARALLEL="2")
    ws.write("make_data.py", MAKE_DATA)
    write_generation(ws, 0)
    assert ws.once().returncode == 0
    assert assert_consistent(ws) == {"big": 1, "small": 1}

    rng = random.Random(20261125)
    moments: dict[str, Callable[[Workspace], Callable[[], bool]]] = {
        "during a task": task_writing,
        "mid-upload": uploading,
        "between the manifest and its event": manifest_written,
        "during deletion of a superseded version": deleting,
        "after a random delay": after_delay(rng),
    }
    names = list(moments)
    reached: Counter[str] = Counter()
    for kill in range(KILLS):
        write_generation(ws, kill + 1)
        name = names[kill % len(names)]
        reached_predicate = moments[name](ws)
        daemon = start_daemon("--interval", "0.2", log_name=f"amed-{kill}.log")
        if kill_when(daemon, reached_predicate):
            reached[name] += 1
        assert_consistent(ws)

    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    ready = assert_consistent(ws)
    assert set(ready) == {"big", "small"}
    generation = (versions_dir(ws) / str(ready["big"]) / "files" / "generation").read_text()
    assert generation == str(KILLS), "the last edit is what is served"
    assert_no_debris(ws)
    with sqlite3.connect(ws.state / "state.db") as conn:
        lost = conn.execute(
            "SELECT COUNT(*) FROM events WHERE type = 'run_failed' AND data LIKE '%\"lost\"%'"
        ).fetchone()[0]
    assert lost > 0, "some kills left runs behind that a restart recorded as lost"
    for name in names[:-1]:
        assert reached[name] > 0, (name, reached)


def test_a_manifest_without_its_event_is_debris_and_never_served(ws: Workspace) -> None:
    """The one moment a kill rarely lands on, made exactly: the manifest of the next version
    is in the store (all its files too), but the crash came before `version_stored`."""
    ws.write("make_data.py", MAKE_DATA)
    write_generation(ws, 0)
    assert ws.once().returncode == 0
    project = load_project(ws.project / "ame.yaml")
    assert project.data_set("big") is not None
    orphan = versions_dir(ws) / "2"
    shutil.copytree(versions_dir(ws) / "1", orphan)
    manifest = json.loads((orphan / "manifest.json").read_text())
    manifest["version"] = 2
    (orphan / "manifest.json").write_text(json.dumps(manifest))
    events_before = ws.event_count()
    assert ws.once().returncode == 0
    assert not orphan.exists(), "swept as debris"
    assert assert_consistent(ws) == {"big": 1, "small": 1}
    assert ws.event_count() == events_before
    write_generation(ws, 1)
    assert ws.once().returncode == 0
    assert assert_consistent(ws)["big"] == 2, "the number is free again, never served before"


def test_tables_that_disagree_with_the_log_are_rebuilt_from_it_at_start(ws: Workspace) -> None:
    ws.write("make_data.py", MAKE_DATA)
    write_generation(ws, 0)
    assert ws.once().returncode == 0
    with sqlite3.connect(ws.state / "state.db") as conn:
        conn.execute("UPDATE datasets SET status = 'failed', error = 'edited by hand'")
        conn.execute("DELETE FROM versions WHERE dataset = 'small'")
    with StateStore.in_dir(ws.state) as state:
        assert {m.table for m in state.check()} == {"datasets", "versions"}
    proc = ws.run("amed", "run", "--once", "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in proc.stderr.splitlines()]
    assert {e["key"][1] for e in logged if e["event"] == "projection_mismatch"} >= {"big", "small"}
    assert [e["mismatches"] for e in logged if e["event"] == "projection_rebuilt"] == [3]
    assert assert_consistent(ws) == {"big": 1, "small": 1}
    assert not [e for e in logged if e["event"] == "run_started"], "nothing was produced again"
