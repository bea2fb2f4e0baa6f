"""Masking secret values in what a task prints and in every text made from it.

A task is given its secrets in its environment and may print them, by mistake or on purpose
(`set -x`, a stack trace that dumps the environment, `echo $DB_PASSWORD`). What it prints
ends in its run log, the tail stored with a failure, the error people read in `ame ds list`,
the dashboard and alerts. Masking at the source, before the first byte is written, is the
only place where it covers all of them: every later reader sees `***`.

The daemon's own credentials (store keys, alert channel tokens) are masked the same way:
a task never gets them in its environment, but it may still find one on the machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_MASK_BYTES = MASK.encode()


def _secret_values(values: Iterable[str]) -> tuple[str, ...]:
    """Distinct, non-empty, longest first: a secret that contains another is masked whole."""
    return tuple(sorted({v for v in values if v}, key=len, reverse=True))


class Redactor:
    """Masks a fixed set of secret values in text, or in a byte stream fed in pieces.

    Where two secrets could match at one place the longer one is masked whole, so a
    secret that begins with another never leaves its end in the clear."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = _secret_values(values)
        encoded = [v.encode() for v in self.values]
        self._pattern = re.compile("|".join(re.escape(v) for v in self.values))
        self._bytes_pattern = re.compile(b"|".join(re.escape(b) for b in encoded))
        self._keep = max((len(b) for b in encoded), default=1) - 1
        self._carry = b""

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        if not self.values:
            return text
        return self._pattern.sub(MASK, text)

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def feed(self, data: bytes) -> bytes:
        """The masked bytes that are safe to write now. Up to the longest secret's length
        less one byte is held back: a secret may be cut between two pieces, and a match
        that starts there could still grow into a longer secret."""
        if not self.values:
            return data
        buffer = self._carry + data
        settled = len(buffer) - self._keep
        out: list[bytes] = []
        pos = 0
        for match in self._bytes_pattern.finditer(buffer):
            if match.start() >= settled:
                break
            out += (buffer[pos : match.start()], _MASK_BYTES)
            pos = match.end()
        stop = max(pos, settled)
        out.append(buffer[pos:stop])
        self._carry = buffer[stop:]
        return b"".join(out)

    def flush(self) -> bytes:
        """What was held back, at the end of the stream: no secret can grow now."""
        rest, self._carry = self._carry, b""
        if not self.values:
            return rest
        return self._bytes_pattern.sub(_MASK_BYTES, rest)
