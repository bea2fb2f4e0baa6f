"""The core path end to end: the real `amed` and `ame` commands against a temporary project,
state dir and file:// store, checking the store's objects and manifests directly."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from amed.store.checksum import ALGORITHMS, bytes_checksum
from tests.conftest import Workspace

MNIST = """
projectname: demo
tasks:
  - name: fetch_mnist
    executor: !custom
      command: {command}
dataSets:
  - name: mnist
    path: ./data
    size: 50Mi
    task:
      taskRef: fetch_mnist
"""
WRITE_DATA = (
    "mkdir -p data/sub && printf 'images' > data/train.bin"
    " && printf 'labels!' > data/sub/labels.bin"
    ' && echo run >> "$RUNS_LOG"'
)


def manifest(ws: Workspace, name: str, version: int, project: str = "demo") -> dict[str, object]:
    path = ws.objects / "datasets" / project / name / str(version) / "manifest.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def producing_runs(ws: Workspace) -> int:
    log = ws.root / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_once_produces_and_commits_the_mnist_data_set(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert producing_runs(ws) == 1
    doc = manifest(ws, "mnist", 1)
    files = {f["path"]: f for f in doc["files"]}  # type: ignore[attr-defined]
    assert set(files) == {"train.bin", "sub/labels.bin"}
    for rel, content in (("train.bin", b"images"), ("sub/labels.bin", b"labels!")):
        stored = ws.objects / "datasets/demo/mnist/1/files" / rel
        assert stored.read_bytes() == content
        (algorithm,) = set(files[rel]) & set(ALGORITHMS)
        assert files[rel][algorithm] == bytes_checksum(content, algorithm)
        assert files[rel]["size_bytes"] == len(content)
    assert not (ws.project / "data").exists(), "the task ran in a copy, not in the project"


def test_ds_list_shows_the_ready_data_set_with_every_contract_field(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    (row,) = ws.datasets()
    assert {
        "name",
        "project",
        "status",
        "declared_size_bytes",
        "size_bytes",
        "version",
        "updated_at",
        "in_use_by",
        "error",
    } <= row.keys()
    assert row["name"] == "mnist" and row["project"] == "demo"
    assert row["status"] == "ready" and row["version"] == 1 and row["error"] is None
    assert row["declared_size_bytes"] == 50 * 2**20
    assert row["size_bytes"] == len(b"images") + len(b"labels!")
    assert row["in_use_by"] == []
    assert row["updated_at"].endswith("Z") and "T" in row["updated_at"]
    table = ws.run("ame", "ds", "list", check=True).stdout
    assert "mnist" in table and "ready" in table and "50.0 MiB" in table and "13 B" in table


def test_a_second_pass_over_a_converged_project_appends_nothing_and_runs_nothing(
    ws: Workspace,
) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    events = ws.event_count()
    keys = ws.store_keys()
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert ws.event_count() == events
    assert producing_runs(ws) == 1
    assert ws.store_keys() == keys


def test_an_edited_command_produces_a_new_version_and_deletes_the_old_one(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    ws.write_spec(MNIST.format(command=WRITE_DATA.replace("images", "IMAGES-v2")))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    row = ws.dataset("mnist")
    assert (row["status"], row["version"]) == ("ready", 2)
    assert all(k.startswith("datasets/demo/mnist/2/") for k in ws.store_keys())
    assert (ws.objects / "datasets/demo/mnist/2/files/train.bin").read_bytes() == b"IMAGES-v2"
    assert manifest(ws, "mnist", 2)["version"] == 2


TWO = (
    MNIST
    + """  - name: other
    path: ./other
    task:
      executor: !custom
        command: mkdir -p other && echo other > other/x
