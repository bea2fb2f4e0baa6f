"""The data set and task names a person gives `ame`: `NAME`, or `PROJECT/NAME`.

One state dir may hold several projects (a project renamed in ame.yaml leaves the old
one's rows, held by the mass-deletion guard until confirmed), so a bare name may match in
more than one. Picking one of them silently would show, pull or follow the wrong data: the
person is asked to choose, in one line that lists the choices. Names never hold a `/`
(spec.fields.NAME_PATTERN), so `PROJECT/NAME` reads one way only.

A name that matches nothing, or several things, is invalid input (exit 2), whatever
command was given it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from state.read import StateReader
    from state.rows import DatasetRow


class NameNotFound(Exception):
    """A name that matches nothing, or more than one project's: the message is the line."""


def split_name(text: str) -> tuple[str | None, str]:
    """(project, name) of `PROJECT/NAME`; (None, name) of a bare name."""
    project, slash, name = text.partition("/")
    return (project, name) if slash else (None, text)


def qualified(project: str, name: str) -> str:
    return f"{project}/{name}"


def pick(
    text: str, keys: Iterable[tuple[str, str]], *, what: str, where: Path | str
) -> tuple[str, str]:
    """The one (project, name) among `keys` that `text` names; NameNotFound when none does
    or when a bare name is in several projects."""
    project, name = split_name(text)
    matches = sorted({(p, n) for p, n in keys if n == name and project in (None, p)})
    if not matches:
        raise NameNotFound(f"no {what} named {text!r} in {where}")
    if len(matches) > 1:
        choices = ", ".join(qualified(p, n) for p, n in matches)
        raise NameNotFound(f"{what} {name!r} is in {len(matches)} projects; give one of: {choices}")
    return matches[0]


def find_dataset(reader: StateReader, text: str, where: Path) -> DatasetRow:
    """The data set `text` names. A removed data set's row stays in the state: it counts
    only when no project holds one of that name that is not removed."""
    project, name = split_name(text)
    rows, _ = reader.datasets_page(names=[name], project=project, include_removed=True, limit=2**62)
    present = [r for r in rows if r.status != "removed"] or rows
    key = pick(text, (r.key for r in present), what="data set", where=where)
    latest = max((r for r in present if r.key == key), key=lambda r: r.updated_at)
    return latest


def several_projects(projects: Iterable[str]) -> bool:
    """Whether a table needs a PROJECT column: its names alone do not say whose they are."""
    return len(set(projects)) > 1
