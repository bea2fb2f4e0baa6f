"""`amed run --once --dry-run` on a project with a blocked data set: a pass changes nothing
for it, and the dry run still says it stays blocked, and why."""

from __future__ import annotations

from tests.conftest import Workspace

SPEC = """
projectname: demo
dataSets:
  - name: big
    path: big
    size: 10Mi
    task:
      executor: !custom
        command: mkdir -p big && echo x > big/x
  - name: small
    path: small
    task:
      executor: !custom
        command: mkdir -p small && echo x > small/x
"""


def test_a_blocked_data_set_is_shown_as_staying_blocked(ws: Workspace) -> None:
    ws.write_spec(SPEC)
    ws.env["AME_CAPACITY"] = "1Mi"
    first = ws.run("amed", "run", "--once", "--dry-run", check=True).stdout
    assert any(line.split()[:2] == ["block", "big"] for line in first.splitlines())
    assert ws.once().returncode == 1  # big is blocked, small is stored
    (line,) = ws.run("amed", "run", "--once", "--dry-run", check=True).stdout.splitlines()
    assert line.split()[:2] == ["blocked", "big"]
    assert "stays blocked: needs 10.0 MiB" in line
    ws.env["AME_CAPACITY"] = "20Mi"
    (line,) = ws.run("amed", "run", "--once", "--dry-run", check=True).stdout.splitlines()
    assert line.split()[:2] == ["produce", "big"]
