"""SIGHUP reloads amed.toml and ame.yaml; an invalid amed.toml is refused and the running
settings kept."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from amed.config import Settings
from amed.daemon.service import _rereader
from amed.errors import ConfigError
from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import statuses, wait_for

SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: {command}
"""


def test_sighup_applies_a_valid_config_and_keeps_the_running_one_when_invalid(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    config = ws.root / "amed.toml"
    config.write_text("[tasks]\ntimeout_seconds = 3600\nstop_timeout_seconds = 1\n")
    ws.write_spec(SPEC.format(command="mkdir -p data && echo 1 > data/x"))
    daemon = start_daemon("--config", str(config), "--interval", "3600")
    wait_for(lambda: statuses(ws).get("d") == ("ready", 1))

    config.write_text("[tasks\ntimeout_seconds = 1\n")
    daemon.send(signal.SIGHUP)
    invalid = daemon.wait_for_log("config_invalid")
    assert invalid["error"].startswith(f"{config}: invalid TOML")
    config.write_text("[tasks]\ntimeout_seconds = -1\n")
    daemon.send(signal.SIGHUP)
    invalid = daemon.wait_for_log("config_invalid", count=2)
    assert invalid["error"] == (
        f"{config}: tasks.timeout_seconds: -1 must be a number of seconds above 0"
    )
    daemon.check_alive()
    assert daemon.wait_for_log("reloaded", count=2)["changed"] == []

    config.write_text(
        "interval_seconds = 7\n[tasks]\ntimeout_seconds = 1\nstop_timeout_seconds = 1\n"
    )
    daemon.send(signal.SIGHUP)
    reloaded = daemon.wait_for_log("reloaded", count=3)
    assert reloaded["changed"] == ["task_timeout_seconds"], "the --interval flag still wins"
    ws.write_spec(SPEC.format(command="sleep 30; mkdir -p data && echo 2 > data/x"))
    wait_for(lambda: statuses(ws).get("d", ("",))[0] == "failed")
    assert ws.dataset("d")["error"].startswith("timed out after 1 s")
    assert ws.dataset("d")["version"] == 1, "the ready version is kept"
    assert daemon.stop() == 0


def test_sighup_keeps_the_state_dir_of_a_running_daemon(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    config = ws.root / "amed.toml"
    config.write_text(f'state_dir = "{ws.state}"\n')
    ws.write_spec(SPEC.format(command="mkdir -p data && echo 1 > data/x"))
    daemon = start_daemon("--config", str(config), unset=("AME_STATE_DIR",))
    wait_for(lambda: statuses(ws).get("d") == ("ready", 1))
    config.write_text(f'state_dir = "{ws.root / "elsewhere"}"\n')
    daemon.send(signal.SIGHUP)
    assert daemon.wait_for_log("config_needs_restart")["keys"] == ["state_dir"]
    assert daemon.wait_for_log("reloaded")["changed"] == []
    daemon.check_alive()
    assert daemon.stop() == 0
    assert not (ws.root / "elsewhere").exists()


def test_a_reread_that_contradicts_a_pinned_flag_is_a_config_error(tmp_path: Path) -> None:
    """Without a reload of its own (library use), the service reads the file again and
    keeps what differed from it at start, as given by flags; when the file's new values and
    those disagree, the reload is refused in one line like any invalid config."""
    config = tmp_path / "amed.toml"
    config.write_text("")
    flags = Settings(state_dir=tmp_path / "state", eviction_high_percent=95.0, config_file=config)
    reread = _rereader(flags)
    config.write_text("[eviction]\nhigh_percent = 99\nlow_percent = 97\n")
    with pytest.raises(ConfigError) as refused:
        reread()
    assert str(refused.value) == (
        "eviction.low_percent (97) must be below eviction.high_percent (95)"
    )
    config.write_text("[eviction]\nlow_percent = 70\n")
    assert (reread().eviction_low_percent, reread().eviction_high_percent) == (70.0, 95.0)
