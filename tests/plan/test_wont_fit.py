"""`wont_fit:<project>/<name>`: a warning when the last versions' growth says the next one
will not fit in what is free, with the numbers and a suggested `size:`. Planner cases, and
the row's size history through the fold and the state store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from amed.plan.alerts import RaiseAlert
from amed.plan.capacity import Growth, growth_of
from amed.plan.decide import decide
from amed.plan.facts import Facts
from state.db import StateStore
from tests.plan.test_capacity import sizes
from tests.plan.world import (
    NOW,
    Case,
    MiB,
    Step,
    World,
    build,
    case,
    check,
    deleted,
    evicted,
    stored,
)

KEY = "wont_fit:p/a"


def grew(*mib: int, name: str = "a", spec: str | None = None) -> list[Step]:
    """Versions 1, 2, … of `name` stored one after the other with these sizes, each older
    version deleted once superseded, as the daemon does."""
    project = sizes(a=spec)
    steps: list[Step] = []
    for n, size in enumerate(mib, start=1):
        at = NOW - timedelta(hours=len(mib) - n + 1)
        steps.append(stored(name, version=n, size_bytes=size * MiB, at=at, spec=project))
        if n > 1:
            steps.append(_deleted(name, n - 1, at))
    return steps


def _deleted(name: str, version: int, at: datetime) -> Step:
    def step(world: World) -> None:
        world.events.append(deleted("p", name, version, at, "superseded"))

    return step


def mib_free(capacity_mib: int) -> Facts:
    return Facts(now=NOW, capacity_bytes=capacity_mib * MiB)


@pytest.mark.parametrize(
    "row",
    [
        case(
            "a data set whose versions grew warns when the next will not fit in what is free",
            spec=sizes(a=None),
            given=grew(100, 200, 300),
            facts=mib_free(600),  # 300 held, 300 free; the next: about 400
            then=["alert wont_fit:p/a (warning)", "deliver alert wont_fit:p/a"],
        ),
        case(
            "no warning while the next version fits",
            spec=sizes(a=None),
            given=grew(100, 200, 300),
            facts=mib_free(800),
            then=[],
        ),
        case(
            "one version tells no trend",
            spec=sizes(a=None),
            given=grew(300),
            facts=mib_free(380),  # 80 free
            then=[],
        ),
        case(
            "versions that shrank on the whole tell no growth",
            spec=sizes(a=None),
            given=grew(300, 400, 250),
            facts=mib_free(300),
            then=[],
        ),
        case(
            "a declared size that holds the forecast is left to placement",
            spec=sizes(a="500Mi"),
            given=grew(100, 200, 300, spec="500Mi"),
            facts=mib_free(600),
            then=[],
        ),
        case(
            "a declared size smaller than the forecast warns too",
            spec=sizes(a="350Mi"),
            given=grew(100, 200, 300, spec="350Mi"),
            facts=mib_free(600),
            then=["alert wont_fit:p/a (warning)", "deliver alert wont_fit:p/a"],
        ),
        case(
            "an evicted data set is not forecast to grow: it comes back as it was",
            spec=sizes(a=None),
            given=[*grew(100, 200, 300), evicted("a", 3)],
            facts=mib_free(350),  # nothing held: 350 free, the next: about 400
            then=[],
        ),
        case(
            "without a known capacity nothing is forecast to fail",
            spec=sizes(a=None),
            given=grew(100, 200, 300),
            facts=Facts(now=NOW),
            then=[],
        ),
    ],
)
def test_wont_fit(row: Case) -> None:
    check(row)


def test_the_warning_gives_the_sizes_the_forecast_what_is_free_and_a_size_to_declare() -> None:
    world = build(sizes(a=None), grew(100, 200, 300))
    actions = decide(world.spec, world.observed(), mib_free(600))
    raised = [a.event for a in actions if isinstance(a, RaiseAlert)]
    assert len(raised) == 1
    alert = raised[0]
    assert alert.key == KEY and alert.severity == "warning" and alert.resolvable
    assert "(400.0 MiB expected, 300.0 MiB free)" in alert.title, alert.title
    assert "grew by about 100.0 MiB a version" in alert.body
    assert "held 100.0 MiB, 200.0 MiB and 300.0 MiB" in alert.body
    assert "Declare `size: 500Mi` in ame.yaml" in alert.body


def test_the_warning_is_told_once_and_resolves_when_space_frees_up() -> None:
    world = build(sizes(a=None), grew(100, 200, 300))
    tight, later = mib_free(600), Facts(now=NOW + timedelta(days=2), capacity_bytes=600 * MiB)
    world.record(decide(world.spec, world.observed(), tight), NOW)
    assert decide(world.spec, world.observed(), later) == []  # not repeated while it holds
    roomy = Facts(now=NOW + timedelta(days=2), capacity_bytes=2000 * MiB)
    told = [type(a).__name__ for a in decide(world.spec, world.observed(), roomy)]
    assert told == ["ClearAlert", "Deliver"]


def test_the_growth_forecast_is_a_line_through_the_first_and_last_kept_sizes() -> None:
    assert growth_of([]) is None and growth_of([5]) is None
    assert growth_of([10, 10]) is None
    assert growth_of([10, 20, 40]) == Growth((10, 20, 40), 15, 55)
    assert growth_of([10, 11]) == Growth((10, 11), 1, 12)


def test_the_state_keeps_the_last_four_sizes_through_evictions(tmp_path: Path) -> None:
    world = build(sizes(a=None), [*grew(1, 2, 3, 4, 5), evicted("a", 5)])
    with StateStore(tmp_path / "state.db") as store:
        store.append(world.events)
        row = store.dataset("p", "a")
    assert row is not None and row.status == "evicted"
    assert row.stored_sizes == tuple(n * MiB for n in (2, 3, 4, 5))
