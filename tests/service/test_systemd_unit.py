"""The unit file and the example config: systemd accepts the unit and rates it hardened; the
example config is valid and documents every setting amed reads."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from amed.config import KEYS, resolve
from tests.conftest import command_path

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "amed.service"
EXAMPLE_CONFIG = SYSTEMD / "amed.toml"
INSTALLED_AMED = "/usr/local/bin/amed"
MAX_EXPOSURE = 1.5

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def installed_unit(tmp_path: Path) -> Path:
    """The unit as README installs it: ExecStart's amed is this checkout's."""
    unit = tmp_path / "amed.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_AMED, command_path("amed")))
    return unit


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(f"{section}.{key}", []).append(value)
    return found


@needs_systemd_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@needs_systemd_analyze
def test_the_unit_is_hardened_to_an_exposure_of_at_most_1_5(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (overall,) = [line for line in proc.stdout.splitlines() if "Overall exposure level" in line]
    exposure = float(overall.split(":")[1].split()[0])
    assert exposure <= MAX_EXPOSURE, proc.stdout


def test_the_unit_is_a_notify_service_that_reloads_restarts_and_keeps_tasks_quiet() -> None:
    unit = directives(UNIT)
    expected = {
        "Service.Type": ["notify"],
        "Service.NotifyAccess": ["main"],
        "Service.Restart": ["on-failure"],
        "Service.StateDirectory": ["ame"],
        # The state is readable by group ame's members; nothing for others.
        "Service.StateDirectoryMode": ["0750"],
        "Service.UMask": ["0027"],
        "Service.ExecReload": ["/bin/kill -HUP $MAINPID"],
        "Service.KillMode": ["mixed"],
    }
    for key, value in expected.items():
        assert unit.get(key) == value, key
    assert unit["Service.ExecStart"] == [
        f"{INSTALLED_AMED} run --config /etc/ame/amed.toml --log-format json"
    ]
    assert int(unit["Service.WatchdogSec"][0]) > 0
    stop_timeout = resolve({}, {"HOME": "/nonexistent"}, EXAMPLE_CONFIG).stop_timeout_seconds
    assert int(unit["Service.TimeoutStopSec"][0]) > stop_timeout + 10, (
        "systemd must wait for the stop timeout and the runner's grace before killing"
    )


def test_the_example_config_is_valid_and_documents_every_setting() -> None:
    settings = resolve({}, {"HOME": "/nonexistent"}, EXAMPLE_CONFIG)
    assert settings.project_dir == Path("/srv/ame/project")
    assert settings.stop_timeout_seconds == 30
    text = EXAMPLE_CONFIG.read_text()
    tables = {"": text.split("\n[", 1)[0]}
    for chunk in text.split("\n[")[1:]:
        name, _, body = chunk.partition("]")
        tables[name] = body
    for key in KEYS.values():
        if not key.toml:
            continue  # the file's own name (--config, AME_CONFIG)
        table, _, name = key.toml.rpartition(".")
        body = tables.get(table, "")
        assert f"\n{name} = " in body or f"\n# {name} = " in body, key.toml
        assert key.env in text, key.env
