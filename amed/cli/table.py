"""Tables for people: rich on a terminal, plain aligned columns otherwise.

On a terminal the table fits the screen: every column keeps its full width but the last,
which is cut with an ellipsis (an error is read whole with `ame ds show`), and statuses
are coloured and headers bold unless `NO_COLOR` is set: then no escape code is written at
all (rich's own reading of NO_COLOR drops colours but keeps bold). In a pipe nothing is cut or
coloured: `grep` and `awk` see every character, as kubectl prints them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

# Colours by what a person should do about it: green fine, cyan busy, yellow will change
# on its own, red needs a look.
STATUS_STYLES = {
    "ready": "green",
    "succeeded": "green",
    "running": "cyan",
    "uploading": "cyan",
    "pending": "blue",
    "waiting": "blue",
    "evicted": "yellow",
    "deleting": "yellow",
    "failed": "red",
    "blocked": "magenta",
    "removed": "dim",
    "idle": "dim",
}


def one_line(text: str | None) -> str:
    """A multi-line text (an error and its output tail) on one line, its lines kept."""
    if not text:
        return ""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: str = "STATUS"
) -> None:
    if sys.stdout.isatty():
        _print_rich(columns, rows, status_column)
        return
    # The last column is not padded, so a long error adds no trailing blanks.
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    for cells in [columns, *rows]:
        padded = [v.ljust(w) for v, w in zip(cells[:-1], widths[:-1], strict=True)]
        click.echo("  ".join([*padded, cells[-1]]).rstrip())


def _print_rich(columns: Sequence[str], rows: Sequence[Sequence[str]], status_column: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # no-color.org: set and not empty. No colour system: rich writes no style at all.
    plain = bool(os.environ.get("NO_COLOR"))
    console = Console(highlight=False, color_system=None if plain else "auto")
    table = Table(box=None, pad_edge=False, header_style="bold")
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    # Every column as wide as its widest cell, the last one what the screen leaves.
    rest = console.width - sum(widths[:-1]) - 2 * (len(columns) - 1)
    for name, width in zip(columns[:-1], widths[:-1], strict=True):
        table.add_column(name, no_wrap=True, width=width)
    table.add_column(
        columns[-1], no_wrap=True, overflow="ellipsis", width=max(min(widths[-1], rest), 8)
    )
    status_at = columns.index(status_column) if status_column in columns else None
    for cells in rows:
        shown: list[str | Text] = list(cells)
        if status_at is not None:
            value = cells[status_at]
            shown[status_at] = Text(value, style=STATUS_STYLES.get(value, ""))
        table.add_row(*shown)
    console.print(table)
