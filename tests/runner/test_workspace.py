"""The working copy: what it leaves out, how it copies, and that it is separate."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from amed.engine.workspace import make_working_copy


def test_copy_leaves_out_git_and_the_data_set_paths(project: Path, tmp_path: Path) -> None:
    (project / "data" / "raw.csv").write_text("input\n")
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=["./data/out/"])
    assert not (dest / ".git").exists()
    assert not (dest / "data" / "out").exists()
    assert (dest / "data" / "raw.csv").read_text() == "input\n"
    assert (dest / "src" / "input.txt").read_text() == "original\n"


def test_nested_git_directories_are_left_out_too(project: Path, tmp_path: Path) -> None:
    (project / "vendor" / "lib" / ".git").mkdir(parents=True)
    (project / "vendor" / "lib" / "code.py").write_text("x = 1\n")
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=[])
    assert not (dest / "vendor" / "lib" / ".git").exists()
    assert (dest / "vendor" / "lib" / "code.py").exists()


def test_an_excluded_name_elsewhere_in_the_tree_is_still_copied(
    project: Path, tmp_path: Path
) -> None:
    (project / "src" / "out").mkdir()
    (project / "src" / "out" / "x").write_text("x")
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=["out"])
    assert (dest / "src" / "out" / "x").exists()


def test_symlinks_are_copied_as_links_and_never_followed(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("secret\n")
    (project / "escape").symlink_to(outside)
    (project / "alias.txt").symlink_to("keep.txt")
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=[])
    assert (dest / "escape").is_symlink()
    assert (dest / "escape").readlink() == outside
    assert (dest / "alias.txt").is_symlink()
    assert (dest / "alias.txt").readlink() == Path("keep.txt")


def test_file_modes_are_kept(project: Path, tmp_path: Path) -> None:
    script = project / "make.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o750)
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=[])
    assert stat.S_IMODE((dest / "make.sh").stat().st_mode) == 0o750


def test_a_named_pipe_in_the_project_is_left_out_instead_of_blocking(
    project: Path, tmp_path: Path
) -> None:
    os.mkfifo(project / "pipe")
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=[])
    assert not (dest / "pipe").exists()
    assert (dest / "keep.txt").exists()


def test_copying_onto_an_existing_directory_fails(project: Path, tmp_path: Path) -> None:
    dest = tmp_path / "work"
    dest.mkdir()
    with pytest.raises(FileExistsError):
        make_working_copy(project, dest, exclude=[])


def test_a_thousand_small_files_are_all_copied(project: Path, tmp_path: Path) -> None:
    for index in range(1000):
        folder = project / "many" / f"d{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index}.txt").write_text(str(index))
    dest = tmp_path / "work"
    make_working_copy(project, dest, exclude=[])
    copied = sorted(p.name for p in (dest / "many").rglob("*.txt"))
    assert len(copied) == 1000
    assert (dest / "many" / "d7" / "f987.txt").read_text() == "987"
