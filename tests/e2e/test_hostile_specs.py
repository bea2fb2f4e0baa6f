"""Hostile and broken ame.yaml files against a project that already has a ready data set:
`amed run --once` (a real process) and `ame validate` each refuse every one with exit 2 and
one located line, and nothing in the store or the event log changes. Also: a task cannot smuggle
files from outside its working copy into the store through a symlinked data directory."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from amed.cli.ame_cmd import cli as ame_cli
from tests.conftest import Workspace, command_path
from tests.spec.helpers import BROKEN_FIXTURES
from tests.spec.test_hostile import EXPECTED

GOOD = """
projectname: demo
dataSets:
  - name: mnist
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && printf 'images' > data/train.bin
"""
BIG_FILE_BYTES = 50 * 1024 * 1024
MIN_CORPUS = 40


def fingerprint(ws: Workspace) -> tuple[dict[str, str], int, list[tuple[object, ...]]]:
    """Every stored object's sha256, the number of events, and the data set rows."""
    objects = {
        key: hashlib.sha256((ws.objects / key).read_bytes()).hexdigest() for key in ws.store_keys()
    }
    with sqlite3.connect(f"{(ws.state / 'state.db').as_uri()}?mode=ro", uri=True) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        rows = conn.execute("SELECT * FROM datasets ORDER BY project, name").fetchall()
    return objects, events, rows


def run(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    program, *rest = args
    return subprocess.run(
        [command_path(program), *rest],
        cwd=ws.root,
        env=ws.base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def corpus(root: Path) -> dict[str, tuple[Path, str]]:
    """{case: (file, expected 'line:col' after the path, '' when the file itself is wrong)}"""
    cases = {path.name: (path, EXPECTED[path.name][0]) for path in BROKEN_FIXTURES.iterdir()}
    generated = root / "generated"
    generated.mkdir()
    big = generated / "fifty_megabytes.yaml"
    with big.open("wb") as handle:
        handle.write(b"projectname: p\n")
        handle.truncate(BIG_FILE_BYTES)
    cases["fifty_megabytes.yaml"] = (big, "1:1")
    fifo = generated / "fifo.yaml"
    os.mkfifo(fifo)
    cases["fifo.yaml"] = (fifo, "")
    directory = generated / "directory.yaml"
    directory.mkdir()
    cases["directory.yaml"] = (directory, "")
    return cases


def assert_one_located_line(proc: subprocess.CompletedProcess[str], path: Path, where: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    if where:
        assert re.match(rf"{re.escape(str(path))}:\d+:\d+: \S", lines[0]), lines[0]
        assert lines[0].startswith(f"{path}:{where}"), (where, lines[0])
    else:
        assert lines[0].startswith(f"{path}: "), lines[0]
    assert "Traceback" not in lines[0]


def test_every_hostile_spec_is_refused_in_one_located_line_and_changes_nothing(
    ws: Workspace,
) -> None:
    ws.write_spec(GOOD)
    assert ws.once().returncode == 0
    before = fingerprint(ws)
    assert before[0] and before[1] > 0
    cases = corpus(ws.root)
    assert len(cases) >= MIN_CORPUS

    def check(name: str) -> None:
        source, where = cases[name]
        project = ws.root / "projects" / name.removesuffix(".yaml")
        project.mkdir(parents=True)
        spec = project / "ame.yaml"
        if source.is_dir():
            spec.mkdir()
        elif not source.is_file():
            os.mkfifo(spec)
        else:
            shutil.copyfile(source, spec)
        once = run(ws, "amed", "run", "--once", "--project", str(project))
        assert_one_located_line(once, spec, where)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(check, sorted(cases)))
    # `ame` is a thin layer over the same loader: its command runs in-process, the whole of
    # it from arguments to exit code, which keeps this test at one process per file.
    runner = CliRunner()
    for name, (source, where) in sorted(cases.items()):
        if name == "fifo.yaml":  # see test_ame_validate_refuses_a_fifo_without_blocking
            continue
        result = runner.invoke(ame_cli, ["validate", str(source)])
        validated = subprocess.CompletedProcess(["ame"], result.exit_code, "", result.stderr)
        assert result.stdout == ""
        assert_one_located_line(validated, source, where)
    assert fingerprint(ws) == before


def test_ame_validate_refuses_a_fifo_without_blocking(ws: Workspace) -> None:
    fifo = ws.root / "ame.yaml"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [command_path("ame"), "validate", str(fifo)],
        env=ws.base_env(),
        capture_output=True,
        text=True,
        timeout=10,
        stdin=subprocess.DEVNULL,
    )
    assert_one_located_line(proc, fifo, "")


SYMLINKED_DATA = """
projectname: demo
dataSets:
  - name: leak
    path: ./data
    task:
      executor: !custom
        command: ln -s {outside} data && mkdir -p inside && echo mine > inside/x
"""


def test_a_data_directory_symlinked_outside_the_working_copy_stores_nothing_from_outside(
    ws: Workspace,
) -> None:
    outside = ws.root / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:outside secret\n")
    ws.write_spec(SYMLINKED_DATA.format(outside=outside))
    assert ws.once().returncode == 1
    row = ws.dataset("leak")
    assert row["status"] == "failed" and "leads outside the task's working copy" in row["error"]
    stored = [ws.objects / key for key in ws.store_keys() if "/files/" in key]
    assert not any(b"outside secret" in path.read_bytes() for path in stored)
    assert not [key for key in ws.store_keys() if key.endswith("/passwd")]
