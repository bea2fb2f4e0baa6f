"""Readers that have only the store (its URL and credentials) read what the daemon
committed, on file:// and on S3: the current version, a pinned one, a version replaced
while it is being read, a tampered object, and the debris of a daemon that was killed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from amed.store.checksum import WRITE_ALGORITHM, bytes_checksum
from tests.api.conftest import Stored, run_reader, sha256, start_reader
from tests.service.daemon import Daemon, statuses, wait_for


def digest(data: bytes) -> dict[str, object]:
    return {"sha256": sha256(data), "size": len(data)}


def test_a_reader_with_only_the_store_reads_the_current_version(stored: Stored) -> None:
    files = stored.produce("one")
    listed, described, labels, images, seeked, local, frame, text = stored.read(
        ("list", {}),
        ("files", {"name": "mnist"}),
        ("read", {"name": "mnist", "path": "labels.csv"}),
        ("read", {"name": "mnist", "path": "train/images.bin"}),
        ("seek", {"name": "mnist", "path": "train/images.bin", "offset": 1000, "size": 5000}),
        ("path", {"name": "mnist"}),
        ("pandas", {"url": "ame://mnist/labels.csv"}),
        ("text", {"name": "mnist", "path": "train/name.txt"}),
    )
    [row] = listed["ok"]
    assert (row["name"], row["project"], row["status"], row["version"]) == (
        "mnist",
        "demo",
        "ready",
        1,
    )
    assert (row["files"], row["place"]) == (3, "store")
    assert row["size_bytes"] == sum(len(data) for data in files.values())
    assert {f["path"]: (f["size_bytes"], f["algorithm"], f["digest"]) for f in described["ok"]} == {
        path: (len(data), WRITE_ALGORITHM, bytes_checksum(data, WRITE_ALGORITHM))
        for path, data in files.items()
    }
    assert labels == {"ok": digest(files["labels.csv"])}
    assert images == {"ok": digest(files["train/images.bin"])}
    assert seeked == {"ok": digest(files["train/images.bin"][1000:6000])}
    assert local["ok"]["files"] == {path: digest(data) for path, data in files.items()}
    assert frame == {"ok": {"label": ["one", "one"], "value": [1, 2]}}
    assert text == {"ok": "one"}


def test_the_project_can_be_named_and_a_second_path_call_reuses_the_verified_copy(
    stored: Stored,
) -> None:
    stored.produce("one")
    first, second, frame = stored.read(
        ("path", {"name": "mnist", "project": "demo", "store": stored.url}),
        ("path", {"name": "mnist", "project": "demo", "store": stored.url}),
        (
            "pandas",
            {
                "url": "ame://demo/mnist@1/labels.csv",
                "storage_options": {"store": stored.url, "project": "demo"},
            },
        ),
    )
    assert first["ok"]["path"] == second["ok"]["path"]
    assert "/ame/datasets/" in first["ok"]["path"]
    assert frame["ok"]["label"] == ["one", "one"]


def test_a_pinned_version_is_read_while_it_is_stored_and_refused_once_it_is_gone(
    stored: Stored,
) -> None:
    old = stored.produce("one")
    new = stored.produce("two")  # a new version; the old one is deleted once it is ready
    current, pinned_new, pinned_old = stored.read(
        ("read", {"name": "mnist", "path": "train/images.bin"}),
        ("read", {"name": "mnist", "path": "train/images.bin", "version": 2}),
        ("read", {"name": "mnist", "path": "train/images.bin", "version": 1}),
    )
    assert current == pinned_new == {"ok": digest(new["train/images.bin"])}
    assert old["train/images.bin"] != new["train/images.bin"]
    assert pinned_old["error"] == "VersionNotStored"
    assert "version 1 is not stored" in pinned_old["message"]
    assert "(stored: 2)" in pinned_old["message"]


def test_a_version_replaced_while_a_reader_holds_it_open_is_read_whole_or_fails_cleanly(
    stored: Stored,
) -> None:
    old = stored.produce("one", big_bytes=8_000_000)
    ready, go = stored.ws.root / "ready", stored.ws.root / "go"
    home = stored.ws.root / "reader-home"
    home.mkdir()
    reader = start_reader(
        [
            (
                "open_partial",
                {
                    "name": "mnist",
                    "path": "train/images.bin",
                    "first": 1_000_000,
                    "ready_file": str(ready),
                    "go_file": str(go),
                },
            )
        ],
        stored.reader_env(home),
        cwd=home,
    )
    try:
        wait_for(ready.exists, timeout=60)
        new = stored.produce("two", big_bytes=8_000_000)  # v2 committed, v1 deleted
        assert stored.ws.dataset("mnist")["version"] == 2
        go.write_text("go")
        out, err = reader.communicate(timeout=120)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    [result] = json.loads(out)
    if "ok" in result:  # the old version, whole: never a byte of the new one
        assert result["ok"] == digest(old["train/images.bin"])
    else:
        assert result["error"] == "VersionGone", result
        assert "read it again" in result["message"]
    [again] = stored.read(("read", {"name": "mnist", "path": "train/images.bin"}))
    assert again == {"ok": digest(new["train/images.bin"])}


def test_a_tampered_object_is_an_error_and_hands_out_no_bad_bytes(stored: Stored) -> None:
    files = stored.produce("one")
    key = "datasets/demo/mnist/1/files/train/images.bin"
    bad = bytearray(files["train/images.bin"])
    bad[-10] ^= 0xFF  # same size, one byte changed near the end
    stored.put_raw(key, bytes(bad))
    stored.put_raw("datasets/demo/mnist/1/files/labels.csv", b"label,value\nevil,6\nevil,6\n")
    whole, start, local, frame, other = stored.read(
        ("read", {"name": "mnist", "path": "train/images.bin"}),
        ("seek", {"name": "mnist", "path": "train/images.bin", "offset": 0, "size": 1000}),
        ("path", {"name": "mnist"}),
        ("pandas", {"url": "ame://mnist/labels.csv"}),
        ("read", {"name": "mnist", "path": "train/name.txt"}),
    )
    assert whole["error"] == "ChecksumMismatch"
    assert "train/images.bin" in whole["message"] and "\n" not in whole["message"]
    # Bytes before the point where the mismatch can be known are the stored ones...
    assert start == {"ok": digest(files["train/images.bin"][:1000])}
    # ...but a copy, and a whole read, get nothing.
    assert local["error"] == "ChecksumMismatch"
    cache = stored.ws.root / "reader-home" / "cache" / "ame" / "datasets"
    assert not list(cache.rglob("images.bin")), "no bad file is left in the cache"
    assert frame["error"] == "ChecksumMismatch" and "labels.csv" in frame["message"]
    assert other == {"ok": digest(files["train/name.txt"])}


def test_a_read_that_reaches_a_mismatching_end_raises_instead_of_returning(
    stored: Stored,
) -> None:
    files = stored.produce("one")
    data = files["train/images.bin"]
    stored.put_raw("datasets/demo/mnist/1/files/train/images.bin", data[:-1] + b"\x00")
    tail, middle = stored.read(
        (
            "seek",
            {"name": "mnist", "path": "train/images.bin", "offset": len(data) - 100, "size": 100},
        ),
        ("seek", {"name": "mnist", "path": "train/images.bin", "offset": 5000, "size": 100}),
    )
    assert tail["error"] == "ChecksumMismatch"
    assert middle == {"ok": digest(data[5000:5100])}


def test_debris_left_by_a_killed_daemon_is_never_read(stored: Stored) -> None:
    ws = stored.ws
    files = stored.produce("one")
    # A daemon killed while producing version 2 (its task still running)...
    original = (ws.project / "ame.yaml").read_text()
    ws.write_spec(original.replace("command: ", "command: sleep 3600 && ", 1))
    daemon = Daemon(ws)
    try:
        wait_for(lambda: statuses(ws).get("mnist", ("", None))[0] == "running", timeout=60)
    finally:
        daemon.kill()
    # ...and what a kill between version 2's manifest and its `version_stored` event
    # leaves: a complete-looking version that nothing committed.
    manifest = json.loads(stored.store()._get_bytes("datasets/demo/mnist/1/manifest.json") or b"")
    debris = b"DEBRIS" * 1000
    stored.put_raw("datasets/demo/mnist/2/files/train/images.bin", debris)
    manifest.update(version=2, size_bytes=len(debris))
    manifest["files"] = [
        {"path": "train/images.bin", "size_bytes": len(debris), "sha256": sha256(debris)}
    ]
    stored.put_raw("datasets/demo/mnist/2/manifest.json", json.dumps(manifest).encode())
    current, pinned, listed = stored.read(
        ("read", {"name": "mnist", "path": "train/images.bin"}),
        ("read", {"name": "mnist", "path": "train/images.bin", "version": 2}),
        ("list", {}),
    )
    assert current == {"ok": digest(files["train/images.bin"])}
    assert pinned["error"] == "VersionNotStored"
    assert listed["ok"][0]["version"] == 1
    # The next start ends the killed daemon's task and deletes the debris (whether the run
    # it lost is tried again is the planner's business); readers get what it committed.
    ws.write_spec(original)
    assert ws.once().returncode == 0
    row = ws.dataset("mnist")
    expected = stored.version_files(row["version"])["train/images.bin"]
    assert expected != debris
    [after] = stored.read(("read", {"name": "mnist", "path": "train/images.bin"}))
    assert after == {"ok": digest(expected)}


def test_a_pointer_lost_in_a_crash_after_the_commit_is_written_again_at_the_next_start(
    stored: Stored,
) -> None:
    files = stored.produce("one")
    stored.delete_raw("datasets/demo/mnist/current.json")
    [before] = stored.read(("read", {"name": "mnist", "path": "labels.csv"}))
    assert before["error"] == "NotReady"
    assert "no published version" in before["message"]
    assert stored.ws.once().returncode == 0  # a start sweeps, and mends the pointer
    [after] = stored.read(("read", {"name": "mnist", "path": "labels.csv"}))
    assert after == {"ok": digest(files["labels.csv"])}


def test_errors_name_the_data_set_and_say_why_in_one_line(stored: Stored) -> None:
    stored.produce("one")
    unknown, no_file, wrong_project = stored.read(
        ("read", {"name": "nope", "path": "x"}),
        ("read", {"name": "mnist", "path": "nope.txt"}),
        ("read", {"name": "mnist", "path": "labels.csv", "project": "other"}),
    )
    assert unknown["error"] == "UnknownDataset"
    assert unknown["message"].startswith("nope: nothing stored in project demo")
    assert "stored: mnist" in unknown["message"]
    assert no_file["error"] == "UnknownDataset" and "nope.txt" in no_file["message"]
    assert wrong_project["error"] == "UnknownDataset"
    for result in (unknown, no_file, wrong_project):
        assert "\n" not in result["message"] and "Traceback" not in result["message"]


def test_a_reader_with_no_store_at_all_is_told_where_it_looked(
    file_stored: Stored, tmp_path: Path
) -> None:
    file_stored.produce("one")
    home = tmp_path / "elsewhere"
    home.mkdir()
    env = file_stored.reader_env(home)
    del env["AME_STORAGE"]
    [result] = run_reader([("read", {"name": "mnist", "path": "labels.csv"})], env, cwd=home)
    assert result["error"] == "NoStoreReachable"
    assert "AME_STORAGE" in result["message"]


def test_an_unreachable_store_is_no_store_reachable(file_stored: Stored, tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    home.mkdir()
    env = file_stored.reader_env(
        home,
        AME_STORAGE="s3://bucket/x",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="k",
        AWS_SECRET_ACCESS_KEY="s",
    )
    began = time.monotonic()
    [result] = run_reader([("list", {"project": "demo"})], env, cwd=home)
    assert result["error"] == "NoStoreReachable", result
    assert time.monotonic() - began < 90
