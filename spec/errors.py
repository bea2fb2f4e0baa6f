"""The one error the spec package raises: a problem in an ame.yaml, with where it is."""

from __future__ import annotations


class SpecError(Exception):
    """One clear line: where, then what, then (when known) what to do.

    ``line`` and ``column`` are 1-based, as editors count them. ``str()`` gives
    ``file:line:column: message`` with the parts that are unknown left out, and never
    contains a newline, so the CLI can print it as it is.
    """

    def __init__(
        self,
        message: str,
        file: str = "ame.yaml",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = " ".join(message.split())
        self.file = file
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(str(self.line))
            if self.column is not None:
                where.append(str(self.column))
        return f"{':'.join(where)}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"SpecError({self.message!r}, file={self.file!r}, "
            f"line={self.line!r}, column={self.column!r})"
        )
