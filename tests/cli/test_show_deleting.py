"""`ame ds show` of a data set that left ame.yaml says when it goes, not only that it is
`deleting`: the time, how far off, and the same time in --json."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from state.db import StateStore
from state.events import DatasetDeclared, DatasetUndeclared
from state.timefmt import format_time
from tests.conftest import command_path


def ame(state_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    return subprocess.run(
        [command_path("ame"), *args, "--state-dir", str(state_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=True,
    ).stdout


def test_show_of_a_deleting_data_set_says_when_it_is_deleted(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # An hour past three days: still "in 3d" however slowly the command starts.
    goes_at = now + timedelta(days=3, hours=1)
    with StateStore.in_dir(tmp_path) as store:
        store.append(
            [
                DatasetDeclared(
                    at=now, project="p", dataset="old", spec_hash="h", path="old", task="t"
                ),
                DatasetDeclared(
                    at=now, project="p", dataset="kept", spec_hash="h", path="kept", task="t"
                ),
                DatasetUndeclared(at=now, project="p", dataset="old", delete_after=goes_at),
            ]
        )
    lines = ame(tmp_path, "ds", "show", "old").splitlines()
    assert "status:         deleting" in lines
    assert f"deleted after:  {format_time(goes_at)} (in 3d)" in lines
    assert json.loads(ame(tmp_path, "ds", "show", "old", "--json"))["delete_after"] == format_time(
        goes_at
    )
    kept = ame(tmp_path, "ds", "show", "kept")
    assert "deleted after:  -" in kept.splitlines()
    assert json.loads(ame(tmp_path, "ds", "show", "kept", "--json"))["delete_after"] is None
