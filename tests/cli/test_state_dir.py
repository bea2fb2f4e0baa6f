"""Finding the state without Settings: the same precedence as Settings, the service's config
and state dir when nothing else names one, and one line when there is no database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from amed import state_dir
from amed.config import resolve
from amed.errors import ConfigError, StateDirError
from amed.state_dir import locate
from state.db import StateStore


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service host in miniature: its config and state dir paths point into tmp_path."""
    root = tmp_path / "host"
    monkeypatch.setattr(state_dir, "SERVICE_CONFIG", root / "etc/ame/amed.toml")
    monkeypatch.setattr(state_dir, "SERVICE_STATE_DIR", root / "var/lib/ame")
    return root


def with_database(path: Path) -> Path:
    StateStore.in_dir(path).close()
    return path


def test_precedence_is_flag_then_environment_then_config_then_defaults(
    tmp_path: Path, service: Path
) -> None:
    flag, env_dir, file_dir = (with_database(tmp_path / n) for n in ("flag", "env", "file"))
    config = tmp_path / "amed.toml"
    config.write_text(f'state_dir = "{file_dir}"\n')
    env = {"HOME": str(tmp_path), "AME_STATE_DIR": str(env_dir), "AME_CONFIG": str(config)}
    assert locate(flag, None, env).state_dir == flag
    assert locate(None, None, env).state_dir == env_dir
    del env["AME_STATE_DIR"]
    assert locate(None, None, env) == state_dir.Location(file_dir, config)
    del env["AME_CONFIG"]
    own = with_database(tmp_path / ".local/state/ame")
    assert locate(None, None, env).state_dir == own


@pytest.mark.parametrize(
    "env",
    [
        {"AME_STATE_DIR": "rel/state"},
        {"STATE_DIRECTORY": "/srv/state:/other"},
        {"XDG_STATE_HOME": "/xdg"},
        {},
    ],
    ids=["AME_STATE_DIR", "STATE_DIRECTORY", "XDG_STATE_HOME", "HOME"],
)
def test_it_agrees_with_settings(tmp_path: Path, service: Path, env: dict[str, str]) -> None:
    env = {"HOME": str(tmp_path), **env}
    found = locate(None, None, env, must_exist=False)
    assert found.state_dir == resolve({}, env).state_dir
    assert found.missing is not None


def test_the_services_state_dir_is_found_when_the_users_own_has_no_database(
    tmp_path: Path, service: Path
) -> None:
    served = with_database(service / "var/lib/ame")
    assert locate(None, None, {"HOME": str(tmp_path)}).state_dir == served
    own = with_database(tmp_path / ".local/state/ame")
    assert locate(None, None, {"HOME": str(tmp_path)}).state_dir == own


def test_the_services_config_is_read_when_no_config_is_named(tmp_path: Path, service: Path) -> None:
    served = with_database(tmp_path / "elsewhere")
    config = service / "etc/ame/amed.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'state_dir = "{served}"\n[storage]\nurl = "memory://"\n')
    found = locate(None, None, {"HOME": str(tmp_path)})
    assert found == state_dir.Location(served, config)
    named = tmp_path / "mine.toml"
    named.write_text("")
    assert locate(None, named, {"HOME": str(tmp_path)}, must_exist=False).config_file == named


def test_no_database_anywhere_is_one_line_naming_where_it_looked(
    tmp_path: Path, service: Path
) -> None:
    with pytest.raises(StateDirError) as raised:
        locate(None, None, {"HOME": str(tmp_path)})
    own, served = tmp_path / ".local/state/ame", service / "var/lib/ame"
    assert str(raised.value) == (
        f"no state database in {own} or {served}: amed has not run there "
        "(name the daemon's state dir with --state-dir or AME_STATE_DIR)"
    )


def test_a_bad_config_is_its_own_error_and_unknown_keys_are_left_to_the_daemon(
    tmp_path: Path, service: Path
) -> None:
    config = tmp_path / "amed.toml"
    config.write_text('state_dir = ["a"]\nfuture_table = 1\n')
    with pytest.raises(ConfigError, match=r"amed.toml: state_dir: \['a'\] is not a path$"):
        locate(None, config, {"HOME": str(tmp_path)})
    config.write_text("state_dir = \n")
    with pytest.raises(ConfigError, match=r"amed.toml: invalid TOML: "):
        locate(None, config, {"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"nope.toml: config file not found$"):
        locate(None, tmp_path / "nope.toml", {"HOME": str(tmp_path)})


def test_a_listing_imports_neither_settings_nor_the_other_commands(tmp_path: Path) -> None:
    with_database(tmp_path)
    code = (
        "import sys; from amed.cli.ame_cmd import cli; "
        f"cli(['ds', 'list', '--json', '--state-dir', {str(tmp_path)!r}], standalone_mode=False); "
        "heavy = ['pydantic', 'amed.config', 'amed.cli.pull_cmd', "
        "'amed.cli.task_cmd', 'amed.cli.delete_cmd', 'amed.cli.status_cmd', 'obstore', 'yaml']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"
