"""A service host: the state belongs to root and group `ame` with the unit's modes, and its
config names the state dir. A member of the group lists it with no flag, while the daemon
runs and after it stopped; anyone else gets one line and exit 1."""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from state.read import StateReader
from tests.conftest import command_path
from tests.service.daemon import wait_for

GROUP = "ame"
MEMBER = "alice"
OUTSIDER = "bob"
SERVICE_UMASK = 0o027
"""The unit's UMask= and StateDirectoryMode=."""
STATE_DIR_MODE = 0o750
CHECKOUT = Path(__file__).resolve().parents[2]
SPEC = """\
projectname: demo
dataSets:
  - name: data
    path: ./data
    task:
      executor: !custom
        command: echo producing-for-readers; mkdir -p data && echo hello > data/hello.txt
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="setting up a group, users and root-owned state needs root"
)


@dataclass
class Host:
    root: Path
    config: Path
    state: Path
    project: Path
    reader_python: list[str]


def _ensure_user(name: str, *, member: bool) -> None:
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        groups = ["-G", GROUP] if member else []
        subprocess.run(["useradd", "--no-create-home", *groups, name], check=True)
    elif member:
        subprocess.run(["usermod", "-aG", GROUP, name], check=True)
    in_group = name in grp.getgrnam(GROUP).gr_mem
    assert in_group == member, f"user {name} must {'' if member else 'not '}be in group {GROUP}"


def _reader_python() -> list[str]:
    """The interpreter another user runs `ame` with. This venv's may sit under a directory
    only root may enter (/root/.pyenv): then the system's python of the same version, with
    the checkout and the venv's packages on its path."""
    probe = subprocess.run(
        ["runuser", "-u", MEMBER, "--", sys.executable, "-c", "pass"], capture_output=True
    )
    if probe.returncode == 0:
        return [sys.executable]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = next(
        (p for p in (f"/usr/bin/{version}", f"/usr/local/bin/{version}") if Path(p).exists()), None
    )
    if system is None:
        pytest.skip(f"no {version} that user {MEMBER} may run")
    site = next((CHECKOUT / ".venv/lib").glob("python3*/site-packages"))
    probe = subprocess.run(
        [
            "runuser",
            "-u",
            MEMBER,
            "--",
            "env",
            "-i",
            f"PYTHONPATH={CHECKOUT}:{site}",
            system,
            "-c",
            "import click, amed.cli.ame_cmd",
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"user {MEMBER} cannot read this checkout ({CHECKOUT}) and its packages")
    return [system]


@pytest.fixture
def host() -> Iterator[Host]:
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", GROUP], check=True)
    _ensure_user(MEMBER, member=True)
    _ensure_user(OUTSIDER, member=False)
    root = Path(tempfile.mkdtemp(prefix="ame-host-"))
    root.chmod(0o755)  # like / and /var/lib: anyone may pass
    try:
        for part in ("etc", "var/lib"):
            (root / part).mkdir(parents=True, mode=0o755)
            (root / part).chmod(0o755)
        state = root / "var/lib/ame"
        state.mkdir(mode=STATE_DIR_MODE)
        state.chmod(STATE_DIR_MODE)
        os.chown(state, 0, grp.getgrnam(GROUP).gr_gid)
        project = root / "srv/project"
        project.mkdir(parents=True)
        (project / "ame.yaml").write_text(SPEC)
        config = root / "etc/amed.toml"
        config.write_text(f'project = "{project}"\nstate_dir = "{state}"\n')
        config.chmod(0o644)
        yield Host(root, config, state, project, _reader_python())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def amed(host: Host, *args: str) -> subprocess.Popen[bytes]:
    """amed as the unit runs it: the service's group and umask (root stands in for the
    service user, so the files are root's and the group's)."""
    log = (host.root / "amed.log").open("ab")
    return subprocess.Popen(
        [command_path("amed"), "run", "--log-format", "json", *args],
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent", "AME_CONFIG": str(host.config)},
        cwd=host.project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        group=GROUP,
        extra_groups=[],
        umask=SERVICE_UMASK,
    )


def ame_as(host: Host, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`ame ARGS` as `user`, with no flag: only AME_CONFIG names the service's config."""
    site = next((CHECKOUT / ".venv/lib").glob("python3*/site-packages"))
    env = [
        f"PATH={os.environ['PATH']}",
        "HOME=/nonexistent",
        f"AME_CONFIG={host.config}",
        f"PYTHONPATH={CHECKOUT}:{site}",
        "PYTHONDONTWRITEBYTECODE=1",
    ]
    code = "from amed.cli.ame_cmd import main; main()"
    return subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *env, *host.reader_python, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )


def ready(host: Host) -> bool:
    reader = StateReader.in_dir(host.state)
    try:
        return [(r.name, r.status) for r in reader.datasets()] == [("data", "ready")]
    finally:
        reader.close()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_member_of_the_group_lists_the_services_state_and_others_get_one_line(
    host: Host,
) -> None:
    daemon = amed(host, "--interval", "3600")
    try:
        wait_for(lambda: (host.state / "state.db").exists() and ready(host), timeout=120)
        assert (host.state / "state.db-wal").exists(), "the running daemon keeps its WAL"
        running = ame_as(host, MEMBER, "ds", "list", "--json")
        assert running.returncode == 0, running.stderr
        assert [(r["name"], r["status"]) for r in json.loads(running.stdout)] == [("data", "ready")]
        logs = ame_as(host, MEMBER, "ds", "logs", "data")
        assert logs.returncode == 0 and "producing-for-readers" in logs.stdout, logs.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=120) == 0
    assert not (host.state / "state.db-wal").exists(), "a clean stop checkpoints the WAL away"
    assert mode(host.state) == 0o750 and mode(host.state / "state.db") == 0o640
    assert host.state.stat().st_gid == grp.getgrnam(GROUP).gr_gid

    stopped = ame_as(host, MEMBER, "ds", "list")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines()[1].split()[:2] == ["data", "ready"]

    outsider = ame_as(host, OUTSIDER, "ds", "list")
    assert outsider.returncode == 1 and outsider.stdout == ""
    assert outsider.stderr.splitlines() == [
        f"error: {host.state}: permission denied; members of group {GROUP!r} may read it "
        f"(usermod -aG {GROUP} {OUTSIDER})"
    ]
