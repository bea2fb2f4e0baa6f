"""`amed run --once --dry-run` while a data set waits for its next try after a failure: a
pass does nothing for it yet, and the dry run says so and when, instead of calling the
project converged."""

from __future__ import annotations

from tests.conftest import Workspace

SPEC = """
projectname: demo
dataSets:
  - name: bad
    path: bad
    task:
      executor: !custom
        command: echo broken >&2; exit 3
  - name: good
    path: good
    task:
      executor: !custom
        command: mkdir -p good && echo x > good/x
"""


def test_a_failed_data_set_waiting_for_its_retry_is_shown_not_converged(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    assert ws.once().returncode == 1  # bad failed, good is stored
    (bad,) = [d for d in ws.datasets() if d["name"] == "bad"]
    assert bad["status"] == "failed" and bad["retry_at"] is not None
    proc = ws.run("amed", "run", "--once", "--dry-run", check=True)
    (line,) = proc.stdout.splitlines()
    assert line.split()[:2] == ["failed", "bad"]
    assert f"failed 1 time, next try at {bad['retry_at']}: " in line
    assert "converged" not in proc.stderr
