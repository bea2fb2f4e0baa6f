"""Task secrets: read from $CREDENTIALS_DIRECTORY or <state dir>/secrets (0600 only), given to
that task's environment alone, and never written to logs, events, the state DB or output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from amed.engine.secrets import SecretError, secret_env
from spec import SpecError, Task, load_text
from tests.conftest import Workspace

VALUE = "s3cr3t-hunter2-value"
SPEC = """
projectname: demo
dataSets:
  - name: d
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && printf '%s' "$DB_PASSWORD" | sha256sum > data/digest
      secrets:
        - !ame {key: db_password, injectAs: DB_PASSWORD}
  - name: other
    path: ./other
    task:
      executor: !custom
        command: mkdir -p other && printf '%s' "${DB_PASSWORD-absent}" > other/seen
"""


def task_with(*keys: str) -> Task:
    entries = "".join(f"\n        - !ame {{key: {k}, injectAs: V_{i}}}" for i, k in enumerate(keys))
    text = (
        "projectname: p\ndataSets:\n  - name: d\n    path: d\n    task:\n"
        f"      executor: !custom {{command: 'true'}}\n      secrets:{entries}\n"
    )
    return load_text(text).data_sets[0].producer


def write_secret(directory: Path, key: str, data: bytes, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / key
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_a_secret_is_read_from_the_state_dir_without_its_trailing_newline(
    tmp_path: Path,
) -> None:
    write_secret(tmp_path / "secrets", "token", f"{VALUE}\n".encode())
    assert secret_env(task_with("token"), tmp_path, {}) == {"V_0": VALUE}


def test_systemd_credentials_come_first(tmp_path: Path) -> None:
    write_secret(tmp_path / "secrets", "token", b"from-state-dir")
    write_secret(tmp_path / "creds", "token", b"from-systemd", mode=0o400)
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    assert secret_env(task_with("token"), tmp_path, env) == {"V_0": "from-systemd"}
    write_secret(tmp_path / "secrets", "other", b"only-here")
    assert secret_env(task_with("other"), tmp_path, env) == {"V_0": "only-here"}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_file_others_could_read_is_refused_in_one_line(tmp_path: Path, mode: int) -> None:
    path = write_secret(tmp_path / "secrets", "token", VALUE.encode(), mode=mode)
    with pytest.raises(SecretError) as refused:
        secret_env(task_with("token"), tmp_path, {})
    message = str(refused.value)
    assert message == (
        f"task 'd': secret 'token': {path} is mode {mode:04o}; it must be 0600 (chmod 600 {path})"
    )
    assert VALUE not in message


def test_a_missing_secret_names_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"^task 'd': secret 'nope': not found \("):
        secret_env(task_with("nope"), tmp_path, {"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_a_symlinked_secret_in_the_state_dir_is_refused(tmp_path: Path) -> None:
    target = write_secret(tmp_path / "elsewhere", "real", VALUE.encode())
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").symlink_to(target)
    with pytest.raises(SecretError, match="cannot read"):
        secret_env(task_with("token"), tmp_path, {})


@pytest.mark.parametrize("key", ["../token", "a/b", ".."])
def test_a_key_that_is_not_a_plain_file_name_is_refused_when_ame_yaml_loads(key: str) -> None:
    with pytest.raises(
        SpecError, match=r"^ame.yaml:8:\d+: .*secrets\[0\]\.key: .* is not a valid name"
    ):
        task_with(f"'{key}'")


def test_a_secret_reaches_its_task_only_and_no_log_event_or_output(ws: Workspace) -> None:
    write_secret(ws.state / "secrets", "db_password", f"{VALUE}\n".encode())
    ws.write_spec(SPEC)
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    digest = hashlib.sha256(VALUE.encode()).hexdigest()
    stored = ws.objects / "datasets/demo/d/1/files/digest"
    assert stored.read_text().split()[0] == digest
    assert (ws.objects / "datasets/demo/other/1/files/seen").read_text() == "absent"
    everything = proc.stdout + proc.stderr
    for args in (("events", "--json"), ("ds", "list", "--json", "--all"), ("status", "--json")):
        everything += ws.run("ame", *args).stdout
    assert VALUE not in everything
    for path in ws.state.rglob("*"):
        if path.is_file() and path.parent.name != "secrets":
            assert VALUE.encode() not in path.read_bytes(), path


def test_a_secret_file_with_loose_permissions_fails_the_run_with_that_reason(
    ws: Workspace,
) -> None:
    path = write_secret(ws.state / "secrets", "db_password", VALUE.encode(), mode=0o644)
    ws.write_spec(SPEC)
    proc = ws.once()
    assert proc.returncode == 1
    row = ws.dataset("d")
    assert row["status"] == "failed"
    assert f"{path} is mode 0644; it must be 0600" in row["error"]
    assert ws.dataset("other")["status"] == "ready"
    assert VALUE not in proc.stderr + row["error"]
    assert not any(p.name == "digest" for p in ws.objects.rglob("*"))
    assert path.stat().st_mode & 0o777 == 0o644, "amed never changes a secret file"
