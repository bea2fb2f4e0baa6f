"""The code digest: it covers exactly what a task's working copy holds, and finds unchanged
files again through its stat cache instead of reading them."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from amed.act.code_digest import CodeDigests, excluded_paths
from amed.config import Settings
from amed.engine.visibility import Visibility, parse_rules
from amed.engine.workspace import make_working_copy
from spec import load_text

DAY_SECONDS = 86400


def project(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def settle(root: Path) -> None:
    """Make every file a day old: older than the window in which an edit may go unseen."""
    past = time.time() - DAY_SECONDS
    for path in root.rglob("*"):
        os.utime(path, (past, past), follow_symlinks=False)


def rewrite_keeping_stat(path: Path, text: str) -> None:
    """New content, same size, inode and mtime: what only a read of the file can tell."""
    info = path.stat()
    assert len(text.encode()) == info.st_size
    with path.open("r+") as handle:
        handle.write(text)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


FILES = {
    "ame.yaml": "projectname: p\n",
    ".ameignore": "# scratch\nnotes/\n*.log\n/build\n",
    "run.sh": "echo one\n",
    "lib/util.py": "x = 1\n",
    "notes/todo.md": "later\n",
    "lib/debug.log": "noise\n",
    "build/out.bin": "bytes\n",
    "data/old.csv": "1,2\n",
    ".git/HEAD": "ref\n",
    "lib/__pycache__/util.cpython-311.pyc": "compiled\n",
}


@pytest.mark.parametrize(
    ("relative", "counts"),
    [
        ("run.sh", True),
        ("lib/util.py", True),
        ("ame.yaml", False),
        (".ameignore", False),
        ("notes/todo.md", False),
        ("lib/debug.log", False),
        ("build/out.bin", False),
        ("data/old.csv", False),
        (".git/HEAD", False),
        ("lib/__pycache__/util.cpython-311.pyc", False),
    ],
)
def test_only_an_edit_to_a_file_the_task_can_see_changes_the_digest(
    tmp_path: Path, relative: str, counts: bool
) -> None:
    root = project(tmp_path / "p", FILES)
    digests = CodeDigests(None)
    before = digests.digest(root, ["data"])
    (root / relative).write_text((root / relative).read_text() + "# edited\n")
    assert (digests.digest(root, ["data"]) != before) is counts


def test_the_digest_covers_the_files_the_working_copy_holds(tmp_path: Path) -> None:
    root = project(tmp_path / "p", FILES)
    copy = tmp_path / "copy"
    make_working_copy(root, copy, exclude=["data"])
    copied = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    assert copied == sorted([".ameignore", "ame.yaml", "lib/util.py", "run.sh"])
    assert CodeDigests(None).digest(copy, ["data"]) == CodeDigests(None).digest(root, ["data"])


def test_a_new_file_a_removed_file_and_an_executable_bit_change_the_digest(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "p", {"run.sh": "echo\n"})
    digests = CodeDigests(None)
    seen = {digests.digest(root, [])}
    (root / "extra.py").write_text("")
    seen.add(digests.digest(root, []))
    (root / "run.sh").chmod(0o755)
    seen.add(digests.digest(root, []))
    (root / "extra.py").unlink()
    seen.add(digests.digest(root, []))
    assert len(seen) == 4


def test_an_unchanged_file_is_found_again_through_the_stat_cache(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"run.sh": "echo one\n"})
    settle(root)
    digests = CodeDigests(None)
    before = digests.digest(root, [])
    rewrite_keeping_stat(root / "run.sh", "echo two\n")
    assert digests.digest(root, []) == before, "the file was not read again"
    assert CodeDigests(None).digest(root, []) != before, "a fresh cache reads it"


def test_a_file_written_just_now_is_read_at_every_walk(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"run.sh": "echo one\n"})
    digests = CodeDigests(None)
    before = digests.digest(root, [])
    rewrite_keeping_stat(root / "run.sh", "echo two\n")
    assert digests.digest(root, []) != before


def test_the_cache_is_kept_in_its_file_for_the_next_process(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"run.sh": "echo one\n"})
    settle(root)
    cache = tmp_path / "state" / "code-digests.json"
    cache.parent.mkdir()
    before = CodeDigests(cache).digest(root, [])
    assert cache.exists() and (cache.stat().st_mode & 0o777) == 0o600
    rewrite_keeping_stat(root / "run.sh", "echo two\n")
    assert CodeDigests(cache).digest(root, []) == before
    written = cache.stat().st_mtime_ns
    CodeDigests(cache, persist=False).digest(project(root, {"new.py": ""}), [])
    assert cache.stat().st_mtime_ns == written, "a dry run never writes the cache"


def test_the_state_dir_and_a_local_store_inside_the_project_are_not_part_of_it(
    tmp_path: Path,
) -> None:
    desired = load_text(
        "projectname: p\ndataSets:\n  - name: d\n    path: out/d\n"
        "    task: {executor: !custom {command: x}}\n"
    )
    settings = Settings(
        project_dir=tmp_path,
        state_dir=tmp_path / ".ame" / "state",
        storage_url=(tmp_path / "objects").as_uri(),
    )
    assert excluded_paths(settings, desired) == ("out/d", ".ame/state", "objects")
    outside = replace(settings, state_dir=Path("/var/lib/ame"), storage_url="s3://bucket")
    assert excluded_paths(outside, desired) == ("out/d",)


@pytest.mark.parametrize(
    ("pattern", "relative", "is_dir", "hidden"),
    [
        ("*.log", "a/b/debug.log", False, True),
        ("*.log", "a/b/debug.log.txt", False, False),
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),
        ("build/", "src/build", True, True),
        ("build/", "src/build", False, False),
        ("docs/*.pdf", "docs/a.pdf", False, True),
        ("docs/*.pdf", "docs/x/a.pdf", False, False),
        ("**/cache", "a/b/cache", True, True),
        ("**/cache", "cache", True, True),
        ("notes/**", "notes/a/b.md", False, True),
        ("data-[0-9]", "data-7", True, True),
        ("data-[!0-9]", "data-7", True, False),
        ("# comment", "# comment", False, False),
        ("!keep.log", "keep.log", False, False),
        ("\\#hash", "#hash", False, True),
    ],
)
def test_ameignore_patterns(
    tmp_path: Path, pattern: str, relative: str, is_dir: bool, hidden: bool
) -> None:
    (tmp_path / ".ameignore").write_text(pattern + "\n")
    visibility = Visibility(tmp_path)
    assert visibility.rules == parse_rules(pattern)
    name = relative.rsplit("/", 1)[-1]
    assert visibility.hides(relative, name, is_dir=is_dir) is hidden
