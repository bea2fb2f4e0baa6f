"""`ame task list`: a data set's producing task lists the data sets it takes as inputs, as
a consuming task lists the ones it reads."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from state.db import StateStore
from state.events import DatasetDeclared, TaskDeclared
from tests.conftest import command_path

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def ame(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    return subprocess.run(
        [command_path("ame"), *args, "--state-dir", str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=True,
    )


def test_a_producing_task_lists_its_data_sets_inputs(tmp_path: Path) -> None:
    common = {"at": NOW, "project": "demo", "spec_hash": "h"}
    with StateStore.in_dir(tmp_path) as store:
        store.append(
            [
                DatasetDeclared(**common, dataset="raw", path="raw", task="fetch"),
                DatasetDeclared(
                    **common, dataset="good", path="good", task="clean", inputs=("raw",)
                ),
                DatasetDeclared(
                    **common, dataset="both", path="both", task="join", inputs=("raw", "good")
                ),
                TaskDeclared(at=NOW, project="demo", task="train", data_sets=("good",)),
            ]
        )
    views = {v["name"]: v for v in json.loads(ame(tmp_path, "task", "list", "--json").stdout)}
    assert {name: v["data_sets"] for name, v in views.items()} == {
        "fetch": [],
        "clean": ["raw"],
        "join": ["raw", "good"],
        "train": ["good"],
    }
    header, *rows = ame(tmp_path, "task", "list").stdout.splitlines()
    assert header.split()[:4] == ["NAME", "STATUS", "USES", "PRODUCES"]
    assert sorted((cells[0], cells[2], cells[3]) for cells in map(str.split, rows)) == [
        ("clean", "raw", "good"),
        ("fetch", "-", "raw"),
        ("join", "raw,good", "both"),
        ("train", "good", "-"),
    ]
