"""`amed`'s entry point: the commands are imported with the cyclic garbage collector
paused (`state.collector`).

Importing them makes a few hundred thousand objects (modules, classes, functions, the
models' validators) that live as long as the process. The collector is on again before the
command runs, and the daemon freezes what its first pass loaded out of later scans
(amed.daemon.service).
"""

from __future__ import annotations

from state.collector import collector_paused


def main() -> None:
    with collector_paused(freeze=True):
        from amed.cli.amed_cmd import main as command
    command()
