"""Shell completion through the real `ame`, as bash asks for it: data set and task names
come from the state the command would read, event types from the event models."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli.test_people_output import seed
from tests.cli.test_projects import seed as seed_two_projects
from tests.conftest import command_path


def complete(words: str, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AME_")}
    proc = subprocess.run(
        [command_path("ame")],
        env=base
        | {
            "_AME_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [line.partition(",")[2] for line in proc.stdout.splitlines() if line]


def test_data_set_names_complete_from_the_state(tmp_path: Path) -> None:
    seed(tmp_path)
    assert complete("ame ds show ", AME_STATE_DIR=str(tmp_path)) == ["bad", "ok"]
    assert complete("ame dataset pull b", AME_STATE_DIR=str(tmp_path)) == ["bad"]
    flagged = complete(f"ame ds logs --state-dir {tmp_path} o")
    assert flagged == ["ok"]


def test_task_names_and_event_types_complete(tmp_path: Path) -> None:
    seed(tmp_path)
    assert complete("ame task logs ", AME_STATE_DIR=str(tmp_path)) == ["t"]
    assert complete("ame events --type run_f") == ["run_failed"]


def test_completion_without_a_state_offers_nothing_and_says_nothing(tmp_path: Path) -> None:
    assert complete("ame ds show ", AME_STATE_DIR=str(tmp_path / "none")) == []


def test_a_name_in_two_projects_completes_as_project_slash_name(tmp_path: Path) -> None:
    seed_two_projects(tmp_path)
    state = {"AME_STATE_DIR": str(tmp_path)}
    assert complete("ame ds show ", **state) == ["new/good", "old/good"]
    assert complete("ame ds show o", **state) == ["old/good"]
    assert complete("ame task logs ", **state) == ["new/make", "old/make", "new/train", "old/train"]
