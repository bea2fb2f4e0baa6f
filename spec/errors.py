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
        return located_line(self.message, self.file, self.line, self.column)

    def __repr__(self) -> str:
        return (
            f"SpecError({self.message!r}, file={self.file!r}, "
            f"line={self.line!r}, column={self.column!r})"
        )


def located_line(
    message: str, file: str, line: int | None = None, column: int | None = None
) -> str:
    """``file:line:column: message``, the form editors jump to, for errors and warnings."""
    where = [file]
    if line is not None:
        where.append(str(line))
        if column is not None:
            where.append(str(column))
    return f"{':'.join(where)}: {message}"