"""
)


def test_a_data_set_deleted_from_ame_yaml_is_removed_after_its_grace(ws: Workspace) -> None:
    ws.env["AME_DELETION_GRACE_SECONDS"] = "0"
    ws.write_spec(TWO.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert all(k.startswith("datasets/demo/mnist/") for k in ws.store_keys())
    assert [r["name"] for r in ws.datasets()] == ["mnist"]
    removed = ws.dataset("other")
    assert removed["status"] == "removed" and removed["version"] is None


def test_a_data_set_put_back_within_its_grace_returns_without_being_produced_again(
    ws: Workspace,
) -> None:
    ws.write_spec(TWO.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    keys = ws.store_keys()
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    assert ws.dataset("other")["status"] == "deleting"
    assert ws.store_keys() == keys, "nothing is deleted during the grace"
    ws.write_spec(TWO.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    assert ws.dataset("other")["status"] == "ready" and ws.dataset("other")["version"] == 1
    assert ws.store_keys() == keys
    assert producing_runs(ws) == 1


def test_ame_ds_delete_now_ends_the_grace(ws: Workspace) -> None:
    ws.write_spec(TWO.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    refused = ws.run("ame", "ds", "delete", "mnist", "--now")
    assert refused.returncode == 2 and "still declared" in refused.stderr
    assert ws.run("ame", "ds", "delete", "other", "--now").returncode == 0
    assert ws.once().returncode == 0
    assert ws.dataset("other")["status"] == "removed"
    assert all(k.startswith("datasets/demo/mnist/") for k in ws.store_keys())


def test_emptying_ame_yaml_deletes_nothing_until_confirmed(ws: Workspace) -> None:
    ws.env["AME_DELETION_GRACE_SECONDS"] = "0"
    ws.write_spec(TWO.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    keys = ws.store_keys()
    ws.write_spec("projectname: demo\ntasks: []\ndataSets: []\n")
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert ws.store_keys() == keys
    assert {r["status"] for r in ws.datasets()} == {"ready"}
    assert "more than 50% of the data sets at once" in proc.stderr
    assert ws.run("ame", "ds", "delete", "--all-pending").returncode == 2
    assert ws.run("ame", "ds", "delete", "--all-pending", "--confirm").returncode == 0
    assert ws.once().returncode == 0
    assert ws.store_keys() == [] and ws.datasets() == []


FAILING = "echo run >> \"$RUNS_LOG\"; echo 'no network here' >&2; exit 3"


def test_a_failing_task_is_failed_with_its_output_and_waits_for_its_backoff(
    ws: Workspace,
) -> None:
    ws.write_spec(MNIST.format(command=FAILING))
    proc = ws.once()
    assert proc.returncode == 1
    row = ws.dataset("mnist")
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "exited with code 3" in row["error"] and "no network here" in row["error"]
    failed_at = datetime.fromisoformat(row["updated_at"])
    delay = (datetime.fromisoformat(row["retry_at"]) - failed_at).total_seconds()
    assert 7.5 <= delay <= 12.5, "the first retry waits 10 s, give or take a quarter"
    assert ws.store_keys() == []
    assert ws.once().returncode == 1
    assert producing_runs(ws) == 1, "within the backoff nothing is retried"


def test_a_failed_task_runs_again_once_its_backoff_has_passed(ws: Workspace) -> None:
    ws.env["AME_RETRY_BASE_SECONDS"] = "0.001"
    ws.write_spec(MNIST.format(command=FAILING))
    assert ws.once().returncode == 1
    assert ws.once().returncode == 1
    assert producing_runs(ws) == 2
    assert ws.dataset("mnist")["attempts"] == 2


def test_a_task_past_its_timeout_fails_and_stores_nothing(ws: Workspace) -> None:
    ws.env["AME_TASK_TIMEOUT"] = "1"
    ws.write_spec(MNIST.format(command="mkdir -p data && echo partial > data/x && sleep 30"))
    proc = ws.once()
    assert proc.returncode == 1
    row = ws.dataset("mnist")
    assert row["status"] == "failed" and "timed out" in row["error"]
    assert ws.store_keys() == []


def test_an_unreachable_store_fails_the_data_set_and_marks_nothing_ready(ws: Workspace) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws.env.update(
        AME_STORAGE="s3://bucket/prefix",
        AME_CAPACITY="1Gi",  # above its declared 50Mi: the store, not the budget, fails it
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="supersecretvalue",
        AWS_REGION="us-east-1",
    )
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    proc = ws.once()
    assert proc.returncode == 1
    row = ws.dataset("mnist")
    assert row["status"] == "failed" and row["version"] is None
    assert "supersecretvalue" not in proc.stderr + json.dumps(row)


SEED_EXAMPLE = """\
dataSets:
  - name: mnist
    path: ./data # Specifies where the tasks stores data.
