"""What a task sees of the daemon, and what of a task's secrets anyone else sees: a clean
environment in, every secret value masked out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from amed.engine.environment import PASS_ENV
from amed.engine.local_run import run_task
from amed.engine.redact import Redactor

from .conftest import MakeRequest

SECRET = "s3cr3t-Pa55word"
STORE_KEY = "AKIAEXAMPLESECRETKEY0123456789"


def test_a_task_gets_none_of_the_daemons_credentials(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", STORE_KEY)
    monkeypatch.setenv("AME_ALERT_URLS", "slack://token/abc")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    result = run_task(make_request("env"))
    assert result.ok, result.error
    seen = dict(line.split("=", 1) for line in result.log_path.read_text().splitlines())
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "AME_ALERT_URLS" not in seen
    assert seen["PATH"] == os.environ["PATH"]
    assert seen["LC_ALL"] == "C.UTF-8"
    given = {"AME_RUN_ID", "PYTHONUNBUFFERED"}  # set by amed itself
    assert set(seen) <= {*PASS_ENV, *given, "LC_ALL", "PWD", "SHLVL", "_", "OLDPWD"}


def test_names_passed_through_by_config_reach_the_task(
    make_request: MakeRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("HF_HOME", "/srv/hf")
    monkeypatch.setenv("HF_TOKEN_NOT", "x")
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/notify")
    request = make_request("env", pass_env=("CUDA_VISIBLE_DEVICES", "HF_*", "NOTIFY_SOCKET"))
    seen = run_task(request).log_path.read_text()
    assert "CUDA_VISIBLE_DEVICES=0" in seen and "HF_HOME=/srv/hf" in seen
    assert "HF_TOKEN_NOT=x" in seen
    assert "NOTIFY_SOCKET" not in seen


def test_a_task_that_prints_its_secret_leaves_it_nowhere(make_request: MakeRequest) -> None:
    command = 'echo "connecting with $DB_PASSWORD"; echo "key=$STORE" >&2; exit 3'
    request = make_request(
        command, env={"DB_PASSWORD": SECRET, "STORE": STORE_KEY}, redact=(SECRET, STORE_KEY)
    )
    result = run_task(request)
    assert result.exit_code == 3
    log = result.log_path.read_bytes()
    assert SECRET.encode() not in log and STORE_KEY.encode() not in log
    assert b"connecting with ***" in log and b"key=***" in log
    assert SECRET not in result.output_tail and "connecting with ***" in result.output_tail
    assert result.log_path.stat().st_mode & 0o777 == 0o640  # masked: the group may read it


def test_a_secret_cut_across_writes_is_still_masked(make_request: MakeRequest) -> None:
    half = len(SECRET) // 2
    command = (
        f"printf '%s' '{SECRET[:half]}'; sleep 0.2; printf '%s\\n' '{SECRET[half:]}';"
        f" head -c 200000 /dev/zero | tr '\\0' a; echo; echo $DB_PASSWORD"
    )
    result = run_task(make_request(command, env={"DB_PASSWORD": SECRET}, redact=(SECRET,)))
    assert result.ok, result.error
    log = result.log_path.read_text()
    assert SECRET not in log
    assert log.count("***") == 2
    assert log.count("a") >= 200000


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64])
def test_the_stream_masker_masks_whatever_the_pieces(piece: int) -> None:
    text = f"a{SECRET}b{SECRET}{SECRET}c{STORE_KEY[:5]}d{STORE_KEY}".encode()
    masker = Redactor([SECRET, STORE_KEY, SECRET[:4]])
    out = b"".join(masker.feed(text[i : i + piece]) for i in range(0, len(text), piece))
    out += masker.flush()
    assert out == f"a***b******c{STORE_KEY[:5]}d***".encode()


def test_the_setup_lines_amed_writes_into_the_log_are_masked_too(
    make_request: MakeRequest, tmp_path: Path
) -> None:
    """amed's own `amed: $ ...` lines name paths; a secret found in one is masked there as
    it is in what the task prints."""
    secret = tmp_path.name  # in every path of the run: the venv it builds, its working copy
    result = run_task(make_request("true", kind="pip", redact=(secret,)))
    assert result.ok, result.output_tail
    log = result.log_path.read_text()
    assert "amed: $ " in log and "-m venv" in log
    assert secret not in log, log
