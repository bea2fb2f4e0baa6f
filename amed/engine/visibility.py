"""What of the project a task can see: the rules its working copy is made by.

The working copy (amed.engine.workspace) and the code digest (amed.act.code_digest) follow
the same rules, so that a data set's identity covers exactly the files its task could read.
Left out: `.git` and `__pycache__` at any depth (Python writes the latter next to the
scripts a person runs in the project; counting it would make every such run look like an
edit), the paths given (the data sets' own, the state dir or store
when they lie in the project), sockets, pipes and devices, and whatever `.ameignore` at the
project's root excludes.

`.ameignore` takes gitignore-like patterns, one a line, kept simple:
- blank lines and lines starting with `#` are skipped; so are lines starting with `!`
  (re-including what an earlier pattern excluded is not supported);
- a pattern with no `/` but a trailing one matches a name at any depth (`*.log`,
  `__pycache__/`); one with a `/` at its start or in its middle is relative to the project
  root (`/build`, `docs/*.pdf`);
- a trailing `/` matches directories only;
- `*` matches within a name, `?` one character of it, `[abc]` one of a set; `**` matches
  any number of directories (`**/cache`, `notes/**`); `\\` makes the next character plain;
- what a pattern excludes is left out with everything under it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

VCS_DIR_NAMES = frozenset({".git", "__pycache__"})
"""Names never copied, at any depth."""
AMEIGNORE_NAME = ".ameignore"


@dataclass(frozen=True)
class Rule:
    """One `.ameignore` pattern: matched against the whole relative path when `anchored`,
    else against the name alone."""

    pattern: re.Pattern[str]
    anchored: bool
    dirs_only: bool


class Visibility:
    """Whether an entry of the project is left out of a task's working copy. `excluded`:
    paths as `excluded_set` gives them."""

    def __init__(self, root: Path, excluded: Collection[str] = frozenset()) -> None:
        self.excluded = excluded
        self.rules = read_rules(root)

    def hides(self, relative: str, name: str, *, is_dir: bool) -> bool:
        """`relative`: the entry's posix path from the project root; `name`: its last part;
        `is_dir`: a directory itself, not a link to one."""
        if name in VCS_DIR_NAMES or relative in self.excluded:
            return True
        for rule in self.rules:
            if rule.dirs_only and not is_dir:
                continue
            if rule.pattern.fullmatch(relative if rule.anchored else name):
                return True
        return False


def excluded_set(paths: Collection[str]) -> frozenset[str]:
    """Paths relative to the project, however written, as `Visibility` compares them."""
    return frozenset(normalise(path) for path in paths) - {""}


def is_special(entry: os.DirEntry[str]) -> bool:
    """Sockets, pipes and devices: never task input, and opening a pipe would block."""
    return not (
        entry.is_symlink()
        or entry.is_file(follow_symlinks=False)
        or entry.is_dir(follow_symlinks=False)
    )


def read_rules(root: Path) -> tuple[Rule, ...]:
    """The rules of `root/.ameignore`; none when there is no such file (or it cannot be
    read: then nothing more is left out, which errs towards rebuilding)."""
    try:
        text = (root / AMEIGNORE_NAME).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return ()
    return parse_rules(text)


def parse_rules(text: str) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith(("#", "!")):
            continue
        dirs_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        rules.append(Rule(re.compile(_translate(line), re.DOTALL), anchored, dirs_only))
    return tuple(rules)


def _translate(pattern: str) -> str:
    """A pattern as a regular expression over posix paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"(?!/)[{body}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def normalise(path: str) -> str:
    """`./data/out/` → `data/out`, so a data set path matches however it was written.
    String operations, not PurePosixPath: a pass builds this for every data set."""
    return "/".join(part for part in path.split("/") if part not in ("", "."))
