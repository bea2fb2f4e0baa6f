"""Logs under systemd: when stderr is the journal's stream, every line starts with its syslog
priority, so that `journalctl -p warning` filters; colours honour NO_COLOR."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from amed import logs
from tests.conftest import Workspace, command_path

PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}


def journal_env(fd: int) -> dict[str, str]:
    stat = os.fstat(fd)
    return {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}


def test_amed_on_the_journal_prefixes_each_line_with_its_priority(ws: Workspace) -> None:
    ws.write_spec(
        "projectname: demo\ndataSets:\n"
        "  - name: good\n    path: g\n    task:\n      executor: !custom\n"
        "        command: mkdir -p g && echo hi > g/x\n"
        "  - name: bad\n    path: b\n    task:\n      executor: !custom\n"
        "        command: echo broken; exit 3\n"
    )
    read_end, write_end = os.pipe()
    env = {**ws.base_env(), **journal_env(write_end), "AME_ALERT_AFTER_FAILURES": "1"}
    proc = subprocess.Popen(
        [command_path("amed"), "run", "--once"],
        cwd=ws.project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=write_end,
    )
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as stream:
        captured = stream.read()
    assert proc.wait(timeout=120) == 1
    lines = captured.splitlines()
    assert lines
    levels = set()
    for line in lines:
        found = re.match(r"<(\d)>(\{.*\})$", line)
        assert found, line
        entry = json.loads(found.group(2))
        assert int(found.group(1)) == PRIORITY[entry["level"]], line
        levels.add(entry["level"])
    assert {"info", "warning"} <= levels


def test_without_the_journal_lines_are_json_as_before(ws: Workspace) -> None:
    ws.write_spec("projectname: demo\ndataSets: []\n")
    proc = ws.run("amed", "run", "--once")
    assert proc.returncode == 0
    assert all(json.loads(line)["event"] for line in proc.stderr.splitlines())


def test_a_variable_naming_another_stream_is_not_the_journal(ws: Workspace) -> None:
    """Inherited by a process whose stderr went elsewhere: no prefix."""
    ws.write_spec("projectname: demo\ndataSets: []\n")
    ws.env["JOURNAL_STREAM"] = "8:12345"
    proc = ws.run("amed", "run", "--once")
    assert proc.stderr and not proc.stderr.startswith("<")


@pytest.mark.parametrize(
    ("method", "prefix"),
    [("debug", "<7>"), ("info", "<6>"), ("warning", "<4>"), ("error", "<3>"), ("critical", "<2>")],
)
def test_each_level_maps_to_its_syslog_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, prefix: str
) -> None:
    with (tmp_path / "journal").open("w") as journal:
        monkeypatch.setattr(sys, "stderr", journal)
        monkeypatch.setenv("JOURNAL_STREAM", journal_env(journal.fileno())["JOURNAL_STREAM"])
        logs.configure(json_lines=True, level=10)
        getattr(logs.get(), method)("something_happened", n=1)
        journal.flush()
    monkeypatch.undo()
    logs.configure()
    (line,) = (tmp_path / "journal").read_text().splitlines()
    assert line.startswith(prefix + "{") and json.loads(line[3:])["event"] == "something_happened"


def test_an_exception_is_an_error_and_every_line_of_a_traceback_is_prefixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w") as journal:
        monkeypatch.setattr(sys, "stderr", journal)
        monkeypatch.setenv("JOURNAL_STREAM", journal_env(journal.fileno())["JOURNAL_STREAM"])
        logs.configure(json_lines=False)
        try:
            raise ValueError("boom")
        except ValueError:
            logs.get().exception("pass_failed")
        journal.flush()
    monkeypatch.undo()
    logs.configure()
    lines = (tmp_path / "journal").read_text().splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)


def _tty_output(env: dict[str, str]) -> bytes:
    """What a warning looks like on a terminal, with `env`."""
    master, slave = pty.openpty()
    code = "from amed import logs; logs.configure(); logs.get().warning('disk_low', free=1)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        stderr=slave,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **env},
        timeout=60,
        check=True,
    )
    os.close(slave)
    assert proc.returncode == 0
    output = b""
    try:
        while chunk := os.read(master, 4096):
            output += chunk
    except OSError:  # EIO once the terminal's other end is closed and drained
        pass
    os.close(master)
    return output


def test_colours_on_a_terminal_unless_no_color_is_set() -> None:
    plain_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _tty_output({**plain_env, "NO_COLOR": ""})
    plain = _tty_output({"NO_COLOR": "1"})
    assert b"disk_low" in coloured and b"disk_low" in plain
    assert b"\x1b[" in coloured and b"\x1b[" not in plain
