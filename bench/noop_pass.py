"""3. The no-op pass: many declared data sets, all ready; a pass must be fast and append nothing.

- in-process: `Reconciler.reconcile` on a loaded project and an open state store, i.e.
  `StateStore.observed()` plus `amed.plan.decide.decide(...)`, which is what a daemon does every
  interval: with nothing changed since the pass before (it carries over what that one
  found), and over ame.yaml loaded again (nothing carried over; the target's pass). For
  scale, not a baseline of the same work: reading the same rows with raw `sqlite3`
  (`SELECT * FROM datasets`), what a stateless pass would read before any planning.
- whole `amed run --once`: start-up, spec load, state open, the passes, the sweep. Each
  follows a `sync` and the clean stop of the one before, as most starts do: ame.yaml comes from the
  state dir's cache (spec.cache) and the sweep, with no data set changed since the last
  one, does not list the store (amed.act.upkeep's ledger); the first run, untimed, loads
  and sweeps everything. The store holds no objects (no task ran): a real one's sweep
  after data sets changed lists it and reads each version's manifest. Baseline: Python
  start-up with `import sqlite3` plus the `sqlite3` CLI reading the rows.
- events appended by those passes (must be 0).
- loading the generated ame.yaml (`spec.load_text`), against PyYAML's C parser on the same
  text: the daemon parses it at start and after each edit, not on every pass.
- at 100,000 data sets (the spec's size limit raised, as such a project must): the
  in-process pass, with the loaded spec and tables frozen out of the garbage collector's
  scans (`gc.freeze`, as the service does after its first pass).
- hostile input under the default limits: refusing a 50 MB ame.yaml and an alias bomb.
"""

from __future__ import annotations

import gc
import pickle
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from bench import many
from bench.common import (
    Result,
    clean_env,
    command,
    drop_dirty_pages,
    execute,
    runs_for,
    sample,
    scratch,
    timed,
)

QUESTION = "3 no-op pass"
TARGET_PASS_SECONDS = 0.100
TARGET_AT = 10_000
TARGET_ONCE_SECONDS = 0.6
AT_SCALE = 100_000
TARGET_PASS_AT_SCALE_SECONDS = 0.300
TARGET_REFUSAL_SECONDS = 1.0


def run(quick: bool) -> list[Result]:
    counts = (1_000,) if quick else (1_000, 10_000)
    results: list[Result] = []
    for count in counts:
        with scratch("noop") as root:
            project = many.build(root / "project", root / "state", count)
            db = root / "state" / "state.db"
            # Whatever else amed records about a converged project (its tasks, ...) is
            # recorded by one real run first; from then on a pass must append nothing.
            execute(_once_argv(), env=_once_env(root))
            before = many.event_count(db)
            results += _in_process(root, project, count, quick)
            results.append(_whole_once(root, count, quick))
            appended = many.event_count(db) - before
            results.append(
                Result(
                    QUESTION,
                    f"{count:,} data sets: events appended by the passes above",
                    "count",
                    (float(appended),),
                    target="0",
                    met=appended == 0,
                )
            )
            results.append(_spec_load(count, quick))
    if not quick:
        results += _in_process_at_scale()
    results += _refusals(quick)
    return results


def _in_process_at_scale() -> list[Result]:
    with scratch("noop-scale") as root:
        project = many.build(root / "project", root / "state", AT_SCALE)
        execute(_once_argv(), env=_once_env(root, AME_SPEC_MAX_SIZE=str(many.max_bytes(AT_SCALE))))
        return _in_process(root, project, AT_SCALE, quick=False, freeze=True)


def _refusals(quick: bool) -> list[Result]:
    """How long the default limits take to refuse what they are for."""
    from spec import SpecError, load_project

    results: list[Result] = []
    with scratch("hostile") as root:
        big = root / "big" / "ame.yaml"
        big.parent.mkdir()
        with big.open("wb") as out:
            out.write(b"projectname: p\n")
            out.truncate(50 * 1000 * 1000)
        bomb = root / "bomb" / "ame.yaml"
        bomb.parent.mkdir()
        lines = ["projectname: bomb", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"l{n}: &l{n} [{','.join([f'*l{n - 1}'] * 8)}]" for n in range(1, 10)]
        bomb.write_text("\n".join(lines) + "\n")
        for label, path in (("a 50 MB ame.yaml", big), ("an alias bomb (8^10 nodes)", bomb)):

            def refuse(path: Path = path) -> None:
                try:
                    load_project(path)
                except SpecError:
                    return
                raise RuntimeError(f"{path} was not refused")

            seconds = sample(lambda refuse=refuse: timed(refuse), runs_for(quick))
            median = statistics.median(seconds)
            results.append(
                Result(
                    QUESTION,
                    f"default limits: refusing {label}",
                    "s",
                    seconds,
                    target=f"< {TARGET_REFUSAL_SECONDS:g} s",
                    met=median < TARGET_REFUSAL_SECONDS,
                )
            )
    return results