#    task:
      taskRef: fetch_mnist # References a task which produces data.
"""


def test_an_invalid_ame_yaml_is_one_located_line_and_changes_nothing(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    db = ws.state / "state.db"
    before = (db.read_bytes(), ws.store_keys(), ws.event_count())
    (ws.project / "ame.yaml").write_text(SEED_EXAMPLE)
    for args in (("amed", "run", "--once"), ("ame", "validate")):
        proc = ws.run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("ame.yaml:5:7: ") or "/ame.yaml:5:7: " in lines[0]
        assert "task:" in lines[0]
        assert "Traceback" not in proc.stderr
    assert (db.read_bytes(), ws.store_keys(), ws.event_count()) == before


def test_an_invalid_ame_yaml_on_a_fresh_machine_creates_no_state(ws: Workspace) -> None:
    (ws.project / "ame.yaml").write_text("dataSets:\n  - name: x\n    size: lots\n")
    proc = ws.once()
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4, lines  # every problem at once, one line each, no traceback
    assert "missing required key 'name'" in lines[0] and "'lots' is not a quantity" in lines[-1]
    assert not ws.state.exists() and not ws.objects.exists()


def test_the_bundled_example_project_converges(ws: Workspace) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "mnist"
    shutil.copytree(example, ws.project, dirs_exist_ok=True)
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    statuses = {row["name"]: row["status"] for row in ws.datasets()}
    assert statuses == {"mnist": "ready", "digit_counts": "ready"}
    keys = ws.store_keys()
    assert "datasets/mnist/mnist/1/files/train-images-idx3-ubyte" in keys
    assert "datasets/mnist/digit_counts/1/files/counts.json" in keys


def wait_for(predicate: object, timeout: float = 90.0) -> None:
    """Wait for an event; the bound only turns a hang into a failure, far above what a
    loaded machine needs (30 s was reached at load 25), and below the test's own timeout
    (120 s), so that this failure, which says what was awaited, is the one seen."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_the_daemon_produces_follows_edits_and_stops_cleanly_on_sigterm(ws: Workspace) -> None:
    import signal
    import subprocess

    from tests.conftest import command_path

    ws.write_spec(MNIST.format(command=WRITE_DATA))
    daemon = subprocess.Popen(
        [command_path("amed"), "--interval", "0.2"],
        cwd=ws.project,
        env=ws.base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: any(r["status"] == "ready" for r in ws.datasets()))
        ws.write_spec(MNIST.format(command=WRITE_DATA.replace("images", "v2")))
        wait_for(lambda: ws.dataset("mnist")["version"] == 2 and len(ws.store_keys()) == 3)
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert out == "", "the daemon writes logs to stderr only"
    lines = [json.loads(line) for line in err.splitlines()]
    stored = [e for e in lines if e["event"] == "version_stored"]
    assert [e["version"] for e in stored] == [1, 2]
    assert all(e["dataset"] == "mnist" and e["run_id"] for e in stored)
    assert lines[-1]["event"] == "stopped"


def test_a_state_dir_refuses_a_store_other_than_its_own(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    proc = ws.once("--storage", (ws.root / "elsewhere").as_uri())
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert f"keeps its data sets in {ws.storage_url}" in line
    assert ws.dataset("mnist")["status"] == "ready"


def test_the_debris_sweep_leaves_other_projects_in_a_shared_store_alone(ws: Workspace) -> None:
    ws.write_spec(MNIST.format(command=WRITE_DATA))
    assert ws.once().returncode == 0
    other = ws.root / "other-project"
    other.mkdir()
    (other / "ame.yaml").write_text(
        MNIST.format(command=WRITE_DATA).replace("projectname: demo", "projectname: other")
    )
    ws.env.update(AME_PROJECT=str(other), AME_STATE_DIR=str(ws.root / "other-state"))
    assert ws.once().returncode == 0
    keys = ws.store_keys()
    assert any(k.startswith("datasets/demo/mnist/1/") for k in keys)
    assert any(k.startswith("datasets/other/mnist/1/") for k in keys)
