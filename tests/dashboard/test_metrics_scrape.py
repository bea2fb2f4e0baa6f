"""`/metrics` from SQL sums: the bytes held and reserved are summed by SQLite, not added up
from the full tables, and the exposition is the same as the one built from the full tables,
line for line, and parses with prometheus_client's parser."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from amed.plan.capacity import usage_of
from amed.web.metrics import RUN_SECONDS_BOUNDS, Detail, RunSeconds, metrics_text, scrape
from state.db import StateStore
from state.read import StateReader
from tests.plan.test_capacity import sizes
from tests.plan.world import MiB, build, evicted, running, stored

SPEC = sizes(a="10Mi", b=None, c="30Mi", d="5Mi")


def state(tmp_path: Path) -> StateReader:
    """a: v1 and v2 both stored (v1 not deleted yet); b: ready; c: running with its declared
    size reserved; d: evicted."""
    world = build(
        SPEC,
        [
            stored("a", 1, 3 * MiB),
            stored("a", 2, 4 * MiB),
            stored("b", 1, 7 * MiB),
            running("c"),
            stored("d", 1, 1 * MiB),
            evicted("d"),
        ],
    )
    with StateStore.in_dir(tmp_path) as store:
        store.append(world.events)
    return StateReader.in_dir(tmp_path)


def full_tables_text(reader: StateReader, capacity: int | None, disk: int | None) -> str:
    """The exposition as it was built before: usage added up from the full tables."""
    datasets = reader.dataset_states()
    cumulative, count, total = reader.run_seconds_histogram(RUN_SECONDS_BOUNDS)
    return metrics_text(
        status_counts=Counter(d.status for d in datasets),
        usage=usage_of(reader.observed(), capacity_bytes=capacity, disk_free_bytes=disk),
        event_counts=reader.event_counts(),
        alerts_firing=sum(1 for a in reader.alerts() if a.firing),
        detail=Detail(
            datasets=datasets,
            channels=reader.channels(),
            daemon=reader.daemon(),
            run_seconds=RunSeconds(cumulative, count, total),
        ),
    )


def test_sql_sums_give_what_the_full_tables_give(tmp_path: Path) -> None:
    reader = state(tmp_path)
    try:
        observed = reader.observed()
        usage = usage_of(observed, capacity_bytes=None, disk_free_bytes=None)
        assert reader.usage_bytes() == (usage.held_bytes, usage.reserved_bytes)
        assert reader.usage_bytes() == (14 * MiB, 30 * MiB)
        assert reader.alerts_firing() == sum(1 for a in reader.alerts() if a.firing)
    finally:
        reader.close()


def test_the_scrape_is_the_full_tables_exposition_line_for_line(tmp_path: Path) -> None:
    reader = state(tmp_path)
    try:
        for capacity, disk in ((100 * MiB, None), (None, 50 * MiB), (None, None)):
            text = scrape(reader, capacity_bytes=capacity, disk_free_bytes=disk)
            assert text == full_tables_text(reader, capacity, disk)
        text = scrape(reader, capacity_bytes=100 * MiB, disk_free_bytes=None)
    finally:
        reader.close()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("amed_stored_bytes", ())] == 14 * MiB
    assert found[("amed_used_bytes", ())] == 44 * MiB
    assert found[("amed_free_bytes", ())] == 56 * MiB
    assert found[("amed_dataset_size_bytes", (("dataset", "a"), ("project", "p")))] == 4 * MiB
    status = ("amed_dataset_status", (("dataset", "c"), ("project", "p"), ("status", "running")))
    assert found[status] == 1


def test_a_state_dir_without_a_database_scrapes_to_zeros(tmp_path: Path) -> None:
    reader = StateReader.in_dir(tmp_path)
    assert reader.usage_bytes() == (0, 0) and reader.alerts_firing() == 0
    text = scrape(reader, capacity_bytes=None, disk_free_bytes=None)
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {"amed_stored_bytes", "amed_used_bytes", "amed_datasets"} <= families
