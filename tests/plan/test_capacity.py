"""Planning space and alerts: produce what fits, evict least-recently-used unused data for
what fits only that way, block what cannot fit without evicting anything, and tell people
once, again only after the repeat interval, and when it is over."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from amed.plan.actions import Action, Block, Evict
from amed.plan.alerts import RaiseAlert
from amed.plan.decide import decide
from amed.plan.facts import Facts, Key, Policy
from spec import Project, load_text
from state.events import AlertDelivered, AlertDeliveryFailed, AlertRaised
from tests.plan.world import (
    NOW,
    Case,
    GiB,
    Step,
    build,
    case,
    check,
    declared,
    evicted,
    failed,
    failures,
    happened,
    passed,
    running,
    stored,
)


def sizes(command: str = "make", **declared_sizes: str | None) -> Project:
    """Data sets by name with their declared sizes (None: none declared), all made by the
    task `make`, which runs `command`."""
    lines = [
        "projectname: p",
        "tasks:",
        "  - name: make",
        f"    executor: !custom {{command: {command}}}",
    ]
    lines.append("dataSets:")
    for name, size in declared_sizes.items():
        lines += [f"  - name: {name}", f"    path: {name}", "    task: {taskRef: make}"]
        if size:
            lines.append(f"    size: {size}")
    return load_text("\n".join(lines) + "\n")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def capacity(gib: int, free_slots: int = 1, in_use: frozenset[Key] = frozenset()) -> Facts:
    return Facts(now=NOW, capacity_bytes=gib * GiB, free_slots=free_slots, in_use=in_use)


def ready(name: str, gib: int, used_minutes_ago: float) -> Step:
    """Stored, and last used, that long ago."""
    return stored(name, size_bytes=gib * GiB, at=ago(used_minutes_ago))


FOUR_AND_NEW = sizes(a=None, b=None, c=None, d=None, new="50Gi")
FOUR_OF_20_GIB = [
    ready("a", 20, used_minutes_ago=30),
    ready("b", 20, used_minutes_ago=50),  # the oldest
    ready("c", 20, used_minutes_ago=40),
    ready("d", 20, used_minutes_ago=10),  # the newest
    declared("new"),
]
"""80 GiB held in four data sets, and `new` declared: 50 GiB fit only after evicting two."""
A_AND_HUGE = sizes(a=None, huge="500Gi")
A_STORED_HUGE_DECLARED = [ready("a", 30, used_minutes_ago=60), declared("huge")]
FOUR_OF_23_GIB = [ready(n, 23, used_minutes_ago=100 - i) for i, n in enumerate("abcd")]
HUGE = sizes(huge="50Gi")
ONE = sizes(a=None)
LOW_ON_SPACE = [ready("a", 86, used_minutes_ago=5)]
"""86 GiB held: above the 85 % warning at 100 GiB, below the 90 % high watermark."""
REFUSED_BY_ONE = happened(
    AlertDelivered(at=NOW, project="p", key="low_space", notice="alert", channels=("ok",)),
    AlertDeliveryFailed(
        at=NOW, project="p", key="low_space", notice="alert", channel="bad", error="refused"
    ),
)
"""One channel took the low space alert, another refused it."""
LOW_SPACE_ALERTED = [
    *LOW_ON_SPACE,
    happened(
        AlertRaised(at=NOW, project="p", key="low_space", severity="warning", title="t", body="b")
    ),
]
"""Low on space, and alerted about it."""
LOW_SPACE_TOLD = [
    *LOW_SPACE_ALERTED,
    happened(AlertDelivered(at=NOW, project="p", key="low_space", notice="alert", channels=("x",))),
]
"""Low on space, and told."""

SPACE = [
    case(
        "a declared size that fits is produced with the free space as its budget",
        spec=sizes(new="10Gi"),
        given=[declared("new")],
        facts=capacity(100),
        then=["produce new v1 (new, budget 100Gi)"],
    ),
    case(
        "a size that fits only after evicting evicts the two least recently used first",
        spec=FOUR_AND_NEW,
        given=FOUR_OF_20_GIB,
        facts=capacity(100, free_slots=2),
        then=[
            "evict b v1 (20Gi)",
            "evict c v1 (20Gi)",
            "produce new v1 (new, budget 60Gi)",
            "alert low_space (warning)",
            "alert evictions:p:2026-06-01T12:00:00.000Z (info)",
            "deliver alert evictions:p:2026-06-01T12:00:00.000Z",
            "deliver alert low_space",
        ],
    ),
    case(
        "a size that cannot fit is blocked and nothing is evicted",
        spec=A_AND_HUGE,
        given=A_STORED_HUGE_DECLARED,
        facts=capacity(100),
        then=[
            "block huge (needs 500Gi, 70Gi free, 30Gi reclaimable)",
            "alert blocked:p/huge (critical)",
            "deliver alert blocked:p/huge",
        ],
    ),
    case(
        "a blocked data set is not blocked again while it does not fit",
        spec=HUGE,
        given=[declared("huge"), passed(capacity(10))],
        facts=capacity(10),
        then=[],
    ),
    case(
        "a blocked data set starts once space frees up",
        spec=HUGE,
        given=[declared("huge"), passed(capacity(10))],
        facts=capacity(60),
        then=["produce huge v1 (retry after blocked, budget 60Gi)"],
    ),
    case(
        "data in use is never evicted",
        spec=sizes(used=None, free=None, new="50Gi"),
        given=[
            ready("used", 40, used_minutes_ago=100),
            ready("free", 40, used_minutes_ago=5),
            declared("new"),
        ],
        facts=capacity(100, in_use=frozenset({("p", "used")})),
        then=[
            "evict free v1 (40Gi)",
            "produce new v1 (new, budget 60Gi)",
            "alert low_space (warning)",
            "alert evictions:p:2026-06-01T12:00:00.000Z (info)",
            "deliver alert evictions:p:2026-06-01T12:00:00.000Z",
            "deliver alert low_space",
        ],
    ),
    case(
        "the data set being produced is never its own victim",
        spec=sizes("make v2", big="60Gi"),
        given=[stored("big", size_bytes=60 * GiB, at=ago(100), spec=sizes(big="60Gi"))],
        facts=capacity(100),
        then=[
            "declare big (60Gi)",
            "block big (needs 60Gi, 40Gi free, 0 reclaimable)",
            "alert blocked:p/big (critical)",
            "deliver alert blocked:p/big",
        ],
    ),
    case(
        "ties in last use are broken by name",
        spec=sizes(b=None, a=None, new="15Gi"),
        given=[
            ready("b", 10, used_minutes_ago=10),
            ready("a", 10, used_minutes_ago=10),
            declared("new"),
        ],
        facts=capacity(30),
        then=[
            "evict a v1 (10Gi)",
            "produce new v1 (new, budget 20Gi)",
            "alert evictions:p:2026-06-01T12:00:00.000Z (info)",
            "deliver alert evictions:p:2026-06-01T12:00:00.000Z",
        ],
    ),
    case(
        "above the high watermark unused data is evicted down to the low one",
        spec=sizes(a=None, b=None, c=None, d=None),
        given=FOUR_OF_23_GIB,
        facts=capacity(100),
        then=[
            "evict a v1 (23Gi)",
            "alert evictions:p:2026-06-01T12:00:00.000Z (info)",
            "deliver alert evictions:p:2026-06-01T12:00:00.000Z",
        ],
    ),
    case(
        "without a capacity the disk's free space bounds what fits",
        spec=sizes(new="10Gi"),
        given=[declared("new")],
        facts=Facts(now=NOW, disk_free_bytes=5 * GiB),
        then=[
            "block new (needs 10Gi, 5Gi free, 0 reclaimable)",
            "alert blocked:p/new (critical)",
            "deliver alert blocked:p/new",
        ],
    ),
    case(
        "an undeclared size is produced with the free space as its budget",
        spec=sizes(free_form=None),
        given=[declared("free_form")],
        facts=capacity(8),
        then=["produce free_form v1 (new, budget 8Gi)"],
    ),
    case(
        "an evicted data set is not produced again until something wants it",
        spec=ONE,
        given=[ready("a", 1, used_minutes_ago=5), evicted("a")],
        then=[],
        after={"a": "evicted"},
    ),
    case(
        "an evicted data set is produced again when wanted",
        spec=ONE,
        given=[ready("a", 1, used_minutes_ago=5), evicted("a")],
        facts=Facts(now=NOW, wanted=frozenset({("p", "a")})),
        then=["produce a v2 (wanted)"],
    ),
]


@pytest.mark.parametrize("row", SPACE)
def test_space(row: Case) -> None:
    check(row)


ALERTS = [
    case(
        "low space alerts once",
        spec=ONE,
        given=LOW_ON_SPACE,
        facts=capacity(100),
        then=["alert low_space (warning)", "deliver alert low_space"],
    ),
    case(
        "low space does not alert again while it holds",
        spec=ONE,
        given=[*LOW_ON_SPACE, passed(capacity(100))],
        facts=capacity(100),
        then=[],
    ),
    case(
        "low space does not alert again a day later while it holds",
        spec=ONE,
        given=[*LOW_ON_SPACE, passed(capacity(100))],
        facts=Facts(now=NOW + timedelta(hours=24), capacity_bytes=100 * GiB),
        then=[],
    ),
    case(
        "a blocked data set's alert repeats after the repeat interval",
        spec=HUGE,
        given=[declared("huge"), passed(capacity(1))],
        facts=Facts(now=NOW + timedelta(hours=4), capacity_bytes=GiB),
        then=["alert blocked:p/huge (critical)", "deliver alert blocked:p/huge"],
    ),
    case(
        "a retry of a failing producer does not resolve its alert",
        spec=ONE,
        given=[*failures("a", 3), passed(), running("a", version=1, attempt=4)],
        facts=Facts(now=NOW, running_runs=frozenset({"a-1"})),
        then=[],
    ),
    case(
        "a cleared condition sends one resolved notice",
        spec=ONE,
        given=LOW_SPACE_TOLD,
        facts=capacity(1000),
        then=["clear alert low_space", "deliver resolved low_space"],
    ),
    case(
        "a sent resolved notice is not sent again",
        spec=ONE,
        given=[*LOW_SPACE_TOLD, passed(capacity(1000))],
        facts=capacity(1000),
        then=[],
    ),
    case(
        "a failed delivery is not retried at once",
        spec=ONE,
        given=[*LOW_SPACE_ALERTED, REFUSED_BY_ONE],
        facts=capacity(100),
        then=[],
    ),
    case(
        "a failed delivery is retried later only to the channel that refused it",
        spec=ONE,
        given=[*LOW_SPACE_ALERTED, REFUSED_BY_ONE],
        facts=Facts(now=NOW + timedelta(minutes=1), capacity_bytes=100 * GiB),
        then=["deliver alert low_space to bad"],
    ),
    case(
        "a failing producer does not alert after one failure",
        spec=ONE,
        given=failures("a", 1),
        facts=Facts(now=NOW, policy=Policy(alert_after_failures=3)),
        then=[],
    ),
    case(
        "a failing producer does not alert after two failures",
        spec=ONE,
        given=failures("a", 2),
        facts=Facts(now=NOW, policy=Policy(alert_after_failures=3)),
        then=[],
    ),
    case(
        "a failing producer alerts once its retries are spent",
        spec=ONE,
        given=failures("a", 3),
        facts=Facts(now=NOW, policy=Policy(alert_after_failures=3)),
        then=["alert failed:p/a (critical)", "deliver alert failed:p/a"],
    ),
    case(
        "running out of space while storing alerts at once",
        spec=ONE,
        given=[failed("a", stage="space")],
        then=["alert failed:p/a (critical)", "deliver alert failed:p/a"],
    ),
    case(
        "a version larger than declared warns",
        spec=sizes(a="1Gi"),
        given=[ready("a", 3, used_minutes_ago=1)],
        then=["alert oversize:p/a:v1 (warning)", "deliver alert oversize:p/a:v1"],
    ),
    case(
        "a version larger than declared warns only once",
        spec=sizes(a="1Gi"),
        given=[ready("a", 3, used_minutes_ago=1), passed()],
        facts=Facts(now=NOW + timedelta(days=1)),
        then=[],
    ),
    case(
        "an unreachable store and an invalid spec alert",
        spec=ONE,
        given=LOW_ON_SPACE,
        facts=Facts(now=NOW, store_error="connection refused", spec_error="ame.yaml:3:1: bad"),
        then=[
            "alert store_unreachable (critical)",
            "alert spec_invalid:p (critical)",
            "deliver alert spec_invalid:p",
            "deliver alert store_unreachable",
        ],
    ),
]


@pytest.mark.parametrize("row", ALERTS)
def test_alerts(row: Case) -> None:
    check(row)


def decided(spec: Project, given: list[Step], facts: Facts) -> list[Action]:
    return decide(spec, build(spec, given).observed(), facts)


def test_an_eviction_says_what_it_makes_room_for_and_the_summary_what_it_freed() -> None:
    actions = decided(FOUR_AND_NEW, FOUR_OF_20_GIB, capacity(100, free_slots=2))
    (evict, _) = [a.event for a in actions if isinstance(a, Evict)]
    assert evict.bytes_freed == 20 * GiB and "to make room for new" in evict.reason
    (summary,) = [
        a.event for a in actions if isinstance(a, RaiseAlert) and a.event.key.startswith("evict")
    ]
    assert "40.0 GiB freed" in summary.title


def test_a_block_says_what_is_missing_and_that_nothing_was_evicted() -> None:
    actions = decided(A_AND_HUGE, A_STORED_HUGE_DECLARED, capacity(100))
    (block,) = [a.event for a in actions if isinstance(a, Block)]
    assert "needs 500.0 GiB but only 70.0 GiB of 100.0 GiB is free" in block.reason
    (alert,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert "nothing was evicted" in alert.body


def test_watermark_evictions_say_how_full_the_storage_is() -> None:
    actions = decided(sizes(a=None, b=None, c=None, d=None), FOUR_OF_23_GIB, capacity(100))
    # 92 GiB held > 90 %: evict the oldest until at most 80 GiB are held.
    assert {a.event.reason for a in actions if isinstance(a, Evict)} == {
        "storage 92% full, above the 90% high watermark; evicting down to 80%"
    }


def test_the_low_space_alert_says_how_full_the_storage_is() -> None:
    actions = decided(ONE, LOW_ON_SPACE, capacity(100))
    (alert,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert "86% full" in alert.title


def test_the_oversize_warning_suggests_a_size_and_is_not_resolvable() -> None:
    actions = decided(sizes(a="1Gi"), [ready("a", 3, used_minutes_ago=1)], Facts(now=NOW))
    (alert,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert not alert.resolvable
    assert "2.0 GiB more than its declared size of 1.0 GiB" in alert.body
    assert "size: 4Gi" in alert.body
