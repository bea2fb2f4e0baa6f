"""Where a user sees what the loader says: `ame validate` run as a user runs it (a refused
ame.yaml is one located line and exit 2, a suspicious one a located warning on stderr and
still exit 0), and the daemon's log, once per load of the file."""

from __future__ import annotations

from structlog.testing import capture_logs

from amed.daemon.spec_file import SpecFile
from tests.conftest import Workspace


def test_validate_refuses_overlapping_data_sets_with_one_located_line(ws: Workspace) -> None:
    path = ws.write_spec(
        """
        projectname: p
        dataSets:
          - name: raw
            path: data
            task: {executor: !custom {command: x}}
          - name: clean
            path: ./data/clean/
            task: {executor: !custom {command: x}}
        """
    )
    proc = ws.run("ame", "validate", str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        f"{path}:7:11: dataSets[1].path: data set 'clean' ('data/clean') is inside data set"
        " 'raw' ('data'); data sets' directories must not overlap\n"
    )


def test_validate_prints_a_tiny_size_as_a_warning_and_succeeds(ws: Workspace) -> None:
    path = ws.write_spec(
        """
        projectname: p
        dataSets:
          - name: raw
            path: data
            size: 1e-9
            task: {executor: !custom {command: x}}
        """
    )
    proc = ws.run("ame", "validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        f"{path}:5:11: warning: dataSets[0].size: '1e-9' is 1 byte, under 1 KiB"
        " (a size without a unit is in bytes); did you mean 1Gi?\n"
    )
    assert proc.stdout == f"{path}: valid: project p, 1 data sets, 0 tasks\n"


def test_the_daemon_logs_each_warning_once_per_load_of_the_file(ws: Workspace) -> None:
    text = """
        projectname: p
        dataSets:
          - {name: raw, path: data, size: "500", task: {executor: !custom {command: x}}}
        """
    path = ws.write_spec(text)
    spec = SpecFile(path)
    with capture_logs() as logged:
        assert spec.load() is not None
        assert spec.load() is not None  # unchanged: not loaded again, nothing said again
    warnings = [entry for entry in logged if entry["event"] == "spec_warning"]
    assert [(entry["log_level"], entry["warning"]) for entry in warnings] == [
        (
            "warning",
            f"{path}:3:35: warning: dataSets[0].size: '500' is 500 bytes, under 1 KiB"
            " (a size without a unit is in bytes); did you mean 500Gi?",
        )
    ]
