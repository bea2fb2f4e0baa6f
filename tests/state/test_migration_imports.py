"""Creating a state database must not load pandas or numpy into the daemon.

sqlite-utils (which runs the migrations) imports them whenever they are installed; they are
installed here (the test extras), as in many a data scientist's environment.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from pathlib import Path
from state.db import StateStore
with StateStore(Path(sys.argv[1])) as store:
    pass
import sqlite_utils
print(json.dumps({
    "loaded": sorted(m for m in ("pandas", "numpy") if m in sys.modules),
    "hidden_left": sorted(m for m in ("pandas", "numpy") if sys.modules.get(m, 0) is None),
    "sqlite_utils": "sqlite_utils" in sys.modules,
}))
"""


def _probe(state_dir: Path, prelude: str = "") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, str(state_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="needs pandas installed")
def test_a_new_state_database_is_created_without_loading_pandas_or_numpy(tmp_path: Path) -> None:
    found = _probe(tmp_path / "state.db")
    assert found == {"loaded": [], "hidden_left": [], "sqlite_utils": True}
    assert (tmp_path / "state.db").exists()


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="needs pandas installed")
def test_a_process_that_loaded_pandas_keeps_it(tmp_path: Path) -> None:
    found = _probe(tmp_path / "state.db", prelude="import pandas\n")
    assert found["loaded"] == ["numpy", "pandas"]
    assert found["hidden_left"] == []
