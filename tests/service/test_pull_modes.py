"""`ame ds pull` writes files as any other command would: their modes follow the caller's
umask, not the private temporary files they were written through."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import Workspace, command_path

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data/deep && echo a > data/a && echo b > data/deep/b
"""


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_pulled_files_and_directories_follow_the_callers_umask(
    ws: Workspace, umask: int, file_mode: int, dir_mode: int
) -> None:
    ws.write_spec(SPEC)
    assert ws.once().returncode == 0
    dest = ws.root / "pulled"
    proc = subprocess.run(
        [command_path("ame"), "ds", "pull", "d", str(dest)],
        cwd=ws.project,
        env=ws.base_env(),
        capture_output=True,
        text=True,
        timeout=120,
        umask=umask,
    )
    assert proc.returncode == 0, proc.stderr
    assert [(p.name, p.stat().st_mode & 0o777) for p in (dest / "a", dest / "deep/b")] == [
        ("a", file_mode),
        ("b", file_mode),
    ]
    assert (dest.stat().st_mode & 0o777, (dest / "deep").stat().st_mode & 0o777) == (
        dir_mode,
        dir_mode,
    )
