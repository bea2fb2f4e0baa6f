"""`amed`'s entry point imports its commands with the collector off, and leaves the
collector as it found it."""

from __future__ import annotations

import gc
import subprocess
import sys

from state.collector import collector_paused


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_a_frozen_pause_made_is_out_of_later_collections() -> None:
    made: list[list[object]] = []
    try:
        with collector_paused(freeze=True):
            made = [[] for _ in range(1000)]  # tracked by the collector, as classes are
        assert gc.get_freeze_count() >= 1000
        scanned = {id(item) for item in gc.get_objects()}  # every generation a collection sees
        assert not any(id(item) in scanned for item in made)
    finally:
        gc.unfreeze()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_command_runs_with_the_collector_on() -> None:
    """The entry imports the command with the collector off, then runs it with it on."""
    code = (
        "import gc\n"
        "import amed.cli.amed_cmd as command\n"
        "command.main = lambda: print(f'collector on: {gc.isenabled()}')\n"
        "from amed.cli.amed_entry import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "collector on: True\n"
