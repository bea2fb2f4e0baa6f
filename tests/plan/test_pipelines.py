"""Data sets made from data sets: production follows the graph, a version's identity covers
its inputs' content and the project's code, a failed input fails its dependants, and an
input is never evicted while a run needs it.

`raw` is fetched; `features` and `stats` are both made from it; `report` from both. Versions
made here record their identity (their content digest, written like `raw-1`, and the code
digest CODE) unless a row says otherwise.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from amed.plan.facts import Facts
from spec import Project, load_text
from state.events import DatasetBlocked, RebuildRequested
from tests.plan.world import (
    NOW,
    Case,
    GiB,
    Step,
    World,
    case,
    check,
    declared,
    evicted,
    failed,
    finished,
    happened,
    passed,
    requested,
    running,
    stored,
)

PIPELINE = """
projectname: p
tasks:
  - name: train
    executor: !custom {{command: train}}
    dataSets: [report]
dataSets:
  - name: raw
    path: raw
    task:
      executor: !custom {{command: {fetch}}}
  - name: features
    path: features
    task:
      executor: !custom {{command: featurize}}
      dataSets: [raw]
  - name: stats
    path: stats
    task:
      executor: !custom {{command: count}}
      dataSets: [{stats_inputs}]
  - name: report
    path: report
    task:
      executor: !custom {{command: report}}
      dataSets: [features, stats]
