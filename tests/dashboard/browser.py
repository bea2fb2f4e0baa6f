"""A headless Chromium driven over the DevTools protocol on a pipe: no driver, no library.

`--remote-debugging-pipe` makes Chromium read commands from fd 3 and write answers to fd 4,
each a JSON object ended by a NUL byte. That is enough to load a page at a given screen
size, click, wait for the page's own signal (a promise evaluated in the page) and take a
screenshot, which `--dump-dom` alone cannot do.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSWER_TIMEOUT_SECONDS = 120
"""The longest a command may go unanswered: a hang, not a slow machine, ends the test."""


def _high(fd: int) -> int:
    """The same pipe end above 9, so that the shell's `3<&N` cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium with one page (a tab), sized like a phone or a desktop."""

    def __init__(self, profile: Path, *, width: int, height: int, mobile: bool) -> None:
        assert CHROMIUM is not None
        to_chromium, self._to_us = os.pipe()  # our writes: Chromium's fd 3
        self._from_chromium, from_us = os.pipe()  # its fd 4: our reads
        to_chromium, from_us = _high(to_chromium), _high(from_us)
        self._proc = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$@" 3<&{to_chromium} 4>&{from_us} {to_chromium}<&- {from_us}>&-',
                "bash",
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_chromium, from_us),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chromium)
        os.close(from_us)
        self._buffer = b""
        self._next_id = 0
        self._events: list[str] = []  # the methods of the events seen, in order
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        self.call("Page.enable")

    def _call(self, method: str, params: dict[str, Any], session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_us, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._receive(method)
            if answer.get("id") == self._next_id:
                assert "error" not in answer, f"{method}: {answer['error']}"
                return answer.get("result", {})

    def _receive(self, waiting_for: str) -> dict[str, Any]:
        """The next message; an event is also noted in `_events`."""
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_chromium], [], [], ANSWER_TIMEOUT_SECONDS)
            assert ready, f"Chromium did not answer {waiting_for}"
            chunk = os.read(self._from_chromium, 1 << 16)
            assert chunk, f"Chromium exited waiting for {waiting_for}"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        if "method" in message:
            self._events.append(message["method"])
        return message

    def _wait_for_event(self, method: str) -> None:
        while method not in self._events:
            self._receive(method)
        self._events.remove(method)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self._call(method, params or {}, self._session)

    def evaluate(self, expression: str) -> Any:
        """The value of `expression` in the page; a promise is awaited."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Load `url` and wait until the document has loaded (its load event, which
        comes whether or not script runs)."""
        self._events.clear()
        self.call("Page.navigate", {"url": url})
        self._wait_for_event("Page.loadEventFired")
        assert self.evaluate("location.href") == url

    def next_update(self) -> int:
        """Wait for the page's next live update (its `amed:updated` event); the count of
        updates so far."""
        return int(
            self.evaluate(
                "new Promise(done => document.addEventListener('amed:updated', "
                "() => done(document.documentElement.getAttribute('data-updates')), "
                "{once: true}))"
            )
        )

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """A PNG of the viewport, or of the whole page's length when `full_page`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
            params["clip"]["scale"] = 1
        data = self.call("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self._call("Browser.close", {})
        except (AssertionError, OSError):
            pass  # it may close the pipe before it answers
        finally:
            os.close(self._to_us)
            os.close(self._from_chromium)
            try:
                self._proc.wait(timeout=ANSWER_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
