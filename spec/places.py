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
from spec.yaml_loader import NodePath

PROJECT_FILE_NAMES = ("ame.yaml", "ame.yml")


def refuse_shared_places(places: Sequence[tuple[str, str]], project_file: str) -> None:
    """``places`` are (name, normalized path) in file order; the first data set that takes
    a place already taken, or the project file's, is the problem, reported at its path.

    Names are compared without case: on a case-insensitive file system ``AME.yaml`` is the
    project file too.
    """
    own_name = PurePosixPath(project_file).name
    file_names = {name.casefold() for name in (*PROJECT_FILE_NAMES, own_name)}
    owner: dict[str, int] = {}  # a data set's path -> its index
    below: dict[str, int] = {}  # a directory above a data set's path -> the first such data set
    for i, (name, path) in enumerate(places):
        at: NodePath = ("dataSets", i, "path")
        if path.casefold() in file_names:
            raise LocatedProblem(
                at,
                f"'{path}' is the project file; data set '{name}' would overwrite it:"
                f" give a directory, e.g. data/{name}",
            )
        if path in owner:
            other = places[owner[path]][0]
            raise LocatedProblem(
                at,
                f"data set '{name}' has the same path as data set '{other}'"
                f" ('{path}', dataSets[{owner[path]}].path); give each a directory of its own",
            )
        parts = path.split("/")
        above = ["/".join(parts[:k]) for k in range(1, len(parts))]
        for directory in above:
            if directory in owner:
                other = places[owner[directory]][0]
                raise LocatedProblem(
                    at,
                    f"data set '{name}' ('{path}') is inside data set '{other}' ('{directory}');"
                    " data sets' directories must not overlap",
                )
        if path in below:
            other, other_path = places[below[path]]
            raise LocatedProblem(
                at,
                f"data set '{name}' ('{path}') contains data set '{other}' ('{other_path}');"
                " data sets' directories must not overlap",
            )
        owner[path] = i
        for directory in above:
            below.setdefault(directory, i)