"""
SPEC = load_text(PIPELINE.format(fetch="fetch", stats_inputs="raw"))
REFETCHED = load_text(PIPELINE.format(fetch="fetch --again", stats_inputs="raw"))
STATS_OF_BOTH = load_text(PIPELINE.format(fetch="fetch", stats_inputs="raw, features"))
LONE = load_text(
    "projectname: p\n"
    "dataSets: [{name: raw, path: raw, task: {executor: !custom {command: fetch}}}]\n"
)
CODE = "code-1"
SLOTS = 4


def at(code: str | None = CODE, slots: int = SLOTS, running: frozenset[str] = frozenset()) -> Facts:
    return Facts(now=NOW, free_slots=slots, code_digest=code, running_runs=running)


def made(
    name: str,
    version: int = 1,
    content: str | None = None,
    size_bytes: int = 10,
    spec: Project | None = None,
) -> Step:
    """Version `version` of the data set, as `spec` declares it (the world's by default),
    produced from the inputs ready now with the code CODE, holding `content`
    (`name-version` by default)."""

    def step(world: World) -> None:
        running(name, version, spec=spec)(world)
        digest = content or f"{name}-{version}"
        finished(name, version, size_bytes, spec=spec, content=digest, code=CODE)(world)

    return step


def all_made(spec: Project | None = None) -> list[Step]:
    return [
        declared(spec=spec),
        *(made(n, spec=spec) for n in ("raw", "features", "stats", "report")),
    ]


ALL_MADE = all_made()


def raw_again(content: str) -> list[Step]:
    """raw's command changed and its version 2 holds `content`."""
    return [
        *ALL_MADE,
        running("raw", 2, spec=REFETCHED),
        finished("raw", 2, spec=REFETCHED, content=content, code=CODE),
    ]


def raw_blocked() -> DatasetBlocked:
    return DatasetBlocked(
        at=NOW,
        project="p",
        dataset="raw",
        reason="needs 1Gi",
        needed_bytes=GiB,
        free_bytes=0,
        reclaimable_bytes=0,
    )


ORDER = [
    case(
        "a new pipeline produces the data set nothing else is made of first",
        spec=SPEC,
        facts=at(),
        then=[
            "declare raw",
            "declare features",
            "declare stats",
            "declare report",
            "declare task train",
            "produce raw v1 (new)",
        ],
    ),
    case(
        "independent branches start together once their input is ready",
        spec=SPEC,
        given=[declared(), made("raw")],
        facts=at(),
        then=["produce features v1 (new) from raw v1", "produce stats v1 (new) from raw v1"],
        after={"raw": "ready v1 in use by features, stats"},
    ),
    case(
        "a data set waits until every input is ready",
        spec=SPEC,
        given=[declared(), made("raw"), made("features"), running("stats")],
        facts=at(running=frozenset({"stats-1"})),
        then=[],
    ),
    case(
        "the last stage starts from the versions its inputs have",
        spec=SPEC,
        given=[declared(), made("raw"), made("features"), made("stats")],
        facts=at(),
        then=["produce report v1 (new) from features v1, stats v1"],
    ),
    case(
        "with one free slot the first branch in ame.yaml goes first",
        spec=SPEC,
        given=[declared(), made("raw")],
        facts=at(slots=1),
        then=["produce features v1 (new) from raw v1"],
    ),
    case(
        "a converged pipeline needs nothing",
        spec=SPEC,
        given=ALL_MADE,
        facts=at(),
        then=[],
    ),
]

IDENTITY = [
    case(
        "an input whose new version holds other bytes makes its dependants due",
        spec=REFETCHED,
        given=raw_again("raw-2"),
        facts=at(),
        then=[
            "delete raw v1 (superseded)",
            "produce features v2 (input raw changed) from raw v2",
            "produce stats v2 (input raw changed) from raw v2",
        ],
    ),
    case(
        "an input produced again with the same bytes changes nothing downstream",
        spec=REFETCHED,
        given=raw_again("raw-1"),
        facts=at(),
        then=["delete raw v1 (superseded)"],
    ),
    case(
        "dependants wait while their input is produced again",
        spec=REFETCHED,
        given=[*ALL_MADE, running("raw", 2, spec=REFETCHED)],
        facts=at(running=frozenset({"raw-2"})),
        then=[],
    ),
    case(
        "the stage after a changed one waits for it before deciding",
        spec=REFETCHED,
        given=[*raw_again("raw-2"), made("features", 2)],
        facts=at(),
        then=[
            "delete features v1 (superseded)",
            "delete raw v1 (superseded)",
            "produce stats v2 (input raw changed) from raw v2",
        ],
    ),
    case(
        "changed code makes every data set due, inputs first",
        spec=SPEC,
        given=ALL_MADE,
        facts=at(code="code-2"),
        then=["produce raw v2 (code changed)"],
    ),
    case(
        "after the first stage, changed code produces the next ones from its new version",
        spec=SPEC,
        given=[*ALL_MADE, running("raw", 2), finished("raw", 2, content="raw-1", code="code-2")],
        facts=at(code="code-2"),
        then=[
            "delete raw v1 (superseded)",
            "produce features v2 (code changed) from raw v2",
            "produce stats v2 (code changed) from raw v2",
        ],
    ),
    case(
        "a code digest that could not be read is not compared",
        spec=SPEC,
        given=ALL_MADE,
        facts=at(code=None),
        then=[],
    ),
    case(
        "a version stored before identities were recorded is kept as it is",
        spec=LONE,
        given=[declared(), stored("raw")],
        facts=at(code="code-2"),
        then=[],
    ),
    case(
        "unless its task needs inputs it was not made from",
        spec=SPEC,
        given=[declared(), stored("raw"), stored("features"), stored("stats"), stored("report")],
        facts=at(code="code-2"),
        then=[
            "produce features v2 (inputs changed) from raw v1",
            "produce stats v2 (inputs changed) from raw v1",
        ],
    ),
    case(
        "a task that needs one more data set is produced again",
        spec=STATS_OF_BOTH,
        given=all_made(SPEC),
        facts=at(),
        then=["declare stats", "produce stats v2 (inputs changed) from raw v1, features v1"],
    ),
    case(
        "a rebuild that was asked for produces a new version though nothing changed",
        spec=SPEC,
        given=[*ALL_MADE, happened(RebuildRequested(at=NOW, project="p", dataset="raw"))],
        facts=at(),
        then=["produce raw v2 (rebuild requested)"],
        after={"raw": "running v1"},
    ),
]

FAILURES = [
    case(
        "a failed input fails its dependants, and theirs, without running them",
        spec=SPEC,
        given=[declared(), failed("raw", reason="exited with code 3")],
        facts=at(),
        then=[
            "fail features: input raw failed: exited with code 3",
            "fail stats: input raw failed: exited with code 3",
            "fail report: input features failed: input raw failed: exited with code 3",
        ],
        after={"features": "failed", "stats": "failed", "report": "failed"},
    ),
    case(
        "a dependant is failed once for the same reason",
        spec=SPEC,
        given=[declared(), failed("raw", reason="exited with code 3"), passed(at())],
        facts=at(),
        then=[],
    ),
    case(
        "a blocked input fails its dependants",
        spec=SPEC,
        given=[declared(), happened(raw_blocked())],
        facts=at(),
        then=[
            "fail features: input raw is blocked: needs 1Gi",
            "fail stats: input raw is blocked: needs 1Gi",
            "fail report: input features failed: input raw is blocked: needs 1Gi",
            "produce raw v1 (retry after blocked)",
            "alert blocked:p/raw (critical)",
            "deliver alert blocked:p/raw",
        ],
    ),
    case(
        "dependants wait while their failed input is tried again",
        spec=SPEC,
        given=[declared(), failed("raw", retry_at=NOW - timedelta(seconds=1))],
        facts=at(),
        then=["produce raw v1 (retry after failure, attempt 2)"],
    ),
    case(
        "data sets failed for their input are produced once it is ready",
        spec=SPEC,
        given=[declared(), failed("raw"), passed(at()), made("raw")],
        facts=at(),
        then=[
            "produce features v1 (retry after an input failed) from raw v1",
            "produce stats v1 (retry after an input failed) from raw v1",
        ],
        after={"report": "failed"},
    ),
]

SIZED = load_text(
    """
projectname: p
dataSets:
  - name: raw
    path: raw
    size: 1Gi
    task: {executor: !custom {command: fetch}}
  - name: features
    path: features
    task: {executor: !custom {command: featurize}, dataSets: [raw]}
  - name: big
    path: big
    size: 2Gi
    task: {executor: !custom {command: big}}
"""
)
ROOM = Facts(now=NOW, free_slots=SLOTS, code_digest=CODE, capacity_bytes=2 * GiB)
BIG_BLOCKED = [
    "block big (needs 2Gi, 1Gi free, 0 reclaimable)",
    "alert blocked:p/big (critical)",
    "deliver alert blocked:p/big",
]

EVICTION = [
    case(
        "an input in use by a producing run is not evicted to make room",
        spec=SIZED,
        given=[declared(), made("raw", size_bytes=GiB), running("features")],
        facts=Facts(
            now=NOW,
            free_slots=SLOTS,
            code_digest=CODE,
            capacity_bytes=2 * GiB,
            running_runs=frozenset({"features-1"}),
        ),
        then=BIG_BLOCKED,
        after={"raw": "ready v1 in use by features"},
    ),
    case(
        "an input that a due data set needs is not evicted for another",
        spec=SIZED,
        given=[declared(), made("raw", size_bytes=GiB)],
        facts=ROOM,
        then=[
            BIG_BLOCKED[0],
            "produce features v1 (new, budget 1Gi) from raw v1",
            *BIG_BLOCKED[1:],
        ],
    ),
    case(
        "without a dependant due, the input is evicted as any unused data set",
        spec=SIZED,
        given=[declared(), made("raw", size_bytes=GiB), made("features")],
        facts=ROOM,
        then=[
            "evict features v1 (10)",
            "evict raw v1 (1Gi)",
            "produce big v1 (new, budget 2Gi)",
            "alert low_space (warning)",
            "alert evictions:p:2026-06-01T12:00:00.000Z (info)",
            "deliver alert evictions:p:2026-06-01T12:00:00.000Z",
            "deliver alert low_space",
        ],
    ),
    case(
        "an evicted input is produced again when a dependant needs it",
        spec=SPEC,
        given=[
            *ALL_MADE,
            evicted("raw"),
            happened(RebuildRequested(at=NOW, project="p", dataset="features")),
        ],
        facts=at(),
        then=["produce raw v2 (needed by data set features)"],
    ),
    case(
        "an evicted input that nothing needs stays evicted",
        spec=SPEC,
        given=[*ALL_MADE, evicted("raw")],
        facts=at(),
        then=[],
    ),
]

CONSUMERS = [
    case(
        "a consumer starts with the ready version of the last stage",
        spec=SPEC,
        given=[*ALL_MADE, requested("train", "r")],
        facts=at(),
        then=["start task train for r with report v1"],
    ),
    case(
        "a consumer waits while a data set upstream of what it needs is produced again",
        spec=REFETCHED,
        given=[*ALL_MADE, requested("train", "r"), running("raw", 2, spec=REFETCHED)],
        facts=at(running=frozenset({"raw-2"})),
        then=[],
    ),
]

VERSIONS = [
    case(
        "after three failed attempts the next one still makes version 1",
        spec=SPEC,
        given=[
            declared(),
            *(
                failed("raw", version=1, attempt=n, retry_at=NOW - timedelta(seconds=1))
                for n in (1, 2, 3)
            ),
        ],
        facts=at(),
        then=[
            "produce raw v1 (retry after failure, attempt 4)",
            "alert failed:p/raw (critical)",
            "deliver alert failed:p/raw",
        ],
    ),
    case(
        "the version stored after failures is version 1",
        spec=SPEC,
        given=[
            declared(),
            *(failed("raw", version=1, attempt=n) for n in (1, 2, 3)),
            running("raw", 1, attempt=4),
            finished("raw", 1, content="raw-1", code=CODE),
        ],
        facts=at(),
        then=["produce features v1 (new) from raw v1", "produce stats v1 (new) from raw v1"],
        after={"raw": "ready v1 in use by features, stats"},
    ),
]


@pytest.mark.parametrize("row", ORDER + IDENTITY + FAILURES + EVICTION + CONSUMERS + VERSIONS)
def test_pipelines(row: Case) -> None:
    check(row)
