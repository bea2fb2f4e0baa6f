"""An alert URL apprise cannot use stops the start with one line that says where it was
given (the variable or the config file's key) and never the URL, which holds credentials."""

from __future__ import annotations

from tests.conftest import Workspace
from tests.service.daemon import HELLO_SPEC

SECRET = "pa55word-9f3c"
UNUSABLE = f"nosuchscheme://ops:{SECRET}@host/x"


def _refused_once(ws: Workspace) -> list[str]:
    ws.write_spec(HELLO_SPEC)
    refused = ws.once()
    assert refused.returncode == 2
    assert SECRET not in refused.stdout + refused.stderr
    assert not (ws.state / "runs").exists() or not any((ws.state / "runs").iterdir())
    return refused.stderr.splitlines()


def test_a_url_from_the_environment_is_refused_by_its_variable(ws: Workspace) -> None:
    ws.env["AME_ALERT_URLS"] = f"json://127.0.0.1:9/hook {UNUSABLE}"
    assert _refused_once(ws) == [
        "error: AME_ALERT_URLS, URL 2 of 2: not an apprise URL amed can use (scheme 'nosuchscheme')"
    ]


def test_a_url_from_the_config_file_is_refused_by_its_file_and_key(ws: Workspace) -> None:
    config = ws.root / "amed.toml"
    config.write_text(f'[alerts]\nurls = ["{UNUSABLE}"]\n')
    ws.env["AME_CONFIG"] = str(config)
    assert _refused_once(ws) == [
        f"error: {config}: alerts.urls, URL 1 of 1: not an apprise URL amed can use "
        "(scheme 'nosuchscheme')"
    ]
    # The variable wins over the file, as resolve has it: its second URL is the one refused.
    ws.env["AME_ALERT_URLS"] = f"json://127.0.0.1:9/hook {UNUSABLE}"
    assert _refused_once(ws) == [
        "error: AME_ALERT_URLS, URL 2 of 2: not an apprise URL amed can use (scheme 'nosuchscheme')"
    ]
    ws.env["AME_ALERT_URLS"] = ""  # set but empty is not set: the file's URL again
    assert _refused_once(ws) == [
        f"error: {config}: alerts.urls, URL 1 of 1: not an apprise URL amed can use "
        "(scheme 'nosuchscheme')"
    ]
