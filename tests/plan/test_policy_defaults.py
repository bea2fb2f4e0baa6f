"""The planner told nothing applies the same policy as a daemon left at its defaults."""

from __future__ import annotations

from pathlib import Path

from amed.act.observe import policy_of
from amed.config import resolve
from amed.plan.facts import Policy


def test_the_planners_default_policy_is_the_settings_defaults(tmp_path: Path) -> None:
    settings = resolve({}, {"AME_STATE_DIR": str(tmp_path)}, None)
    assert policy_of(settings) == Policy()
