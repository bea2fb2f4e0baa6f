"""`task_failed:<project>/<task>`: a consumer task that failed `alerts.after_failures` times
in a row alerts, stays firing through the runs that follow, and resolves when one
succeeds. The planner's side (pure) and the fold that counts the streak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from amed.plan.alerts import ClearAlert, Deliver, RaiseAlert, alert_actions
from amed.plan.capacity import Usage
from amed.plan.conditions import conditions
from amed.plan.facts import Facts, Policy
from spec import Project, load_text
from state.events import AlertDelivered, AlertRaised, TaskDeclared, TaskFinished, TaskRequested
from state.fold import apply_task
from state.fold_alerts import apply_alert
from state.rows import AlertRow, TaskRow

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
KEY = "task_failed:demo/train"
SPEC = """
projectname: demo
tasks:
  - name: train
    executor: !custom
      command: python train.py
dataSets: []
"""


def desired() -> Project:
    return load_text(SPEC)


def task_after(*oks: bool) -> TaskRow:
    """The task's row after a run for each of `oks`, in order."""
    row = apply_task(None, TaskDeclared(at=NOW, project="demo", task="train", data_sets=()))
    for n, ok in enumerate(oks):
        at = NOW + timedelta(minutes=n)
        row = apply_task(
            row,
            TaskRequested(at=at, project="demo", task="train", request_id=f"q{n}", reason="manual"),
        )
        row = apply_task(
            row,
            TaskFinished(
                at=at,
                project="demo",
                task="train",
                request_id=f"q{n}",
                ok=ok,
                run_id=f"r{n}",
                reason=None if ok else "exited with code 1\nCUDA out of memory",
            ),
        )
    assert row is not None
    return row


def found(row: TaskRow, after_failures: int = 3) -> list[str]:
    facts = Facts(now=NOW, policy=Policy(alert_after_failures=after_failures))
    usage = Usage(capacity_bytes=None, held_bytes=0, reserved_bytes=0)
    tasks = {("demo", "train"): row}
    return [c.key for c in conditions(desired(), {}, [], [], usage, facts, None, tasks)]


@pytest.mark.parametrize(
    ("runs", "count"),
    [
        ((False, False, False), 3),
        ((False, True, False), 1),
        ((False, False, True), 0),
        ((True, False, False, False, False), 4),
    ],
    ids=["three failures", "a success between", "ends with a success", "after a success"],
)
def test_the_fold_counts_failures_since_the_last_success(
    runs: tuple[bool, ...], count: int
) -> None:
    assert task_after(*runs).failures_in_row == count


def test_a_task_alerts_after_the_configured_failures_in_a_row() -> None:
    assert found(task_after(False, False)) == []
    assert found(task_after(False, False, False)) == [KEY]
    assert found(task_after(False), after_failures=1) == [KEY]


def test_a_new_request_after_the_failures_is_not_a_recovery() -> None:
    row = task_after(False, False, False)
    waiting = apply_task(
        row,
        TaskRequested(at=NOW, project="demo", task="train", request_id="again", reason="manual"),
    )
    assert waiting is not None and waiting.status == "waiting"
    assert found(waiting) == [KEY]


def test_a_task_no_longer_declared_does_not_alert() -> None:
    row = task_after(False, False, False)
    usage = Usage(capacity_bytes=None, held_bytes=0, reserved_bytes=0)
    other = load_text("projectname: demo\ndataSets: []\n")
    tasks = {("demo", "train"): row}
    assert conditions(other, {}, [], [], usage, Facts(now=NOW), None, tasks) == []


def test_the_alert_resolves_when_a_run_succeeds() -> None:
    facts = Facts(now=NOW)
    usage = Usage(capacity_bytes=None, held_bytes=0, reserved_bytes=0)
    failing = {("demo", "train"): task_after(False, False, False)}
    found_now = conditions(desired(), {}, [], [], usage, facts, None, failing)
    planned = alert_actions("demo", found_now, {}, NOW, 3600)
    (raise_,) = [a for a in planned if isinstance(a, RaiseAlert)]
    assert raise_.event.title == "amed: task train is failing"
    assert "CUDA out of memory" in raise_.event.body
    row = alert_row(raise_.event)
    later = NOW + timedelta(minutes=5)
    ok = {("demo", "train"): task_after(False, False, False, True)}
    after = conditions(desired(), {}, [], [], usage, Facts(now=later), None, ok)
    actions = alert_actions("demo", after, {KEY: row}, later, 3600)
    assert [type(a) for a in actions] == [ClearAlert, Deliver]
    assert actions[1] == Deliver(KEY, "resolved", cleared_at=later)


def alert_row(raised: AlertRaised) -> AlertRow:
    row = apply_alert(None, raised)
    delivered = AlertDelivered(
        at=raised.at, project="demo", key=raised.key, notice="alert", channels=("json://x/…",)
    )
    row = apply_alert(row, delivered)
    assert row is not None
    return row
