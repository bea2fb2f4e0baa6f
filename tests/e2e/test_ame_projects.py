"""A project written for AME runs in amed as it is: `amed run --once` produces and stores its
data set with the real commands, and `ame validate` names what amed leaves aside."""

from __future__ import annotations

import shutil

from tests.conftest import Workspace
from tests.spec.helpers import FIXTURES

CUSTOM_PROJECT = FIXTURES / "ame" / "custom"


def test_an_ame_custom_project_produces_its_data_set_once(ws: Workspace) -> None:
    shutil.copy(CUSTOM_PROJECT / "ame.yaml", ws.project / "ame.yaml")
    checked = ws.run("ame", "validate")
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == (
        f"{ws.project / 'ame.yaml'}:10:6: warning: tasks[0].executor: amed ignores"
        " 'pythonVersion' for !custom: the command runs as it is\n"
    )

    proc = ws.once()

    assert proc.returncode == 0, proc.stderr
    (row,) = ws.datasets()
    assert (row["project"], row["name"], row["status"], row["version"]) == (
        "customtest",
        "greetings",
        "ready",
        1,
    )
    stored = ws.objects / "datasets/customtest/greetings/1/files/hello.txt"
    assert stored.read_text() == "hello from ame", "the task saw its env"
