"""The commands' contract through click's CliRunner: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from amed.cli.ame_cmd import cli as ame
from amed.cli.amed_cmd import cli as amed
from spec import load_text
from state.db import StateStore
from state.events import DatasetDeclared, DatasetRemoved, RunFailed, RunStarted
from state.rows import STATUSES

VALID = """
projectname: demo
tasks:
  - name: fetch
    executor: !custom {command: make}
dataSets:
  - name: mnist
    path: data
    task: {taskRef: fetch}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_accepts_a_valid_file_and_says_what_it_holds(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "ame.yaml"
    path.write_text(VALID)
    result = runner.invoke(ame, ["validate", str(path)])
    assert result.exit_code == 0
    assert "valid: project demo, 1 data set, 1 task\n" in result.output


def test_validate_reports_one_located_line_and_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "ame.yaml"
    path.write_text(VALID.replace("path: data", "path: ../../etc"))
    result = runner.invoke(ame, ["validate", str(path)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{path}:8:11: ") and "dataSets[0].path" in line


def test_validate_of_a_missing_file_is_an_invalid_input(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(ame, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_schema_prints_a_json_schema_naming_data_sets(runner: CliRunner) -> None:
    result = runner.invoke(ame, ["schema"])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert "dataSets" in json.dumps(doc["properties"])


def test_listing_a_state_dir_without_a_database_fails_with_one_line_naming_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(ame, ["ds", "list", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: no state database in {tmp_path}: amed has not run there")
    assert not (tmp_path / "state.db").exists()


def test_listing_a_state_with_no_data_set_yet_is_an_empty_array(
    runner: CliRunner, tmp_path: Path
) -> None:
    StateStore.in_dir(tmp_path).close()
    result = runner.invoke(ame, ["ds", "list", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and json.loads(result.output) == []


def seed_state(state_dir: Path) -> None:
    project = load_text(VALID)
    data_set = project.data_sets[0]
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with StateStore.in_dir(state_dir) as store:
        store.append(
            [
                DatasetDeclared(
                    at=now,
                    project="demo",
                    dataset="mnist",
                    spec_hash=data_set.spec_hash,
                    path="data",
                    task="fetch",
                    declared_size_bytes=None,
                ),
                RunStarted(
                    at=now,
                    project="demo",
                    dataset="mnist",
                    run_id="r1",
                    version=1,
                    spec_hash=data_set.spec_hash,
                    task="fetch",
                    attempt=1,
                ),
                RunFailed(
                    at=now,
                    project="demo",
                    dataset="mnist",
                    run_id="r1",
                    stage="task",
                    reason="exited with code 2",
                    output_tail="line one\nline two\n",
                ),
            ]
        )


def test_dataset_is_an_alias_of_ds_and_json_carries_the_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    seed_state(tmp_path)
    for group in ("ds", "dataset"):
        result = runner.invoke(ame, [group, "list", "--json", "--state-dir", str(tmp_path)])
        assert result.exit_code == 0
        (row,) = json.loads(result.output)
        assert row["status"] == "failed" and row["declared_size_bytes"] is None
        assert row["error"] == "exited with code 2\nline one\nline two"
        assert row["updated_at"] == "2026-05-01T00:00:00.000Z"


def test_the_table_in_a_pipe_shows_the_whole_error_on_its_row(
    runner: CliRunner, tmp_path: Path
) -> None:
    seed_state(tmp_path)
    result = runner.invoke(ame, ["ds", "list", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    header, row = result.output.strip().splitlines()
    assert header.split()[:3] == ["NAME", "STATUS", "DECLARED"]
    assert row.split()[:2] == ["mnist", "failed"]
    assert row.endswith("exited with code 2 | line one | line two")


def test_show_prints_the_history_and_json(runner: CliRunner, tmp_path: Path) -> None:
    seed_state(tmp_path)
    text = runner.invoke(ame, ["ds", "show", "mnist", "--state-dir", str(tmp_path)])
    assert text.exit_code == 0
    assert [t for t in ("dataset_declared", "run_started", "run_failed") if t in text.output] == [
        "dataset_declared",
        "run_started",
        "run_failed",
    ]
    doc = json.loads(
        runner.invoke(ame, ["ds", "show", "mnist", "--json", "--state-dir", str(tmp_path)]).output
    )
    assert [h["type"] for h in doc["history"]] == ["dataset_declared", "run_started", "run_failed"]


def test_show_of_an_unknown_data_set_is_invalid_input_in_one_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    seed_state(tmp_path)
    result = runner.invoke(ame, ["ds", "show", "nope", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: no data set named 'nope' in {tmp_path}"


def test_events_prints_json_lines_filtered_by_data_set(runner: CliRunner, tmp_path: Path) -> None:
    seed_state(tmp_path)
    result = runner.invoke(
        ame, ["events", "--json", "--dataset", "mnist", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == [1, 2, 3]
    other = runner.invoke(ame, ["events", "--json", "--dataset", "x", "--state-dir", str(tmp_path)])
    assert other.exit_code == 2 and other.stdout == ""
    assert other.stderr == f"error: no data set named 'x' in {tmp_path}\n"


def test_an_unknown_flag_is_bad_usage(runner: CliRunner) -> None:
    assert runner.invoke(amed, ["run", "--frobnicate"]).exit_code == 2
    assert runner.invoke(ame, ["ds", "list", "--frobnicate"]).exit_code == 2


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--capacity", "lots"], {}, "--capacity: 'lots' is not a quantity"),
        (["--interval", "0"], {}, "--interval: 0 must be a number of seconds above 0"),
        ([], {"AME_MAX_PARALLEL": "0"}, "AME_MAX_PARALLEL: '0' must be at least 1"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_source_and_exits_2(
    runner: CliRunner, tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    (tmp_path / "ame.yaml").write_text(VALID)
    result = runner.invoke(
        amed,
        ["run", "--once", "--project", str(tmp_path), "--state-dir", str(tmp_path / "s"), *args],
        env=env,
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert message in line
    assert not (tmp_path / "s").exists()


def test_a_config_file_with_an_unknown_key_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "amed.toml"
    config.write_text('stroage = "x"\n')
    result = runner.invoke(amed, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 2
    from amed.config import KEYS

    known = sorted({key.toml.split(".")[0] for key in KEYS.values() if key.toml})
    assert {"alerts", "project", "state_dir", "storage", "tasks"} <= set(known)
    assert result.stderr.strip() == (
        f"error: {config}: unknown key 'stroage' (known: {', '.join(known)})"
    )


@pytest.mark.parametrize(
    "argv",
    [["run", "--once"], ["ds", "show", "mnist"]],
    ids=["amed run --once", "ame ds show"],
)
def test_amed_and_ame_refuse_a_bool_for_a_number_alike(
    runner: CliRunner, tmp_path: Path, argv: list[str]
) -> None:
    config = tmp_path / "amed.toml"
    config.write_text(f'project = "{tmp_path}"\ninterval_seconds = true\n')
    (tmp_path / "ame.yaml").write_text(VALID)
    command = amed if argv[0] == "run" else ame
    result = runner.invoke(command, [*argv, "--config", str(config)], env={"HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {config}: interval_seconds: True is not a number"


@pytest.mark.parametrize(
    "argv",
    [["run", "--once"], ["ds", "list"]],
    ids=["amed run --once", "ame ds list"],
)
def test_a_listing_reads_only_the_state_dir_yet_refuses_a_bad_one_as_amed_does(
    runner: CliRunner, tmp_path: Path, argv: list[str]
) -> None:
    config = tmp_path / "amed.toml"
    config.write_text(f'project = "{tmp_path}"\nstate_dir = 7\n')
    (tmp_path / "ame.yaml").write_text(VALID)
    command = amed if argv[0] == "run" else ame
    result = runner.invoke(command, [*argv, "--config", str(config)], env={"HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {config}: state_dir: 7 is not a path"


def test_flags_beat_environment_beat_the_config_file(tmp_path: Path) -> None:
    from amed.config import resolve

    config = tmp_path / "amed.toml"
    config.write_text(
        '[storage]\ncapacity = "1Gi"\nurl = "memory://"\n[tasks]\nmax_parallel = 3\n'
        "timeout_seconds = 60\n"
    )
    env = {"AME_CAPACITY": "2Gi", "AME_MAX_PARALLEL": "4", "AME_STATE_DIR": str(tmp_path)}
    settings = resolve({"capacity_bytes": "3Gi"}, env=env, config_file=config)
    assert settings.capacity_bytes == 3 * 2**30
    assert settings.max_parallel == 4
    assert settings.task_timeout_seconds == 60
    assert settings.storage_url == "memory://"
    assert settings.state_dir == tmp_path


def test_defaults_need_no_file(tmp_path: Path) -> None:
    from amed.config import resolve

    settings = resolve({}, env={"HOME": str(tmp_path)})
    assert settings.state_dir == tmp_path / ".local/state/ame"
    assert settings.storage_url == (tmp_path / ".local/state/ame/objects").as_uri()
    systemd = resolve({}, env={"STATE_DIRECTORY": "/var/lib/ame", "XDG_STATE_HOME": "/x"})
    assert systemd.state_dir == Path("/var/lib/ame")


def test_help_lists_every_command_though_they_are_imported_when_called(
    runner: CliRunner,
) -> None:
    top = runner.invoke(ame, ["--help"]).output
    for name in ("ds", "events", "schema", "status", "store", "task", "validate"):
        assert f"  {name} " in top, name
    # `dataset` works as `ds` does, but the list shows the group once.
    assert "  dataset " not in top and "also: `ame dataset`" in top
    assert runner.invoke(ame, ["dataset", "--help"]).output.count("  show ") == 1
    data_sets = runner.invoke(ame, ["ds", "--help"]).output
    for name in ("delete", "list", "logs", "pull", "show"):
        assert f"  {name} " in data_sets, name
    unknown = runner.invoke(ame, ["ds", "nope"])
    assert unknown.exit_code == 2 and "No such command 'nope'" in unknown.stderr


def test_status_json_counts_every_status_with_zeros_as_metrics_does(
    runner: CliRunner, tmp_path: Path
) -> None:
    seed_state(tmp_path)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    with StateStore.in_dir(tmp_path) as store:
        store.append(
            [
                DatasetDeclared(
                    at=at, project="demo", dataset="gone", spec_hash="h", path="g", task="fetch"
                ),
                DatasetRemoved(at=at, project="demo", dataset="gone", reason="not declared"),
            ]
        )
    result = runner.invoke(ame, ["status", "--json", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1  # no daemon has run here, and mnist failed
    counts = json.loads(result.stdout)["counts"]
    assert list(counts) == list(STATUSES)
    assert counts == dict.fromkeys(STATUSES, 0) | {"failed": 1, "removed": 1}
    text = runner.invoke(ame, ["status", "--state-dir", str(tmp_path)]).stdout
    assert "data sets:  1 failed\n" in text


def test_status_json_of_a_state_without_data_sets_counts_each_status_as_zero(
    runner: CliRunner, tmp_path: Path
) -> None:
    StateStore.in_dir(tmp_path).close()
    result = runner.invoke(ame, ["status", "--json", "--state-dir", str(tmp_path)])
    assert json.loads(result.stdout)["counts"] == dict.fromkeys(STATUSES, 0)
    text = runner.invoke(ame, ["status", "--state-dir", str(tmp_path)]).stdout
    assert "data sets:  none recorded\n" in text
