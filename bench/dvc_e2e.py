"""2. End to end against DVC: the same producing command, from nothing to stored.

amed: `amed run --once` on a fresh state and file:// store: run the task, store, commit.
DVC: the same command as a stage of a fresh repository (`dvc init --no-scm`, a local
remote on the same disk), `dvc repro && dvc push`: run, hash into the cache, push.
Both timed as whole commands, start-up included; set-up (`dvc init`, writing the spec) is not
timed. Every sample starts from empty stores; dirty pages are written out between samples,
which are interleaved, the order swapped every round.
Without DVC installed (the `bench` extra) the row says so, before any data is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.common import (
    Result,
    Workspace,
    clean_env,
    command,
    drop_dirty_pages,
    execute,
    not_measured,
    runs_for,
    scratch,
    timed,
)
from bench.data import ONE_GIB_FILE, SMALL_FILES, quick_shape, write_tree

QUESTION = "2 vs DVC"
TARGET_SPEED = 3.0

AMED_SPEC = """
projectname: bench
tasks:
  - name: produce
    executor: !custom
      command: cp -r {source} data
dataSets:
  - name: out
    path: ./data
    task:
      taskRef: produce
"""
DVC_STAGE = """\
stages:
  produce:
    cmd: cp -r {source} data
    outs:
      - data
"""


def run(quick: bool) -> list[Result]:
    try:
        command("dvc")
    except RuntimeError:
        why = "n/a (dvc is not installed: pip install 'amed[bench]')"
        return [not_measured(QUESTION, "`amed run --once` vs `dvc repro && dvc push`", why)]
    results: list[Result] = []
    with scratch("dvc") as root:
        for shape in (ONE_GIB_FILE, SMALL_FILES):
            shape = quick_shape(shape) if quick else shape
            source = root / "source"
            write_tree(source, shape)
            amed: list[float] = []
            dvc: list[float] = []
            for index in range(runs_for(quick)):
                if index % 2:
                    dvc.append(_dvc_seconds(root, source))
                amed.append(_amed_seconds(root, source))
                if not index % 2:
                    dvc.append(_dvc_seconds(root, source))
            shutil.rmtree(source)
            result = Result(
                QUESTION,
                f"{shape.label}: `amed run --once` vs `dvc repro && dvc push`",
                "s",
                tuple(amed),
                "dvc",
                tuple(dvc),
                speed=True,
                target=f"≥ {TARGET_SPEED:.0f}× speed",
            )
            met = result.ratio is not None and result.ratio >= TARGET_SPEED
            results.append(Result(**{**result.__dict__, "met": met}))
    return results


def _amed_seconds(root: Path, source: Path) -> float:
    ws = Workspace(root / "amed")
    try:
        ws.write_spec(AMED_SPEC.format(source=source))
        drop_dirty_pages()
        return timed(ws.once)
    finally:
        shutil.rmtree(ws.root, ignore_errors=True)
        drop_dirty_pages()


def _dvc_seconds(root: Path, source: Path) -> float:
    repo = root / "dvc"
    repo.mkdir()
    env = clean_env(DVC_NO_ANALYTICS="1", DVC_SITE_CACHE_DIR=str(root / "dvc-site"))
    dvc = command("dvc")
    try:
        execute([dvc, "init", "--no-scm", "-q"], cwd=repo, env=env)
        execute([dvc, "remote", "add", "-d", "store", str(root / "dvc-remote")], cwd=repo, env=env)
        (repo / "dvc.yaml").write_text(DVC_STAGE.format(source=source))
        drop_dirty_pages()

        def repro_and_push() -> None:
            execute([dvc, "repro", "-q"], cwd=repo, env=env)
            execute([dvc, "push", "-q"], cwd=repo, env=env)

        return timed(repro_and_push)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(root / "dvc-remote", ignore_errors=True)
        shutil.rmtree(root / "dvc-site", ignore_errors=True)
        drop_dirty_pages()
