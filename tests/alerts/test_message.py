"""What an alert says, written from the rows at send time: counts, errors and next tries as
they are now, resolved notices that say what resolved them, labels and links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amed.alerts.message import render
from amed.alerts.seen import Seen
from amed.alerts.subject import Subject, subject_of
from amed.alerts.words import duration, when
from amed.plan.capacity import Usage
from amed.plan.conditions import conditions
from amed.plan.facts import Facts
from spec import load_text
from state.events import DatasetEvicted
from state.rows import AlertRow, DatasetRow, TaskRow

NOW = datetime(2026, 3, 2, 14, 2, 0, tzinfo=UTC)
RAISED = NOW - timedelta(minutes=5)


def alert(key: str, severity: str = "critical", title: str = "amed: t") -> AlertRow:
    return AlertRow(
        key=key,
        severity=severity,
        title=title,
        body="b",
        resolvable=True,
        firing=True,
        raised_at=RAISED,
        last_raised_at=RAISED,
        updated_at=RAISED,
        pending="alert",
    )


def dataset(**fields: object) -> DatasetRow:
    values: dict[str, object] = {
        "project": "demo",
        "name": "big",
        "status": "failed",
        "path": "big",
        "task": "make_big",
        "spec_hash": "h",
        "declared_size_bytes": None,
        "updated_at": NOW,
    }
    values.update(fields)
    return DatasetRow(**values)  # type: ignore[arg-type]


def task(**fields: object) -> TaskRow:
    values: dict[str, object] = {
        "project": "demo",
        "name": "train",
        "status": "failed",
        "declared_at": RAISED,
        "updated_at": NOW,
    }
    values.update(fields)
    return TaskRow(**values)  # type: ignore[arg-type]


def seen(key: str, **fields: object) -> Seen:
    values: dict[str, object] = {
        "now": NOW,
        "host": "gpu-3",
        "alert": alert(key),
        "subject": subject_of(key),
    }
    values.update(fields)
    return Seen(**values)  # type: ignore[arg-type]


def test_a_failing_data_set_says_the_current_count_last_error_and_next_try() -> None:
    row = dataset(
        attempts=9,
        error="task exited with 1\nTraceback …\nValueError: bad row 12",
        retry_at=NOW + timedelta(minutes=2),
    )
    message = render("alert", seen("failed:demo/big", dataset=row))
    assert message.title == "amed@gpu-3: data set big failed 9 times"
    assert "has failed 9 times in a row" in message.body
    assert "Last error:\ntask exited with 1\nTraceback …\nValueError: bad row 12" in message.body
    assert "Next try: at 14:04:00 UTC (in 2 min)" in message.body
    assert "Alert raised at 13:57:00 UTC (5 min ago)." in message.body


@pytest.mark.parametrize(
    ("retry_in", "status", "said"),
    [
        (timedelta(minutes=-3), "failed", "Next try: due now (it was due at 13:59:00 UTC)"),
        (None, "failed", "Next try: none scheduled"),
        (None, "running", "Next try: running now"),
    ],
    ids=["a next try already past is due now", "no retry", "a retry is running"],
)
def test_the_next_try_is_told_as_it_stands_when_sent(
    retry_in: timedelta | None, status: str, said: str
) -> None:
    row = dataset(attempts=3, status=status, retry_at=NOW + retry_in if retry_in else None)
    assert said in render("alert", seen("failed:demo/big", dataset=row)).body


@pytest.mark.parametrize(("count", "words"), [(1, "once"), (2, "twice"), (3, "3 times")])
def test_counts_read_as_words(count: int, words: str) -> None:
    row = dataset(attempts=count, error="x")
    assert render("alert", seen("failed:demo/big", dataset=row)).title.endswith(words)


def test_every_message_carries_host_project_subject_severity_key_and_link() -> None:
    row = dataset(attempts=3, error="x")
    message = render(
        "alert",
        seen("failed:demo/big", dataset=row, dashboard_url="http://127.0.0.1:8321"),
    )
    assert dict(message.labels) == {
        "host": "gpu-3",
        "project": "demo",
        "data set": "big",
        "severity": "critical",
        "key": "failed:demo/big",
    }
    assert message.link == "http://127.0.0.1:8321/datasets/demo/big"
    footer = message.body.split("\n--\n")[1].splitlines()
    assert footer == [
        "host: gpu-3",
        "project: demo",
        "data set: big",
        "severity: critical",
        "key: failed:demo/big",
        "dashboard: http://127.0.0.1:8321/datasets/demo/big",
    ]


def test_without_a_dashboard_there_is_no_link() -> None:
    message = render("alert", seen("low_space", alert=alert("low_space", "warning")))
    assert message.link is None and "dashboard:" not in message.body
    assert dict(message.labels) == {"host": "gpu-3", "severity": "warning", "key": "low_space"}


def test_a_link_quotes_names_and_a_key_without_a_data_set_links_the_overview() -> None:
    odd = render("alert", seen("blocked:my proj/a/b", dashboard_url="https://x.org"))
    assert odd.link == "https://x.org/datasets/my%20proj/a%2Fb"
    assert render("alert", seen("store_unreachable", dashboard_url="https://x.org")).link == (
        "https://x.org/"
    )


def test_resolved_says_which_version_fixed_it_when_and_how_long_it_fired() -> None:
    stored = NOW - timedelta(seconds=30)
    row = dataset(status="ready", version=3, produced_at=stored)
    message = render(
        "resolved",
        seen(
            "failed:demo/big",
            alert=alert("failed:demo/big", title="amed: data set big failed 3 times"),
            dataset=row,
            cleared_at=NOW,
        ),
    )
    assert message.title == "RESOLVED: amed@gpu-3: data set big is ready again"
    lines = message.body.splitlines()
    assert lines[0] == (
        "What resolved it: version 3 stored at 14:01:30 UTC, 4 min after the alert was raised."
    )
    assert lines[1] == "Resolved at 14:02:00 UTC; the alert fired for 5 min, since 13:57:00 UTC."
    assert "It was: data set big failed 3 times" in message.body
    assert "key: failed:demo/big" in message.body


def test_resolved_for_a_task_names_the_run_that_succeeded() -> None:
    row = task(status="succeeded", finished_at=NOW, last_run_id="r-42")
    message = render("resolved", seen("task_failed:demo/train", task=row, cleared_at=NOW))
    assert message.title == "RESOLVED: amed@gpu-3: task train succeeded"
    assert message.body.startswith(
        "What resolved it: run r-42 succeeded at 14:02:00 UTC, 5 min after the alert was raised."
    )
    assert dict(message.labels)["task"] == "train"


@pytest.mark.parametrize(
    ("key", "cause"),
    [
        ("low_space", "storage use fell back below the warning level"),
        ("store_unreachable", "the object store answers again"),
        ("spec_invalid:demo", "ame.yaml loads again"),
        ("something_new", "the condition no longer holds"),
    ],
)
def test_resolved_without_a_data_set_says_what_stopped_holding(key: str, cause: str) -> None:
    message = render("resolved", seen(key, alert=alert(key, title="amed: it"), cleared_at=NOW))
    assert message.body.startswith(f"What resolved it: {cause}.")
    assert message.title == "RESOLVED: amed@gpu-3: it"


def test_a_failing_task_says_its_streak_error_and_next_scheduled_run() -> None:
    row = task(
        failures=6,
        failures_in_row=4,
        error="exit 1: CUDA out of memory",
        finished_at=NOW - timedelta(seconds=20),
        last_run_id="r-7",
    )
    message = render(
        "alert",
        seen(
            "task_failed:demo/train",
            task=row,
            task_next_run=NOW + timedelta(hours=1),
        ),
    )
    assert message.title == "amed@gpu-3: task train failed 4 times"
    assert "Last error:\nexit 1: CUDA out of memory" in message.body
    assert "Next run: at 15:02 UTC (in 1 h, on its schedule)" in message.body
    assert "the last time at 14:01:40 UTC (run r-7)" in message.body


@pytest.mark.parametrize(
    ("key", "subject"),
    [
        ("failed:demo/big", Subject("failed", "demo", dataset="big")),
        ("blocked:demo/big", Subject("blocked", "demo", dataset="big")),
        ("oversize:demo/big:v3", Subject("oversize", "demo", dataset="big")),
        ("wont_fit:demo/big", Subject("wont_fit", "demo", dataset="big")),
        ("task_failed:demo/train", Subject("task_failed", "demo", task="train")),
        ("spec_invalid:demo", Subject("spec_invalid", "demo")),
        ("evictions:demo:2026-03-02T14:02:00.000Z", Subject("evictions", "demo")),
        ("low_space", Subject("low_space")),
    ],
)
def test_keys_name_their_subject(key: str, subject: Subject) -> None:
    assert subject_of(key) == subject


def test_the_keys_the_planner_makes_parse_back_to_their_data_set() -> None:
    desired = load_text(
        "projectname: demo\ndataSets:\n"
        "  - name: big\n    path: big\n    size: 1Ki\n"
        "    task:\n      executor: !custom\n        command: 'true'\n"
    )
    rows = {
        ("demo", "big"): dataset(
            attempts=3,
            status="ready",
            version=2,
            size_bytes=4096,
            declared_size_bytes=1024,
            stored_sizes=(2048, 4096),
        )
    }
    evicted = DatasetEvicted(
        at=NOW, project="demo", dataset="big", version=1, bytes_freed=1, reason="r"
    )
    usage = Usage(capacity_bytes=5000, held_bytes=0, reserved_bytes=0)
    found = conditions(desired, rows, [], [evicted], usage, Facts(now=NOW))
    keys = {c.key: subject_of(c.key) for c in found}
    assert keys["oversize:demo/big:v2"] == Subject("oversize", "demo", dataset="big")
    assert keys["wont_fit:demo/big"] == Subject("wont_fit", "demo", dataset="big")
    evictions = next(k for k in keys if k.startswith("evictions:"))
    assert keys[evictions].project == "demo"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (300, "5 min"),
        (3600, "1 h"),
        (7800, "2 h 10 min"),
        (86400, "1 day"),
        (3 * 86400 + 4 * 3600, "3 days 4 h"),
    ],
)
def test_durations_read_in_two_units(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_a_time_on_another_day_gives_its_date() -> None:
    assert when(NOW - timedelta(days=1), NOW) == "on 2026-03-01 at 14:02 UTC"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        (
            {"status": "ready", "version": 4, "produced_at": NOW - timedelta(minutes=1)},
            "What resolved it: version 4 was stored at 14:01:00 UTC, and what its versions' "
            "growth forecasts for the next one fits in what is free.",
        ),
        (
            {"status": "ready", "version": 3, "produced_at": RAISED - timedelta(hours=1)},
            "What resolved it: what its versions' growth forecasts for the next one fits now",
        ),
        ({"status": "deleting"}, "What resolved it: big is no longer declared in ame.yaml."),
        ({"status": "evicted"}, "What resolved it: big was evicted to free space;"),
    ],
    ids=["a version stored", "space freed", "no longer declared", "evicted"],
)
def test_a_growing_data_set_resolved_says_why_it_has_room(
    row: dict[str, object], said: str
) -> None:
    message = render("resolved", seen("wont_fit:demo/big", dataset=dataset(**row)))
    assert said in message.body, message.body
    assert message.labels["data set"] == "big"


def test_resolved_while_still_failing_says_it_is_no_longer_watched_not_fixed() -> None:
    """A project renamed in ame.yaml: the old project's alerts end, its data set as it was."""
    message = render(
        "resolved", seen("failed:demo/big", dataset=dataset(status="failed"), cleared_at=NOW)
    )
    assert message.title == "RESOLVED: amed@gpu-3: data set big is no longer watched"
    first = message.body.splitlines()[0]
    assert first.startswith("What resolved it: big is still failed, but no longer alerted on")
    assert "no longer declares it" in first
    row = task(status="failed", failures_in_row=4)
    message = render("resolved", seen("task_failed:demo/train", task=row, cleared_at=NOW))
    assert message.title == "RESOLVED: amed@gpu-3: task train is no longer watched"
    assert "task train is still failing" in message.body
