"""The other two places that answer `amed.datasets`: the working copy of a task that uses
the data set (no store at all), and the daemon's state on its host (statuses, eviction,
asking the daemon for a data set and waiting for it)."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from amed.engine.local_run import WORK_DIR_NAME
from amed.store.checksum import WRITE_ALGORITHM, bytes_checksum
from tests.api.conftest import Stored, run_reader, sha256, start_reader
from tests.conftest import Workspace
from tests.service.daemon import Daemon, statuses, wait_for

READ_INPUT = """
import json, os
import amed.datasets as ds

out = {
    "list": [(d.name, d.place, d.status) for d in ds.list()],
    "text": ds.read_text("mnist", "train/name.txt"),
    "path": str(ds.path("mnist")),
    "files": sorted((f.path, f.size_bytes, f.algorithm, f.digest) for f in ds.files("mnist")),
    "storage": os.environ.get("AME_STORAGE"),
}
with open(os.environ["RUNS_LOG"] + ".reader", "w") as handle:
    json.dump(out, handle)
"""

CONSUMER = """
  - name: reader
    executor: !custom
      command: {python} read_input.py
    dataSets: [mnist]
"""


def test_a_task_that_uses_a_data_set_reads_the_copy_in_its_working_copy(
    file_stored: Stored,
) -> None:
    ws = file_stored.ws
    files = file_stored.produce("one")
    spec = (ws.project / "ame.yaml").read_text()
    ws.write_spec(
        spec.replace("dataSets:\n", CONSUMER.format(python=sys.executable) + "dataSets:\n", 1)
    )
    ws.write("read_input.py", READ_INPUT)
    assert ws.run("ame", "task", "run", "reader").returncode == 0
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    out = json.loads(Path(str(ws.root / "runs.log") + ".reader").read_text())
    assert out["storage"] is None, "a task is given no store"
    assert out["list"] == [["mnist", "task", "ready"]]
    assert out["text"] == "one"
    placed = Path(out["path"]).relative_to(ws.state / "runs")
    assert placed.parts[1:] == (WORK_DIR_NAME, "data"), "the run's own working copy"
    assert out["files"] == sorted(
        [p, len(d), WRITE_ALGORITHM, bytes_checksum(d, WRITE_ALGORITHM)] for p, d in files.items()
    )


def two_data_sets(a_bytes: int, b: bool) -> str:
    lines = ["projectname: demo", "dataSets:"]
    for name, size, declared in [("a", a_bytes, "1Mi"), ("b", 2_400_000, "2500Ki")][
        : 2 if b else 1
    ]:
        lines += [
            f"  - name: {name}",
            f"    path: {name}",
            f"    size: {declared}",
            "    task:",
            "      executor: !custom",
            f"        command: mkdir -p {name} && head -c {size} /dev/urandom > {name}/blob",
        ]
    return "\n".join(lines) + "\n"


def evicted_workspace(ws: Workspace) -> None:
    """`a` stored, then evicted to make room for `b`."""
    ws.env.update(AME_CAPACITY="3Mi", AME_MAX_PARALLEL="1")
    ws.write_spec(two_data_sets(1_000_000, b=False))
    assert ws.once().returncode == 0
    ws.write_spec(two_data_sets(1_000_000, b=True))
    assert ws.once().returncode == 0
    assert {n: s for n, (s, _) in statuses(ws).items()} == {"a": "evicted", "b": "ready"}


def host_env(ws: Workspace, home: Path) -> dict[str, str]:
    """A process on the daemon's host: its state dir and store, as `ame` gets them."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "AME_STATE_DIR": str(ws.state),
        "AME_STORAGE": ws.storage_url,
    }


def test_on_the_daemons_host_statuses_come_from_its_state_and_evicted_says_so(
    ws: Workspace, tmp_path: Path
) -> None:
    evicted_workspace(ws)
    home = tmp_path / "home"
    home.mkdir()
    listed, evicted, asked, ready = run_reader(
        [
            ("list", {}),
            ("read", {"name": "a", "path": "blob"}),
            ("read", {"name": "a", "path": "blob", "request": True}),
            ("read", {"name": "b", "path": "blob"}),
        ],
        host_env(ws, home),
        cwd=home,
    )
    rows = {row["name"]: row for row in listed["ok"]}
    assert (rows["a"]["status"], rows["a"]["version"], rows["a"]["place"]) == (
        "evicted",
        None,
        "state",
    )
    assert (rows["b"]["status"], rows["b"]["version"]) == ("ready", 1)
    assert evicted["error"] == "Evicted"
    assert evicted["message"].startswith("a is evicted")
    assert "request=True asks the daemon for it" in evicted["message"]
    assert asked["error"] == "Evicted" and "no amed daemon is running" in asked["message"]
    assert ready["ok"]["size"] == 2_400_000
    # From the store alone, an evicted data set has nothing to read.
    store_only = {k: v for k, v in host_env(ws, home).items() if k != "AME_STATE_DIR"}
    store_only["XDG_STATE_HOME"] = str(home / "state")
    [alone] = run_reader([("read", {"name": "a", "path": "blob"})], store_only, cwd=home)
    assert alone["error"] == "UnknownDataset" and "evicted" in alone["message"]


