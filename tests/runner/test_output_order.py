"""A Python task's output keeps its order in output.log: what it printed before a traceback
comes before the traceback, as it does on a terminal."""

from __future__ import annotations

from tests.conftest import Workspace

SPEC = """
projectname: demo
dataSets:
  - name: talky
    path: ./data
    task:
      executor: !custom
        command: python3 talk.py
"""
SCRIPT = """
import sys
for n in range(3):
    print(f"step {n}")
sys.stderr.write("the error\\n")
sys.exit(1)
"""


def test_a_python_tasks_stdout_and_stderr_reach_the_log_in_the_order_written(
    ws: Workspace,
) -> None:
    ws.write_spec(SPEC)
    ws.write("talk.py", SCRIPT)
    assert ws.once().returncode == 1
    (log,) = (ws.state / "runs").glob("*/output.log")
    lines = log.read_text().splitlines()
    assert lines == ["step 0", "step 1", "step 2", "the error"]
