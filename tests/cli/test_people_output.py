"""What people see: the real `ame` in a pipe and under a pseudo-terminal. In a pipe nothing
is cut or coloured; on a terminal the table fits the screen (the error ends with an
ellipsis) and statuses are coloured unless NO_COLOR is set."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from datetime import UTC, datetime
from pathlib import Path

from state.db import StateStore
from state.events import DatasetDeclared, RunFailed, RunStarted
from tests.conftest import Workspace, command_path

NOW = datetime(2026, 5, 1, tzinfo=UTC)
LONG_REASON = "exited with code 3: " + "the upstream server refused the request " * 6
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[0-9;]+)m")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TERMINAL_COLUMNS = 100


def seed(state_dir: Path) -> None:
    """`ok` pending, `bad` failed with a long reason and two lines of output."""
    common = {"at": NOW, "project": "demo"}
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                DatasetDeclared(**common, dataset="ok", spec_hash="h", path="ok", task="t"),
                DatasetDeclared(**common, dataset="bad", spec_hash="h", path="bad", task="t"),
                RunStarted(
                    **common, dataset="bad", run_id="r1", version=1, spec_hash="h", task="t",
                    attempt=1,
                ),
                RunFailed(
                    **common, dataset="bad", run_id="r1", stage="task", reason=LONG_REASON,
                    output_tail="first output line\nlast output line\n",
                ),
            ]
        )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    drop = ("AME_", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TERM")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return env | {"TERM": "xterm-256color"} | extra


def in_pipe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [command_path("ame"), *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def in_terminal(*args: str, **env: str) -> str:
    """Everything the command wrote to a pseudo-terminal of TERMINAL_COLUMNS columns."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, TERMINAL_COLUMNS, 0, 0))
    proc = subprocess.Popen(
        [command_path("ame"), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=clean_env(**env),
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_in_a_pipe_the_error_is_whole_and_nothing_is_coloured(tmp_path: Path) -> None:
    seed(tmp_path)
    proc = in_pipe("ds", "list", "--state-dir", str(tmp_path))
    assert proc.returncode == 0
    assert not ANSI.search(proc.stdout)
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("bad ")]
    assert row.endswith(f"{LONG_REASON.strip()} | first output line | last output line")


def test_on_a_terminal_the_table_fits_cuts_the_error_and_colours_statuses(
    tmp_path: Path,
) -> None:
    seed(tmp_path)
    shown = in_terminal("ds", "list", "--state-dir", str(tmp_path))
    assert COLOUR.search(shown)
    lines = ANSI.sub("", shown).replace("\r", "").splitlines()
    assert all(len(line) <= TERMINAL_COLUMNS for line in lines)
    (row,) = [line for line in lines if line.startswith("bad ")]
    assert row.rstrip().endswith("…") and "last output line" not in row
    assert row.split()[:2] == ["bad", "failed"]


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    seed(tmp_path)
    shown = in_terminal("ds", "list", "--state-dir", str(tmp_path), NO_COLOR="1")
    assert "failed" in shown and not COLOUR.search(shown)


def test_no_color_on_a_terminal_means_no_escape_code_at_all_not_even_bold(
    tmp_path: Path,
) -> None:
    seed(tmp_path)
    for command in (("ds", "list"), ("task", "list")):
        shown = in_terminal(*command, "--state-dir", str(tmp_path), NO_COLOR="1")
        assert "NAME" in shown and "\x1b" not in shown, command


def test_show_indents_a_multi_line_error_under_its_key(tmp_path: Path) -> None:
    seed(tmp_path)
    proc = in_pipe("ds", "show", "bad", "--state-dir", str(tmp_path))
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    column = lines[at].index("exited")
    assert lines[at + 1] == " " * column + "first output line"
    assert lines[at + 2] == " " * column + "last output line"
    assert "failures:" in proc.stdout and "failed once in a row" in proc.stdout
    assert "history: 3 events" in proc.stdout


def test_validate_without_a_file_names_the_way_to_give_one(tmp_path: Path) -> None:
    proc = subprocess.run(
        [command_path("ame"), "validate"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{tmp_path / 'ame.yaml'}: ") and "ame validate FILE" in line
    assert "`--project DIR`, AME_PROJECT" in line


def test_show_humanizes_sizes_aligns_manifest_paths_and_json_keeps_bytes(
    ws: Workspace,
) -> None:
    ws.write_spec(
        """
        projectname: demo
        dataSets:
          - name: d
            path: out
            task:
              executor: !custom
                command: >-
                  mkdir -p out/a/rather/long/directory/name &&
                  head -c 3000 /dev/zero > out/a/rather/long/directory/name/big.bin &&
                  echo hi > out/s.txt
        """
    )
    produced = ws.once()
    assert produced.returncode == 0, produced.stderr
    text = ws.run("ame", "ds", "show", "d", check=True).stdout
    assert re.search(r"^size: +2\.9 KiB \(3,003 bytes\)$", text, re.M), text
    assert re.search(r"^manifest: +2 files, 2\.9 KiB$", text, re.M), text
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("manifest:"))
    entries = lines[at + 1 : at + 3]
    assert [e.split()[0] for e in entries] == ["a/rather/long/directory/name/big.bin", "s.txt"]
    assert len({len(e) for e in entries}) == 1, entries  # paths padded, sizes right-aligned
    doc = json.loads(ws.run("ame", "ds", "show", "d", "--json", check=True).stdout)
    assert doc["size_bytes"] == 3003 and doc["manifest"]["size_bytes"] == 3003


def test_pull_quiet_prints_nothing_and_pulls(ws: Workspace, tmp_path: Path) -> None:
    ws.write_spec(
        """
        projectname: demo
        dataSets:
          - name: d
            path: out
            task:
              executor: !custom
                command: mkdir -p out && echo hi > out/x.txt
        """
    )
    assert ws.once().returncode == 0
    dest = tmp_path / "pulled"
    quiet = ws.run("ame", "ds", "pull", "d", str(dest), "--quiet", check=True)
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert (dest / "x.txt").read_text() == "hi\n"
    again = ws.run("ame", "ds", "pull", "d", str(tmp_path / "again"), check=True)
    assert again.stdout.startswith("d version 1: 1 file, 3 B in ")
