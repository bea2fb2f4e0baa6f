"""Crash safety: SIGKILL `amed` at many moments, restart it, and check after every restart that
nothing `ready` lacks data, that the log explains the tables, and that it converges.

The moments are chosen by watching the files amed writes (a task's output in its working
copy, an upload under a version prefix, a new manifest, a superseded version losing its
manifest) and killing as soon as one appears, plus random delays after the daemon has
started. Every cycle edits ame.yaml first, so each restart has a new version of the big data
set to produce and an old one to delete.

Every wait is for an event, never for a span of time, so that a loaded machine only makes
the test slower, not wrong: a cycle whose moment never shows (a window too short to see)
ends when the daemon has converged on that cycle's edit, as nothing more can happen then.
The watcher sleeps a millisecond between looks: a busy loop would take a core from the
daemon it watches, and the suite runs on two.
"""

from __future__ import annotations

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

import pytest

from amed.store.checksum import file_checksum
from amed.store.manifest import Manifest
from spec import load_project
from state.db import StateStore
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import Daemon

FILES = 300
FILE_BYTES = 256 * 1024
KILLS = 30
CYCLE_TIMEOUT_SECONDS = 90.0
LOOK_INTERVAL_SECONDS = 0.001
FALLBACK_EVERY_LOOKS = 20
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
    """A random moment in the daemon's first second and a half of work: the delay counts
    from the first look, which `kill_when` takes once the daemon has started."""

    def make(ws: Workspace) -> Callable[[], bool]:
        delay_seconds = rng.uniform(0.0, 1.5)
        until: list[float] = []

        def check() -> bool:
            if not until:
                until.append(time.monotonic() + delay_seconds)
            return time.monotonic() >= until[0]

        return check

    return make


def converged(ws: Workspace, generation: int) -> Callable[[], bool]:
    """The cycle's edit is served and nothing else is left in the store: each data set has
    one version, with its manifest, of the current generation. The old version is deleted
    only after the new one's `stored` event, so this also means the commit happened."""
    expected = {"big": str(generation), "small": str(generation // 2)}

    def check() -> bool:
        for name, wanted in expected.items():
            try:
                (only,) = [Path(e.path) for e in os.scandir(versions_dir(ws, name)) if e.is_dir()]
                served = (only / "files" / "generation").read_text()
            except (FileNotFoundError, ValueError):
                return False
            if served != wanted or not (only / "manifest.json").exists():
                return False
        return True

    return check


def kill_when(daemon: Daemon, reached: Callable[[], bool], done: Callable[[], bool]) -> bool:
    """SIGKILL the daemon as soon as `reached()`; True if that is why. If the daemon is
    `done()` first, the moment cannot come any more this cycle: kill it then, idle.

    The first look is taken once the daemon logs `started`: before that it has written
    nothing a moment watches, and on a loaded machine the interpreter alone can take longer
    to start than a random delay lasts."""
    deadline = time.monotonic() + CYCLE_TIMEOUT_SECONDS

    def log_tail() -> str:
        return daemon.log_path.read_text()[-2000:]

    def started() -> bool:
        return '"event": "started"' in daemon.log_path.read_text()

    def waiting(until: Callable[[], bool]) -> bool:
        """Look until `until()` or `done()`; True if `until()` came first. The fallbacks
        are looked at less often than the moment: they have no short window to miss."""
        looks = 0
        while not until():
            looks += 1
            if looks % FALLBACK_EVERY_LOOKS == 0:
                if done():
                    return False
                if daemon.proc.poll() is not None:
                    raise AssertionError(f"amed exited by itself: {log_tail()}")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"neither the moment nor convergence in {CYCLE_TIMEOUT_SECONDS:.0f} s: "
                        f"{log_tail()}"
                    )
            time.sleep(LOOK_INTERVAL_SECONDS)
        return True

    hit = waiting(started) and waiting(reached)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    return hit


# -- what must hold after every crash ------------------------------------------------------


Digests = dict[tuple[str, str, int, int, int], str]
"""Digest by (algorithm, path, inode, size, mtime_ns): a file's bytes cannot change without
one of these changing, unless someone sets its times back on purpose, which amed never
does."""


def digest_of(path: Path, algorithm: str, known: Digests) -> str:
    """The file's digest, read again only when it may have changed: every cycle checks
    every served version, and hashing 75 MB again each time is most of what the checks
    cost on a loaded machine."""
    stat = path.stat()
    key = (algorithm, str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in known:
        fd = os.open(path, os.O_RDONLY)
        try:
            known[key] = file_checksum(fd, algorithm=algorithm).digest
        finally:
            os.close(fd)
    return known[key]


def assert_consistent(ws: Workspace, known: Digests | None = None) -> dict[str, int]:
    """The log explains the tables, and every served version is whole in the store.

    Returns {data set: served version} for the ready ones."""
    known = {} if known is None else known
    with StateStore.in_dir(ws.state) as state:
        assert state.check() == []
        observed = state.observed()
    ready: dict[str, int] = {}
    for (project, name), row in observed.datasets.items():
        if row.version is None:
            assert row.status != "ready", row
            continue
        prefix = ws.objects / "datasets" / project / name / str(row.version)
        manifest = Manifest.from_json((prefix / "manifest.json").read_bytes())
        assert row.files == len(manifest.files) and row.size_bytes == manifest.size_bytes
        for entry in manifest.files:
            found = digest_of(prefix / "files" / entry.path, entry.algorithm, known)
            assert found == entry.digest, entry
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


# The work is real and grows with the load: 30 daemon starts (an interpreter and its imports
# each) and some 30 versions of 75 MB written, hashed and copied, about 30 s of CPU. On two
# cores that took 20 s idle and 190 s at load 10 to 12. The suite's 120 s would fail it for
# being slow, not wrong; 600 s is there for a hang, and a cycle that neither reaches its
# moment nor converges fails on its own after CYCLE_TIMEOUT_SECONDS.
@pytest.mark.timeout(600)
def test_sigkill_at_any_moment_never_loses_data_and_the_daemon_converges(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.env.update(AME_RETRY_BASE_SECONDS="0.001", AME_MAX_PARALLEL="2")
    ws.write("make_data.py", MAKE_DATA)
    write_generation(ws, 0)
    assert ws.once().returncode == 0
    known: Digests = {}
    assert assert_consistent(ws, known) == {"big": 1, "small": 1}

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
        if kill_when(daemon, reached_predicate, converged(ws, kill + 1)):
            reached[name] += 1
        assert_consistent(ws, known)

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
