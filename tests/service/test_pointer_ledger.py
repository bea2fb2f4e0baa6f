"""A start reads the store's pointers only where they may have changed: all of them after a
kill, those of data sets the log changed otherwise; and the spec cache it keeps in the
state dir follows every edit of ame.yaml."""

from __future__ import annotations

import signal

from tests.conftest import Workspace
from tests.service.conftest import StartDaemon
from tests.service.daemon import HELLO_SPEC, once_log
from tests.service.test_start_check import wait_for_first_pass


def test_a_pointer_is_read_again_when_its_data_set_changes_or_after_a_kill(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(HELLO_SPEC)
    once_log(ws)  # produces "data": its events come after this start's sweep
    pointer = ws.objects / "datasets" / "demo" / "data" / "current.json"
    pointer.unlink()  # by hand: nothing in the log says so
    once_log(ws)
    assert pointer.exists(), "a data set the log changed since the last sweep is read"
    pointer.unlink()
    once_log(ws)
    assert not pointer.exists(), "after a clean stop, an unchanged data set's pointer is not read"
    daemon = start_daemon("--interval", "60")
    wait_for_first_pass(ws, daemon)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    once_log(ws)
    assert pointer.exists(), "after a kill, every pointer is read and mended"


def test_the_spec_cache_follows_edits_and_keeps_the_warnings(
    ws: Workspace, start_daemon: StartDaemon
) -> None:
    ws.write_spec(HELLO_SPEC.replace("hello.txt", "hello.txt\n        pythonVersion: '3.11'"))
    once_log(ws)  # the first start: no state dir to keep a cache in yet when it loads
    ws.write_spec(HELLO_SPEC.replace("echo hello", "echo bonjour"))
    once_log(ws)
    assert (ws.state / "spec-cache.pickle").exists()
    assert ws.dataset("data")["version"] == 2, "the edit was seen: a new version"
    ws.write_spec(HELLO_SPEC.replace("hello.txt", "hello.txt\n        pythonVersion: '3.11'"))
    once_log(ws)
    assert ws.dataset("data")["version"] == 3
    daemon = start_daemon("--interval", "60")  # the same file again: from the cache
    warning = daemon.wait_for_log("spec_warning")
    assert "pythonVersion" in warning["warning"]
    assert warning["warning"].startswith(f"{ws.project / 'ame.yaml'}:")
