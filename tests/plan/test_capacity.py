"""Planning space: produce what fits, evict least-recently-used unused data for what fits
only that way, block what cannot fit without evicting anything, and alert about it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert
from amed.plan.decide import Block, Evict, Facts, Policy, Produce, decide
from spec import Project, load_text
from state.db import Tables
from state.events import (
    AlertCleared,
    AlertDelivered,
    AlertRaised,
    DatasetDeclared,
    Event,
    RunFailed,
    RunStarted,
    TaskDeclared,
    VersionStored,
)
from state.observed import Observed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GiB = 2**30


def spec(sizes: dict[str, str | None]) -> Project:
    lines = ["projectname: p", "tasks:", "  - name: make", "    executor: !custom {command: make}"]
    lines.append("dataSets:")
    for name, size in sizes.items():
        lines += [f"  - name: {name}", f"    path: {name}", "    task: {taskRef: make}"]
        if size:
            lines.append(f"    size: {size}")
    return load_text("\n".join(lines) + "\n")


class World:
    """Builds an event log the way the daemon writes it."""

    def __init__(self, desired: Project) -> None:
        self.desired = desired
        self.events: list[Event] = [
            TaskDeclared(at=NOW - timedelta(days=1), project="p", task=t.name)
            for t in desired.tasks
        ]

    def declare(self, name: str, t: datetime = NOW) -> None:
        ds = self.desired.data_set(name)
        assert ds is not None
        self.events.append(
            DatasetDeclared(
                at=t,
                project="p",
                dataset=name,
                spec_hash=ds.spec_hash,
                path=ds.path,
                task="make",
                declared_size_bytes=ds.size_bytes,
            )
        )

    def ready(self, name: str, size_bytes: int, used_minutes_ago: float, version: int = 1) -> None:
        t = NOW - timedelta(minutes=used_minutes_ago)
        ds = self.desired.data_set(name)
        assert ds is not None
        self.declare(name, t)
        run = f"{name}-{version}"
        self.events += [
            RunStarted(
                at=t,
                project="p",
                dataset=name,
                run_id=run,
                version=version,
                spec_hash=ds.spec_hash,
                task="make",
                attempt=1,
            ),
            VersionStored(
                at=t,
                project="p",
                dataset=name,
                run_id=run,
                version=version,
                spec_hash=ds.spec_hash,
                size_bytes=size_bytes,
                files=1,
                seconds=1,
            ),
        ]

    def observed(self) -> Observed:
        tables = Tables()
        for event in self.events:
            tables.fold(event)
        return tables.observed()


def kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions]


def produced(actions: list[object]) -> list[str]:
    return [a.data_set.name for a in actions if isinstance(a, Produce)]


def evicted(actions: list[object]) -> list[str]:
    return [a.event.dataset for a in actions if isinstance(a, Evict)]


def test_a_declared_size_that_fits_is_produced_with_the_free_space_as_its_budget() -> None:
    desired = spec({"new": "10Gi"})
    world = World(desired)
    world.declare("new")
    actions = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=100 * GiB))
    (produce,) = [a for a in actions if isinstance(a, Produce)]
    assert produce.budget_bytes == 100 * GiB
    assert evicted(actions) == []


def test_a_size_that_fits_only_after_evicting_evicts_the_two_least_recently_used() -> None:
    desired = spec({"a": None, "b": None, "c": None, "d": None, "new": "50Gi"})
    world = World(desired)
    world.ready("a", 20 * GiB, used_minutes_ago=30)
    world.ready("b", 20 * GiB, used_minutes_ago=50)  # oldest
    world.ready("c", 20 * GiB, used_minutes_ago=40)
    world.ready("d", 20 * GiB, used_minutes_ago=10)  # newest
    world.declare("new")
    facts = Facts(now=NOW, capacity_bytes=100 * GiB, free_slots=2)
    actions = decide(desired, world.observed(), facts)
    assert evicted(actions) == ["b", "c"]
    assert produced(actions) == ["new"]
    assert kinds(actions).index("Evict") < kinds(actions).index("Produce")
    (evict,) = [a for a in actions if isinstance(a, Evict) and a.event.dataset == "b"]
    assert evict.event.bytes_freed == 20 * GiB and "to make room for new" in evict.event.reason
    summary = [
        a for a in actions if isinstance(a, RaiseAlert) and a.event.key.startswith("evictions")
    ]
    assert len(summary) == 1 and "40.0 GiB freed" in summary[0].event.title


def test_a_size_that_cannot_fit_is_blocked_and_nothing_is_evicted() -> None:
    desired = spec({"a": None, "huge": "500Gi"})
    world = World(desired)
    world.ready("a", 30 * GiB, used_minutes_ago=60)
    world.declare("huge")
    actions = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=100 * GiB))
    assert evicted(actions) == [] and produced(actions) == []
    (block,) = [a for a in actions if isinstance(a, Block)]
    assert (block.event.needed_bytes, block.event.free_bytes) == (500 * GiB, 70 * GiB)
    assert block.event.reclaimable_bytes == 30 * GiB
    assert "needs 500.0 GiB but only 70.0 GiB of 100.0 GiB is free" in block.event.reason
    alerts = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert [a.key for a in alerts] == ["blocked:p/huge"]
    assert alerts[0].severity == "critical" and "nothing was evicted" in alerts[0].body
    assert Deliver("blocked:p/huge", "alert") in actions


def test_a_blocked_data_set_is_not_blocked_again_but_starts_once_space_frees_up() -> None:
    desired = spec({"huge": "50Gi"})
    world = World(desired)
    world.declare("huge")
    first = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=10 * GiB))
    world.events += [a.event for a in first if isinstance(a, Block | RaiseAlert)]
    again = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=10 * GiB))
    assert [k for k in kinds(again) if k != "Deliver"] == []
    roomy = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=60 * GiB))
    assert produced(roomy) == ["huge"]


def test_data_in_use_is_never_evicted() -> None:
    desired = spec({"used": None, "free": None, "new": "50Gi"})
    world = World(desired)
    world.ready("used", 40 * GiB, used_minutes_ago=100)
    world.ready("free", 40 * GiB, used_minutes_ago=5)
    world.declare("new")
    facts = Facts(now=NOW, capacity_bytes=100 * GiB, in_use=frozenset({("p", "used")}))
    actions = decide(desired, world.observed(), facts)
    assert evicted(actions) == ["free"]


def test_the_data_set_being_produced_is_never_its_own_victim() -> None:
    old = spec({"big": "60Gi"})
    world = World(old)
    world.ready("big", 60 * GiB, used_minutes_ago=100)
    changed = load_text(
        old.file
        and "projectname: p\ntasks:\n  - name: make\n    executor: !custom {command: make v2}\n"
        "dataSets:\n  - name: big\n    path: big\n    size: 60Gi\n    task: {taskRef: make}\n"
    )
    actions = decide(changed, world.observed(), Facts(now=NOW, capacity_bytes=100 * GiB))
    assert evicted(actions) == [] and produced(actions) == []
    assert [a.event.dataset for a in actions if isinstance(a, Block)] == ["big"]


def test_ties_in_last_use_are_broken_by_name() -> None:
    desired = spec({"b": None, "a": None, "new": "15Gi"})
    world = World(desired)
    world.ready("b", 10 * GiB, used_minutes_ago=10)
    world.ready("a", 10 * GiB, used_minutes_ago=10)
    world.declare("new")
    actions = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=30 * GiB))
    assert evicted(actions) == ["a"]


def test_above_the_high_watermark_unused_data_is_evicted_down_to_the_low_one() -> None:
    desired = spec({"a": None, "b": None, "c": None, "d": None})
    world = World(desired)
    for minutes, name in enumerate("abcd"):
        world.ready(name, 23 * GiB, used_minutes_ago=100 - minutes)  # a is the oldest
    actions = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=100 * GiB))
    # 92 GiB held > 90 %: evict the oldest until at most 80 GiB are held.
    assert evicted(actions) == ["a"]
    reasons = {a.event.reason for a in actions if isinstance(a, Evict)}
    assert reasons == {"storage 92% full, above the 90% high watermark; evicting down to 80%"}


def test_without_a_capacity_the_disk_free_space_bounds_what_fits() -> None:
    desired = spec({"new": "10Gi"})
    world = World(desired)
    world.declare("new")
    actions = decide(desired, world.observed(), Facts(now=NOW, disk_free_bytes=5 * GiB))
    assert produced(actions) == [] and kinds(actions).count("Block") == 1


def test_an_undeclared_size_is_produced_with_the_free_space_as_its_budget() -> None:
    desired = spec({"free_form": None})
    world = World(desired)
    world.declare("free_form")
    actions = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=8 * GiB))
    (produce,) = [a for a in actions if isinstance(a, Produce)]
    assert produce.budget_bytes == 8 * GiB


def test_an_evicted_data_set_is_produced_again_only_when_wanted() -> None:
    desired = spec({"a": None})
    world = World(desired)
    world.ready("a", 1 * GiB, used_minutes_ago=5)
    from state.events import DatasetEvicted, VersionDeleted

    world.events += [
        DatasetEvicted(at=NOW, project="p", dataset="a", version=1, reason="x", bytes_freed=GiB),
        VersionDeleted(at=NOW, project="p", dataset="a", version=1, reason="evicted", objects=2),
    ]
    assert world.observed().datasets[("p", "a")].status == "evicted"
    assert decide(desired, world.observed(), Facts(now=NOW)) == []
    wanted = Facts(now=NOW, wanted=frozenset({("p", "a")}))
    actions = decide(desired, world.observed(), wanted)
    assert [(a.version, a.reason) for a in actions if isinstance(a, Produce)] == [(2, "wanted")]


def low_space_world() -> World:
    desired = spec({"a": None})
    world = World(desired)
    world.ready("a", 86 * GiB, used_minutes_ago=5)
    return world


def test_low_space_alerts_once_and_not_again_while_it_holds() -> None:
    world = low_space_world()
    facts = Facts(now=NOW, capacity_bytes=100 * GiB)
    first = decide(world.desired, world.observed(), facts)
    raised = [a.event for a in first if isinstance(a, RaiseAlert)]
    assert [a.key for a in raised] == ["low_space"]
    assert "86% full" in raised[0].title
    world.events += [
        *raised,
        AlertDelivered(
            at=NOW, project="p", key="low_space", notice="alert", channels=("json://h",)
        ),
    ]
    assert decide(world.desired, world.observed(), facts) == []
    later = Facts(now=NOW + timedelta(hours=24), capacity_bytes=100 * GiB)
    assert decide(world.desired, world.observed(), later) == []


def test_a_blocked_data_set_alert_repeats_after_the_repeat_interval() -> None:
    desired = spec({"huge": "50Gi"})
    world = World(desired)
    world.declare("huge")
    first = decide(desired, world.observed(), Facts(now=NOW, capacity_bytes=GiB))
    world.events += [a.event for a in first if isinstance(a, Block | RaiseAlert)]
    later = Facts(now=NOW + timedelta(hours=4), capacity_bytes=GiB)
    again = [
        a.event.key for a in decide(desired, world.observed(), later) if isinstance(a, RaiseAlert)
    ]
    assert again == ["blocked:p/huge"]


def test_a_retry_of_a_failing_producer_does_not_resolve_its_alert() -> None:
    world = failed_world(3)
    raised = [
        a.event
        for a in decide(world.desired, world.observed(), Facts(now=NOW))
        if isinstance(a, RaiseAlert)
    ]
    ds = world.desired.data_sets[0]
    world.events += [
        *raised,
        RunStarted(
            at=NOW,
            project="p",
            dataset="a",
            run_id="r4",
            version=4,
            spec_hash=ds.spec_hash,
            task="make",
            attempt=4,
        ),
    ]
    retrying = decide(
        world.desired, world.observed(), Facts(now=NOW, running_runs=frozenset({"r4"}))
    )
    assert [a for a in retrying if isinstance(a, ClearAlert)] == []


def test_a_cleared_condition_sends_one_resolved_notice() -> None:
    world = low_space_world()
    world.events += [
        AlertRaised(at=NOW, project="p", key="low_space", severity="warning", title="t", body="b"),
        AlertDelivered(at=NOW, project="p", key="low_space", notice="alert", channels=("x",)),
    ]
    roomy = Facts(now=NOW, capacity_bytes=1000 * GiB)
    actions = decide(world.desired, world.observed(), roomy)
    assert actions == [
        ClearAlert(AlertCleared(at=NOW, project="p", key="low_space")),
        Deliver("low_space", "resolved"),
    ]
    world.events += [
        AlertCleared(at=NOW, project="p", key="low_space"),
        AlertDelivered(at=NOW, project="p", key="low_space", notice="resolved", channels=("x",)),
    ]
    assert decide(world.desired, world.observed(), roomy) == []


def test_a_failed_delivery_is_retried_later_only_to_the_channel_that_refused_it() -> None:
    from state.events import AlertDeliveryFailed

    world = low_space_world()
    world.events += [
        AlertRaised(at=NOW, project="p", key="low_space", severity="warning", title="t", body="b"),
        AlertDelivered(at=NOW, project="p", key="low_space", notice="alert", channels=("ok",)),
        AlertDeliveryFailed(
            at=NOW, project="p", key="low_space", notice="alert", channel="bad", error="refused"
        ),
    ]
    facts = Facts(now=NOW, capacity_bytes=100 * GiB)
    assert decide(world.desired, world.observed(), facts) == []
    later = Facts(now=NOW + timedelta(minutes=1), capacity_bytes=100 * GiB)
    assert decide(world.desired, world.observed(), later) == [
        Deliver("low_space", "alert", ("bad",))
    ]


def failed_world(attempts: int, stage: str = "task") -> World:
    desired = spec({"a": None})
    world = World(desired)
    world.declare("a")
    ds = desired.data_sets[0]
    for n in range(1, attempts + 1):
        world.events += [
            RunStarted(
                at=NOW,
                project="p",
                dataset="a",
                run_id=f"r{n}",
                version=n,
                spec_hash=ds.spec_hash,
                task="make",
                attempt=n,
            ),
            RunFailed(
                at=NOW,
                project="p",
                dataset="a",
                run_id=f"r{n}",
                stage=stage,  # type: ignore[arg-type]
                reason="exited with code 1",
                retry_at=NOW + timedelta(hours=1),
            ),
        ]
    return world


def test_a_failing_producer_alerts_only_once_its_retries_are_spent() -> None:
    facts = Facts(now=NOW, policy=Policy(alert_after_failures=3))
    for attempts, expected in ((1, []), (2, []), (3, ["failed:p/a"])):
        world = failed_world(attempts)
        keys = [
            a.event.key
            for a in decide(world.desired, world.observed(), facts)
            if isinstance(a, RaiseAlert)
        ]
        assert keys == expected, attempts


def test_running_out_of_space_while_storing_alerts_at_once() -> None:
    world = failed_world(1, stage="space")
    actions = decide(world.desired, world.observed(), Facts(now=NOW))
    assert [a.event.key for a in actions if isinstance(a, RaiseAlert)] == ["failed:p/a"]


def test_a_version_larger_than_declared_warns_once_with_a_suggested_size() -> None:
    desired = spec({"a": "1Gi"})
    world = World(desired)
    world.ready("a", 3 * GiB, used_minutes_ago=1)
    actions = decide(desired, world.observed(), Facts(now=NOW))
    (raised,) = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert raised.key == "oversize:p/a:v1" and not raised.resolvable
    assert "2.0 GiB more than its declared size of 1.0 GiB" in raised.body
    assert "size: 4Gi" in raised.body
    world.events.append(raised)
    assert [
        k
        for k in kinds(decide(desired, world.observed(), Facts(now=NOW + timedelta(days=1))))
        if k == "RaiseAlert"
    ] == []


def test_an_unreachable_store_and_an_invalid_spec_alert() -> None:
    world = low_space_world()
    facts = Facts(now=NOW, store_error="connection refused", spec_error="ame.yaml:3:1: bad")
    keys = [
        a.event.key
        for a in decide(world.desired, world.observed(), facts)
        if isinstance(a, RaiseAlert)
    ]
    assert keys == ["store_unreachable", "spec_invalid:p"]
