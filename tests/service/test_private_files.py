"""What amed writes in its state dir is its own and its group's (readers of a service's state
join the group): directories 0750, the database and run logs 0640, nothing for others.
Task secrets stay the owner's alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import Workspace, command_path

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: echo 'a token printed by mistake'; mkdir -p data && echo x > data/x
      secrets:
        - !ame {key: db_password, injectAs: DB_PASSWORD}
"""
SERVICE_UMASK = 0o027
"""The unit's UMask=."""


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_state_dir_database_and_run_logs_are_the_groups_and_secrets_stay_private(
    ws: Workspace,
) -> None:
    ws.write_spec(SPEC)
    secrets = ws.state / "secrets"
    secrets.mkdir(parents=True, mode=0o700)
    secrets.chmod(0o700)
    (secrets / "db_password").write_text("hunter2")
    (secrets / "db_password").chmod(0o600)
    ws.state.chmod(0o750)  # systemd's StateDirectoryMode=
    proc = subprocess.run(
        [command_path("amed"), "run", "--once"],
        cwd=ws.project,
        env=ws.base_env(),
        capture_output=True,
        text=True,
        timeout=120,
        umask=SERVICE_UMASK,
    )
    assert proc.returncode == 0, proc.stderr
    assert mode(ws.state) == 0o750
    assert mode(ws.state / "state.db") == 0o640
    for sidecar in ws.state.glob("state.db-*"):
        assert mode(sidecar) == 0o640, sidecar.name
    assert mode(ws.state / "amed.lock") == 0o600, "no reader needs the lock"
    runs = ws.state / "runs"
    assert mode(runs) == 0o750
    (run_dir,) = runs.iterdir()
    assert mode(run_dir) == 0o750
    log = run_dir / "output.log"
    assert "a token printed by mistake" in log.read_text()
    assert mode(log) == 0o640
    assert mode(secrets) == 0o700 and mode(secrets / "db_password") == 0o600


def test_a_state_dir_amed_creates_is_the_groups_whatever_the_umask(ws: Workspace) -> None:
    ws.write_spec(SPEC.split("      secrets:")[0])
    proc = subprocess.run(
        [command_path("amed"), "run", "--once"],
        cwd=ws.project,
        env=ws.base_env(),
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o002,
    )
    assert proc.returncode == 0, proc.stderr
    assert mode(ws.state) == 0o750
    assert mode(ws.state / "state.db") == 0o640
    (run_dir,) = (ws.state / "runs").iterdir()
    assert mode(run_dir) == 0o750 and mode(run_dir / "output.log") == 0o640
