"""`amed`'s entry point: the commands are imported with the cyclic garbage collector off.

Importing them makes a few hundred thousand objects (modules, classes, functions, the
models' validators) that live as long as the process; collections set off while they are
made walk them again and again, for nothing (~10 % of the imports, measured at a start).
The collector is on again before the command runs, and the daemon freezes what its first
pass loaded out of later scans (amed.daemon.service).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_off() -> Iterator[None]:
    """No cyclic collection inside (as it was outside, after)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def main() -> None:
    with collector_off():
        from amed.cli.amed_cmd import main as command
    command()
