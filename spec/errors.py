"""What the spec package reports about an ame.yaml: problems with where they are, and the
one error it raises, which carries every problem found."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


def one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or, as a warning, most likely not meant) in an ame.yaml.

    ``line`` and ``column`` are 1-based, as editors count them. ``path`` is the node the
    problem is about, in the file's own keys (``dataSets[0].size``), empty when it is the
    file or its top level. ``str()`` is the located line people read; ``as_json()`` the same
    parts for scripts and editors.
    """

    message: str
    file: str = "ame.yaml"
    line: int | None = None
    column: int | None = None
    path: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", one_line(self.message))

    @property
    def text(self) -> str:
        """The message as the located line gives it: after the path, when there is one."""
        return f"{self.path}: {self.message}" if self.path else self.message

    def __str__(self) -> str:
        lead = "warning: " if self.severity == "warning" else ""
        return located_line(lead + self.text, self.file, self.line, self.column)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


def in_file_order(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Sorted by where they are (unplaced ones first, as they concern the whole file), each
    distinct problem once: two validators can find the same fault at the same node."""
    unique = dict.fromkeys(problems)
    return tuple(sorted(unique, key=lambda p: (p.line or 0, p.column or 0)))


class SpecError(Exception):
    """An ame.yaml that cannot be used, with every problem found, in file order.

    ``str()`` gives one located line per problem (``file:line:column: message``, the parts
    that are unknown left out), so that printing it as it is shows them all; with one
    problem it is one line and has no newline. ``message``, ``file``, ``line`` and
    ``column`` are the first problem's; ``message`` holds its path too, as the line does.
    """

    def __init__(
        self,
        message: str,
        file: str = "ame.yaml",
        line: int | None = None,
        column: int | None = None,
        *,
        path: str = "",
    ) -> None:
        self._set((Problem(message, file, line, column, path),))

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> SpecError:
        ordered = in_file_order(problems)
        if not ordered:
            raise ValueError("a SpecError needs at least one problem")
        error = cls.__new__(cls)
        error._set(ordered)
        return error

    def _set(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        first = problems[0]
        self.message = first.text
        self.file = first.file
        self.line = first.line
        self.column = first.column
        super().__init__(str(self))

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(str(problem) for problem in self.problems)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        if len(self.problems) > 1:
            return f"SpecError.of({list(self.problems)!r})"
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
