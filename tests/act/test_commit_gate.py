"""A run that stored its version itself (on a cluster's worker) is committed only when the
manifest found in the store is the one the run says it wrote, and every file it lists is
there: a manifest an earlier attempt left under the same number is not this run's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from amed.act.produce import Producer
from amed.act.runs import RunSetup
from amed.config import resolve
from amed.plan.actions import Produce
from amed.store.schemes import open_store
from spec import load_text
from state.events import Event, RunFailed, VersionStored

SPEC = """
projectname: demo
dataSets:
  - name: out
    path: out
    task:
      executor: !custom
        command: "true"
"""


def _commit(tmp_path: Path, digest_of_run: str | None) -> list[Event]:
    store = open_store("memory://")
    store.bind("state0id0000001", host="h", state_dir=str(tmp_path), on_claim_lost=None)
    store.claim("demo")
    source = tmp_path / "out"
    source.mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    manifest = store.put_version("demo", "out", 1, source, created_at="2026-01-01T00:00:00.000Z")
    appended: list[Event] = []
    producer = Producer(
        store,
        appended.extend,
        runs=None,  # type: ignore[arg-type]  # committing starts no run
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        jitter=lambda: 0.0,
        report_store=lambda error: None,
        credentials=(),
    )
    project = load_text(SPEC)
    action = Produce(project="demo", data_set=project.data_sets[0], version=1, attempt=1)
    settings = resolve({}, {"AME_STATE_DIR": str(tmp_path / "state")}, None)
    digest = manifest.content_digest if digest_of_run == "its own" else digest_of_run
    producer._commit_stored(action, "out-v1-abc", RunSetup(settings, ()), digest)
    return appended


def test_the_manifest_the_run_wrote_is_committed(tmp_path: Path) -> None:
    (event,) = _commit(tmp_path, "its own")
    assert isinstance(event, VersionStored) and event.version == 1


def test_a_manifest_the_run_did_not_write_is_not_committed(tmp_path: Path) -> None:
    for index, digest in enumerate(("0" * 64, None)):
        (event,) = _commit(tmp_path / str(index), digest)
        assert isinstance(event, RunFailed) and event.stage == "store"
        assert "its manifest is not the one the run says it wrote" in event.reason
