"""`/metrics`: what the state database says, in Prometheus' text exposition format (0.0.4).

Gauges come from the projection tables; counters are counts of event types in the log. The
log is append-only, so those counts never go down and survive restarts of the daemon, as
Prometheus expects of a `_total`. A value that is not known (the capacity of a remote store
without a budget) is left out rather than reported as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from amed.plan.capacity import Usage
from state.rows import STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: int


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "gauge" or "counter"
    help: str
    samples: tuple[Sample, ...]


def metrics_text(
    *,
    status_counts: Mapping[str, int],
    usage: Usage,
    event_counts: Mapping[str, int],
    alerts_firing: int,
) -> str:
    """The exposition: `status_counts` per data set status (removed ones included, under
    `removed`), `event_counts` per event type (`StateReader.event_counts`)."""
    return render(collect(status_counts, usage, event_counts, alerts_firing))


def collect(
    status_counts: Mapping[str, int],
    usage: Usage,
    event_counts: Mapping[str, int],
    alerts_firing: int,
) -> list[Metric]:
    def one(value: int) -> tuple[Sample, ...]:
        return (Sample((), value),)

    def count(event_type: str) -> int:
        return event_counts.get(event_type, 0)

    metrics = [
        Metric(
            "amed_datasets",
            "gauge",
            "Data sets in each status.",
            tuple(Sample((("status", s),), status_counts.get(s, 0)) for s in STATUSES),
        ),
        Metric(
            "amed_stored_bytes",
            "gauge",
            "Bytes of the committed versions in the object store.",
            one(usage.held_bytes),
        ),
        Metric(
            "amed_used_bytes",
            "gauge",
            "Bytes stored plus the declared sizes of the data sets being produced.",
            one(usage.used_bytes),
        ),
    ]
    if usage.capacity_bytes is not None:
        metrics.append(
            Metric(
                "amed_capacity_bytes",
                "gauge",
                "amed's capacity in the object store.",
                one(usage.capacity_bytes),
            )
        )
    if usage.free_bytes is not None:
        metrics.append(
            Metric(
                "amed_free_bytes",
                "gauge",
                "Bytes amed may still use in the object store.",
                one(usage.free_bytes),
            )
        )
    metrics += [
        Metric(
            "amed_evictions_total",
            "counter",
            "Data sets evicted to free space.",
            one(count("dataset_evicted")),
        ),
        Metric("amed_runs_total", "counter", "Producing runs started.", one(count("run_started"))),
        Metric(
            "amed_run_failures_total",
            "counter",
            "Producing runs that ended without a stored version.",
            one(count("run_failed")),
        ),
        Metric(
            "amed_task_runs_total",
            "counter",
            "Runs of tasks that consume data sets.",
            one(count("task_started")),
        ),
        Metric(
            "amed_task_failures_total",
            "counter",
            "Task runs that failed, or never ran because a data set they need failed.",
            one(count("task_finished.failed")),
        ),
        Metric(
            "amed_alert_deliveries_total",
            "counter",
            "Alert deliveries, by result.",
            (
                Sample((("result", "ok"),), count("alert_delivered")),
                Sample((("result", "failed"),), count("alert_delivery_failed")),
            ),
        ),
        Metric(
            "amed_alerts_firing", "gauge", "Alerts whose condition holds now.", one(alerts_firing)
        ),
    ]
    return metrics


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for sample in metric.samples:
            lines.append(f"{metric.name}{_labels(sample.labels)} {sample.value}")
    return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
