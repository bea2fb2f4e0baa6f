"""Renames end to end: real `amed run --once` passes against a file:// store with no
deletion grace. Renaming every data set, or the project, deletes nothing however many passes
run, until `ame ds delete --all-pending --confirm`."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.conftest import Workspace

OLD, NEW = ("a", "b", "c", "d"), ("a2", "b2", "c2", "d2")


def spec(names: tuple[str, ...], project: str = "demo") -> str:
    lines = [f"projectname: {project}", "dataSets:"]
    for name in names:
        lines += [
            f"  - name: {name}",
            f"    path: {name}",
            "    task:",
            "      executor: !custom",
            f"        command: mkdir -p {name} && echo {name} > {name}/data",
        ]
    return "\n".join(lines) + "\n"


def alerts(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The alerts a run logged (no alert URL is set: alerts are only logged)."""
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "alert"]


def rows(ws: Workspace) -> dict[tuple[str, str], str]:
    return {(r["project"], r["name"]): r["status"] for r in ws.datasets("--all")}


def under(keys: list[str], project: str, names: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k.split("/")[1:3] in ([project, n] for n in names)]


@pytest.fixture
def produced(ws: Workspace) -> list[str]:
    """Four data sets of project demo, stored; their store keys."""
    ws.env["AME_DELETION_GRACE_SECONDS"] = "0"
    ws.write_spec(spec(OLD))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    keys = ws.store_keys()
    assert len(under(keys, "demo", OLD)) == 2 * len(OLD), "data and manifest of each"
    return keys


def test_renaming_every_data_set_deletes_nothing_until_confirmed(
    ws: Workspace, produced: list[str]
) -> None:
    ws.write_spec(spec(NEW))
    first = ws.once()
    assert first.returncode == 0, first.stderr
    for _ in range(2):
        proc = ws.once()
        assert proc.returncode == 0, proc.stderr
    keys = ws.store_keys()
    assert set(produced) <= set(keys), "every object of the old versions is still stored"
    assert rows(ws) == {("demo", n): "ready" for n in OLD + NEW}
    (alert,) = alerts(first)
    assert alert["key"] == "mass_deletion:demo"
    assert "a, b, c, d are no longer declared in ame.yaml" in alert["body"]
    assert "ame ds delete --all-pending --confirm" in alert["body"]

    assert ws.run("ame", "ds", "delete", "--all-pending", "--confirm").returncode == 0
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    keys = ws.store_keys()
    assert under(keys, "demo", OLD) == []
    assert len(under(keys, "demo", NEW)) == 2 * len(NEW)
    assert rows(ws) == {
        **{("demo", n): "removed" for n in OLD},
        **{("demo", n): "ready" for n in NEW},
    }


def test_renaming_the_project_keeps_the_old_projects_data_until_confirmed(
    ws: Workspace, produced: list[str]
) -> None:
    ws.write_spec(spec(OLD, project="renamed"))
    first = ws.once()
    assert first.returncode == 0, first.stderr
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    keys = ws.store_keys()
    assert set(produced) <= set(keys), "every object of project demo is still stored"
    assert len(under(keys, "renamed", OLD)) == 2 * len(OLD), "produced anew under the new name"
    assert rows(ws) == {(p, n): "ready" for p in ("demo", "renamed") for n in OLD}
    (alert,) = alerts(first)
    assert alert["key"] == "mass_deletion:renamed"
    assert "project demo renamed to renamed" in alert["title"]
    assert "amed does not move data between projects" in alert["body"]
    assert "name the project demo again in ame.yaml" in alert["body"]
    assert "ame ds delete --all-pending --confirm" in alert["body"]

    confirmed = ws.run("ame", "ds", "delete", "--all-pending", "--confirm")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "demo/a" in confirmed.stdout, "data sets of another project are named with it"
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    keys = ws.store_keys()
    assert under(keys, "demo", OLD) == []
    assert len(under(keys, "renamed", OLD)) == 2 * len(OLD)
    assert rows(ws) == {
        **{("demo", n): "removed" for n in OLD},
        **{("renamed", n): "ready" for n in OLD},
    }


def test_one_of_four_leaving_is_deleted_after_its_grace(ws: Workspace, produced: list[str]) -> None:
    ws.write_spec(spec(OLD[1:]))
    proc = ws.once()
    assert proc.returncode == 0, proc.stderr
    assert alerts(proc) == []
    assert under(ws.store_keys(), "demo", ("a",)) == []
    assert rows(ws)[("demo", "a")] == "removed"
