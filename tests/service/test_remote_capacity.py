"""A store whose free space amed cannot measure needs a budget before the daemon starts."""

from __future__ import annotations

from tests.conftest import Workspace

SPEC = """
projectname: demo
dataSets:
  - name: small
    path: ./data
    task:
      executor: !custom
        command: mkdir -p data && echo hi > data/a.txt
"""


def test_a_store_without_free_space_and_without_capacity_is_one_config_error(
    ws: Workspace,
) -> None:
    ws.write_spec(SPEC)
    ws.env["AME_STORAGE"] = "memory://"
    ws.env.pop("AME_CAPACITY", None)
    refused = ws.once()
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "error: storage.capacity: needed with a remote store (memory://), whose free space "
        "amed cannot measure; set --capacity, AME_CAPACITY or [storage] capacity"
    ]
    assert not (ws.state / "runs").exists() or not any((ws.state / "runs").iterdir())
    ws.env["AME_CAPACITY"] = "1Gi"
    assert ws.once().returncode == 0
