"""Where data sets live: each in a directory of its own, none of them on the project file.

A data set's directory is produced, stored, replaced and evicted as a whole. Two data sets
in one directory, or one inside the other's, would upload each other's files and delete
them on eviction; a data set at ``ame.yaml`` would have its task overwrite the project
file. Paths arrive normalized (``./x/`` is ``x``) and are compared by segments, so ``data``
holds ``data/sub`` while ``data`` and ``data2`` are apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from spec.locate import LocatedProblem
from spec.yaml_nodes import NodePath

PROJECT_FILE_NAMES = ("ame.yaml", "ame.yml")


def shared_places(places: Sequence[tuple[str, str]], project_file: str) -> list[LocatedProblem]:
    """``places`` are (name, normalized path) in file order; each data set that takes a
    place already taken, or the project file's, is a problem, reported at its path.

    Names are compared without case: on a case-insensitive file system ``AME.yaml`` is the
    project file too.
    """
    own_name = PurePosixPath(project_file).name
    file_names = {name.casefold() for name in (*PROJECT_FILE_NAMES, own_name)}
    found: list[LocatedProblem] = []
    owner: dict[str, int] = {}  # a data set's path -> its index
    below: dict[str, int] = {}  # a directory above a data set's path -> the first such data set
    for i, (name, path) in enumerate(places):
        problem = _taken(i, name, path, places, file_names, owner, below)
        if problem is not None:
            found.append(problem)
            continue
        owner[path] = i
        for directory in _above(path):
            below.setdefault(directory, i)
    return found


def _above(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:k]) for k in range(1, len(parts))]


def _taken(
    i: int,
    name: str,
    path: str,
    places: Sequence[tuple[str, str]],
    file_names: set[str],
    owner: dict[str, int],
    below: dict[str, int],
) -> LocatedProblem | None:
    at: NodePath = ("dataSets", i, "path")
    if path.casefold() in file_names:
        return LocatedProblem(
            at,
            f"'{path}' is the project file; data set '{name}' would overwrite it:"
            f" give a directory, e.g. data/{name}",
        )
    if path in owner:
        other = places[owner[path]][0]
        return LocatedProblem(
            at,
            f"data set '{name}' has the same path as data set '{other}'"
            f" ('{path}', dataSets[{owner[path]}].path); give each a directory of its own",
        )
    for directory in _above(path):
        if directory in owner:
            other = places[owner[directory]][0]
            return LocatedProblem(
                at,
                f"data set '{name}' ('{path}') is inside data set '{other}' ('{directory}');"
                " data sets' directories must not overlap",
            )
    if path in below:
        other, other_path = places[below[path]]
        return LocatedProblem(
            at,
            f"data set '{name}' ('{path}') contains data set '{other}' ('{other_path}');"
            " data sets' directories must not overlap",
        )
    return None