def test_request_asks_the_running_daemon_for_an_evicted_data_set_and_waits(
    ws: Workspace, tmp_path: Path
) -> None:
    evicted_workspace(ws)
    home = tmp_path / "home"
    home.mkdir()
    daemon = Daemon(ws, "--interval", "0.5")
    try:
        wait_for(lambda: bool(daemon.logged("pass_planned")) or _alive(ws), timeout=60)
        [got] = run_reader(
            [("read", {"name": "a", "path": "blob", "request": True, "timeout_seconds": 120})],
            host_env(ws, home),
            cwd=home,
        )
    finally:
        daemon.stop()
    assert got["ok"]["size"] == 1_000_000, got
    assert statuses(ws)["a"][0] == "ready"


def _alive(ws: Workspace) -> bool:
    from tests.service.daemon import heartbeat

    row = heartbeat(ws)
    return row is not None and row.state != "stopped"


def test_pull_writes_the_version_where_asked_and_refuses_a_directory_in_use(
    file_stored: Stored, tmp_path: Path
) -> None:
    files = file_stored.produce("one")
    dest = tmp_path / "copy"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    pulled, refused, replaced = file_stored.read(
        ("pull", {"name": "mnist", "dest": str(dest)}),
        ("pull", {"name": "mnist", "dest": str(busy)}),
        ("pull", {"name": "mnist", "dest": str(busy), "overwrite": True}),
    )
    assert pulled == {"ok": sorted(files)}
    assert (dest / "train" / "images.bin").read_bytes() == files["train/images.bin"]
    assert refused["error"] == "DatasetError" and "overwrite=True" in refused["message"]
    assert replaced == {"ok": sorted(files)}
    assert not (busy / "mine.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left"


def test_the_cache_keeps_recent_versions_within_its_size(file_stored: Stored) -> None:
    file_stored.produce("one", big_bytes=3_000_000)
    first = file_stored.read(("path", {"name": "mnist"}), AME_CACHE_SIZE="4Mi")[0]["ok"]["path"]
    file_stored.produce("two", big_bytes=3_000_000)
    second = file_stored.read(("path", {"name": "mnist"}), AME_CACHE_SIZE="4Mi")[0]["ok"]["path"]
    assert first != second
    assert Path(second).is_dir()
    assert not Path(first).exists(), "the older copy went to make room"
    text = textwrap.dedent(Path(second, "train", "name.txt").read_text())
    assert text == "two"


def test_the_cache_never_deletes_a_copy_a_live_process_was_handed(file_stored: Stored) -> None:
    """The least recently used entry goes to make room, unless a process that got it from
    ds.path() is still running: then it stays, whole, until that process exits."""
    one = file_stored.produce("one", big_bytes=3_000_000)
    home = file_stored.ws.root / "reader-home"
    home.mkdir()
    ready, go = file_stored.ws.root / "ready", file_stored.ws.root / "go"
    holder = start_reader(
        [("path_held", {"name": "mnist", "ready_file": str(ready), "go_file": str(go)})],
        file_stored.reader_env(home, AME_CACHE_SIZE="4Mi"),
        cwd=home,
    )
    try:
        wait_for(ready.exists, timeout=60)
        held = Path(ready.read_text())
        file_stored.produce("two", big_bytes=3_000_000)
        [second] = file_stored.read(("path", {"name": "mnist"}), AME_CACHE_SIZE="4Mi")
        assert Path(second["ok"]["path"]) != held
        assert held.is_dir(), "in use: kept, though the cache is now above its size"
        go.write_text("go")
        out, err = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == 0, err
    [result] = json.loads(out)
    assert result["ok"]["files"]["train/images.bin"]["sha256"] == sha256(one["train/images.bin"])

    file_stored.produce("three", big_bytes=3_000_000)
    file_stored.read(("path", {"name": "mnist"}), AME_CACHE_SIZE="4Mi")
    assert not held.exists(), "no longer in use: it goes, least recently used first"


def test_a_store_that_refuses_names_itself_without_the_credentials_in_its_url(
    ws: Workspace, tmp_path: Path
) -> None:
    """On the daemon's host the store is AME_STORAGE as given (`s3://KEY:SECRET@bucket`);
    an error reading from it names the store by its credential-free URL."""
    ws.write_spec(two_data_sets(1_000, b=False))
    assert ws.once().returncode == 0

    class Refuse(BaseHTTPRequestHandler):
        def answer(self) -> None:
            body = b"<Error><Code>Refused</Code><Message>by the test</Message></Error>"
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = answer

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    home.mkdir()
    env = host_env(ws, home)
    env.update(
        AME_STORAGE="s3://AKIAHOSTKEYID:host-secret-never-shown@bucket",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}",
        AWS_REGION="us-east-1",
    )
    try:
        [failed] = run_reader([("read", {"name": "a", "path": "blob"})], env, cwd=home)
    finally:
        server.shutdown()
        server.server_close()
    assert failed["error"] and "s3://bucket" in failed["message"], failed
    assert "host-secret-never-shown" not in json.dumps(failed)
    assert "AKIAHOSTKEYID" not in json.dumps(failed)
