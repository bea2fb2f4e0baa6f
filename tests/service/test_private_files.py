"""What amed writes in its state dir is its own: directories 0700, files 0600."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Workspace

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: echo 'a token printed by mistake'; mkdir -p data && echo x > data/x
"""


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_state_dir_database_lock_run_dirs_and_logs_are_private(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    assert ws.once().returncode == 0
    assert mode(ws.state) == 0o700
    for name in ("state.db", "amed.lock"):
        assert mode(ws.state / name) == 0o600, name
    for sidecar in ws.state.glob("state.db-*"):
        assert mode(sidecar) == 0o600, sidecar.name
    runs = ws.state / "runs"
    assert mode(runs) == 0o700
    (run_dir,) = runs.iterdir()
    assert mode(run_dir) == 0o700
    log = run_dir / "output.log"
    assert "a token printed by mistake" in log.read_text()
    assert mode(log) == 0o600