def _in_process(
    root: Path, project: object, count: int, quick: bool, freeze: bool = False
) -> list[Result]:
    """Two passes: with nothing changed since the pass before (the daemon's steady state:
    the pass carries over what it found, `Decision.memo`, and checks each row is the same
    object), and over ame.yaml loaded again (an equal project of new objects, unpickled
    untimed as from the spec cache: nothing is carried over, every data set is looked at).
    The target is held against the second."""
    from amed.act.reconciler import Reconciler
    from amed.config import Settings
    from amed.store.schemes import open_store
    from spec import Project
    from state.db import StateStore

    assert isinstance(project, Project)
    state = StateStore.in_dir(root / "state")
    settings = Settings(
        project_dir=root / "project",
        state_dir=root / "state",
        storage_url=(root / "objects").as_uri(),
    )
    runs = runs_for(quick) * 2
    pickled = pickle.dumps(project, pickle.HIGHEST_PROTOCOL)  # as spec.cache keeps it
    reconciler = Reconciler(settings, state, open_store((root / "objects").as_uri()))
    try:
        reconciler.reconcile(project)  # warm: the first pass after start may load caches
        if freeze:
            gc.collect()
            gc.freeze()
        steady = sample(lambda: timed(lambda: reconciler.reconcile(project)), runs)
        full = tuple(_timed_pass(reconciler, _loaded_again(pickled)) for _ in range(runs))
        actions = reconciler.reconcile(project).actions
    finally:
        reconciler.shutdown(cancel_runs=True)
        state.close()
        if freeze:
            gc.unfreeze()
    baseline = sample(lambda: _raw_read_seconds(root / "state" / "state.db"), runs)
    limit = TARGET_PASS_AT_SCALE_SECONDS if count >= AT_SCALE else TARGET_PASS_SECONDS
    target = count >= TARGET_AT
    frozen = ", after gc.freeze" if freeze else ""
    note = f"{len(actions)} actions planned" if actions else ""
    scale = "for scale: raw sqlite3 read of the rows (what a stateless pass reads)"
    return [
        Result(
            QUESTION,
            f"{count:,} data sets: one reconcile pass, in-process, nothing changed{frozen}",
            "s",
            steady,
            scale,
            baseline,
            note=note,
        ),
        Result(
            QUESTION,
            f"{count:,} data sets: one reconcile pass, in-process, ame.yaml loaded again{frozen}",
            "s",
            full,
            scale,
            baseline,
            target=f"≤ {limit * 1000:.0f} ms" if target else "",
            met=(statistics.median(full) <= limit) if target else None,
            note=note,
        ),
    ]


def _loaded_again(pickled: bytes) -> object:
    """An equal project of new objects, as from the spec cache. Left to the collector as
    the daemon leaves a changed ame.yaml: the collections its objects set off during the
    pass are the pass's own cost."""
    return pickle.loads(pickled)


def _timed_pass(reconciler: Any, project: object) -> float:
    return timed(lambda: reconciler.reconcile(project))


def _raw_read_seconds(db: Path) -> float:
    started = time.perf_counter()
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("SELECT * FROM datasets").fetchall()
    conn.close()
    return time.perf_counter() - started


def _whole_once(root: Path, count: int, quick: bool) -> Result:
    env = _once_env(root)
    argv = _once_argv()
    once: list[float] = []
    floor: list[float] = []
    for _ in range(runs_for(quick)):  # interleaved, each after a sync: a clean stop's
        # checkpoint of the WAL waits on whatever an earlier benchmark left to write back
        drop_dirty_pages()
        once.append(timed(lambda: execute(argv, env=env)))
        drop_dirty_pages()
        floor.append(floor_seconds(root / "state" / "state.db"))
    target = count >= TARGET_AT
    return Result(
        QUESTION,
        f"{count:,} data sets: whole `amed run --once`",
        "s",
        tuple(once),
        "python+sqlite3 floor",
        tuple(floor),
        target=f"≤ {TARGET_ONCE_SECONDS:g} s" if target else "",
        met=statistics.median(once) <= TARGET_ONCE_SECONDS if target else None,
    )


def _once_env(root: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        AME_STATE_DIR=str(root / "state"),
        AME_PROJECT=str(root / "project"),
        AME_STORAGE=(root / "objects").as_uri(),
        **extra,
    )


def _once_argv() -> list[str]:
    return [command("amed"), "run", "--once", "--log-format", "json"]


FLOOR_QUERY = "SELECT * FROM datasets WHERE status != 'removed' ORDER BY project, name"


def floor_seconds(db: Path, query: str = FLOOR_QUERY) -> float:
    """Python start-up with `import sqlite3`, plus the `sqlite3` CLI reading the rows."""
    python = timed(lambda: execute([command("python"), "-c", "import sqlite3"]))
    cli = timed(lambda: execute(["sqlite3", "-json", f"file:{db}?mode=ro", query]))
    return python + cli


def _spec_load(count: int, quick: bool) -> Result:
    import yaml

    from spec import load_text

    text = many.spec_text(count)
    loads = sample(lambda: timed(lambda: load_text(text)), runs_for(quick))
    parse = sample(
        lambda: timed(lambda: yaml.compose(text, Loader=yaml.CSafeLoader)), runs_for(quick)
    )
    return Result(
        QUESTION,
        f"{count:,} data sets: loading ame.yaml ({len(text) // 1024} KiB)",
        "s",
        loads,
        "PyYAML C compose",
        parse,
    )
