"""`ame`'s entry point. The JSON listing, which scripts run often, is answered without
importing click or the commands (`amed.cli.list_json`); everything else goes to the full
command line."""

from __future__ import annotations

import sys


def main() -> None:
    from amed.cli.list_json import run_fast

    code = run_fast(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from amed.cli.ame_cmd import main as full

    full()
