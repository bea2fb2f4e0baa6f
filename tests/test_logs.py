import subprocess
import sys

import pytest

from amed import logs


@pytest.mark.parametrize("json_lines", [False, True])
def test_a_logged_exception_never_prints_the_locals_of_its_frames(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    logs.configure(json_lines=json_lines)

    def fail() -> None:
        alert_url = "slack://T1/B2/hunter2token"
        raise ValueError(f"boom ({len(alert_url)} chars)")

    try:
        fail()
    except ValueError:
        logs.get().exception("pass_failed")
    err = capsys.readouterr().err
    assert "pass_failed" in err and "ValueError" in err
    assert "hunter2token" not in err


# amed.logs hides rich from structlog's import (see its docstring). These two pin that to
# how structlog imports rich: the first fails when structlog stops importing it eagerly (the
# trick is then dead weight and can go), the second when the trick stops keeping it out.

_RICH_LOADED = "import sys; print(any(m == 'rich' or m.startswith('rich.') for m in sys.modules))"


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_structlog_alone_imports_rich_when_it_is_installed() -> None:
    pytest.importorskip("rich")
    assert _python(f"import structlog; {_RICH_LOADED}") == "True"


def test_amed_logs_loads_structlog_without_rich_and_leaves_rich_importable() -> None:
    pytest.importorskip("rich")
    code = (
        f"import amed.logs, structlog.dev, structlog.tracebacks; {_RICH_LOADED}; "
        "print(structlog.dev.rich is None and structlog.tracebacks.rich is None); "
        "import rich.console; print('rich.console' in sys.modules)"
    )
    assert _python(code).split() == ["False", "True", "True"]
