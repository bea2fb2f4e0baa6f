"""`ame ds list --json` answered before click is imported: the same objects as the full
command and the contract's `dataset_json`, errors still one line, and a pipe that closes
early is no error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from amed.cli.ame_cmd import cli as ame
from amed.cli.list_json import ListingRequest, listing_request
from amed.web.listing import dataset_json
from state.db import StateStore
from state.events import DatasetDeclared, DatasetRemoved, RunFailed, RunStarted
from state.read import StateReader
from tests.conftest import command_path

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def seed(state_dir: Path) -> None:
    """Three data sets: one failed with a two-line error, one removed, one pending with
    inputs."""
    common = {"at": NOW, "project": "demo"}
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                DatasetDeclared(
                    **common, dataset="a", spec_hash="h", path="a", task="t", inputs=("b",)
                ),
                DatasetDeclared(
                    **common, dataset="b", spec_hash="h", path="b", task="t",
                    declared_size_bytes=2048,
                ),
                DatasetDeclared(**common, dataset="gone", spec_hash="h", path="g", task="t"),
                RunStarted(
                    **common, dataset="b", run_id="r1", version=1, spec_hash="h", task="t",
                    attempt=1,
                ),
                RunFailed(
                    **common, dataset="b", run_id="r1", stage="task", reason="exited 2",
                    output_tail="line one\nline two\n",
                ),
                DatasetRemoved(**common, dataset="gone", reason="no longer declared"),
            ]
        )  # fmt: skip


def ame_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    return subprocess.run(
        [command_path("ame"), *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("include_removed", [False, True])
def test_the_fast_listing_gives_the_full_command_s_and_the_contract_s_objects(
    tmp_path: Path, include_removed: bool
) -> None:
    seed(tmp_path)
    extra = ["--all"] if include_removed else []
    fast = ame_process("ds", "list", "--json", *extra, "--state-dir", str(tmp_path))
    full = CliRunner().invoke(ame, ["ds", "list", "--json", *extra, "--state-dir", str(tmp_path)])
    assert fast.returncode == 0 and full.exit_code == 0
    assert fast.stdout == full.stdout
    reader = StateReader.in_dir(tmp_path)
    expected = [dataset_json(row) for row in reader.datasets(include_removed=include_removed)]
    reader.close()
    assert json.loads(fast.stdout) == expected
    assert [list(o) for o in json.loads(fast.stdout)] == [list(o) for o in expected]  # key order
    assert [r["name"] for r in expected] == (["a", "b", "gone"] if include_removed else ["a", "b"])
    assert expected[1]["error"] == "exited 2\nline one\nline two"


def test_the_listing_imports_neither_click_nor_the_commands(tmp_path: Path) -> None:
    seed(tmp_path)
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write(' '.join(sorted(sys.modules))))\n"
        "from amed.cli.ame_entry import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "ds", "list", "--json", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 2
    modules = set(proc.stderr.split())
    assert "amed.cli.list_json" in modules
    assert not modules & {"click", "rich", "pydantic", "amed.cli.ame_cmd", "state.read"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ds", "list", "--json"], ListingRequest()),
        (["dataset", "list", "--all", "--json"], ListingRequest(include_removed=True)),
        (["ds", "list", "--json", "--state-dir", "s"], ListingRequest(state_dir=Path("s"))),
        (["ds", "list", "--state-dir=s", "--json"], ListingRequest(state_dir=Path("s"))),
        (
            ["ds", "list", "--json", "--config", "c.toml"],
            ListingRequest(config_file=Path("c.toml")),
        ),
        (["ds", "list"], None),  # the table is the full command's
        (["ds", "list", "--json", "--help"], None),
        (["ds", "list", "--json", "--json"], None),
        (["ds", "list", "--json", "--state-dir"], None),
        (["ds", "list", "--json", "--state-dir", "--all"], None),
        (["ds", "list", "--json", "--state-dir", "a", "--state-dir", "b"], None),
        (["--version", "ds", "list", "--json"], None),
        (["ds", "show", "--json"], None),
        (["ds", "list", "--json", "extra"], None),
    ],
)
def test_only_a_plain_json_listing_takes_the_short_way(
    argv: list[str], expected: ListingRequest | None
) -> None:
    assert listing_request(argv) == expected


def test_errors_are_the_full_command_s_one_line(tmp_path: Path) -> None:
    missing = ame_process("ds", "list", "--json", "--state-dir", str(tmp_path))
    assert missing.returncode == 1 and missing.stdout == ""
    (line,) = missing.stderr.splitlines()
    assert line.startswith(f"error: no state database in {tmp_path}")
    config = tmp_path / "amed.toml"
    config.write_text("state_dir = [")
    bad = ame_process("ds", "list", "--json", "--config", str(config))
    assert bad.returncode == 2 and bad.stdout == ""
    (line,) = bad.stderr.splitlines()
    assert line.startswith(f"error: {config}: invalid TOML")
    usage = ame_process("ds", "list", "--json", "--state-dir")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_an_empty_state_lists_an_empty_array(tmp_path: Path) -> None:
    StateStore.in_dir(tmp_path).close()
    proc = ame_process("ds", "list", "--json", env={"AME_STATE_DIR": str(tmp_path)})
    assert proc.returncode == 0 and proc.stdout == "[]\n"


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    common = {"at": NOW, "project": "demo"}
    with StateStore.in_dir(tmp_path) as store:
        store.append(
            [
                DatasetDeclared(
                    **common, dataset=f"d{i:05d}", spec_hash="h", path=f"p{i}", task="t"
                )
                for i in range(3000)
            ]
        )
    proc = subprocess.Popen(
        [command_path("ame"), "ds", "list", "--json", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"[\n"
    proc.stdout.close()  # the reader goes away with most of the listing unread
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err == ""
