"""`/metrics`: what the state database says, in Prometheus' text exposition format (0.0.4).

Gauges come from the projection tables; counters are counts of event types in the log. The
log is append-only, so those counts never go down and survive restarts of the daemon, as
Prometheus expects of a `_total`. A value that is not known (the capacity of a remote store
without a budget) is left out rather than reported as 0.

Written by hand rather than with prometheus_client: on 10,000 data sets (90,000 samples,
6 MB) this text takes about 35 ms to build, the same series through prometheus_client's
`generate_latest` about 550 ms. Tests parse the text with prometheus_client's parser, so the
format is still checked by the reference implementation.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from amed.plan.capacity import Usage, usage_from
from state.heartbeat import DaemonRow
from state.read import DatasetState, StateReader
from state.rows import STATUSES, ChannelRow

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Producing runs last from seconds (a download) to many hours (a simulation).
RUN_SECONDS_BOUNDS: tuple[float, ...] = (1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400)

# Statuses a data set can show on its own series: `removed` ones are gone from ame.yaml, and
# a series per removed data set would grow without end.
_LIVE_STATUSES = tuple(s for s in STATUSES if s != "removed")


@dataclass(frozen=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float
    suffix: str = ""  # a histogram's `_bucket`, `_sum` and `_count`


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "gauge", "counter" or "histogram"
    help: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class RunSeconds:
    """`cumulative[i]` runs took at most `RUN_SECONDS_BOUNDS[i]` seconds."""

    cumulative: Sequence[int] = field(default_factory=lambda: [0] * len(RUN_SECONDS_BOUNDS))
    count: int = 0
    total_seconds: float = 0.0


@dataclass(frozen=True)
class Detail:
    """What the per-data-set, per-channel and daemon series are read from. `datasets` may
    hold removed ones: they are left out of the per-data-set series."""

    datasets: Sequence[DatasetState] = ()
    channels: Sequence[ChannelRow] = ()
    daemon: DaemonRow | None = None
    run_seconds: RunSeconds = field(default_factory=RunSeconds)


def metrics_text(
    *,
    status_counts: Mapping[str, int],
    usage: Usage,
    event_counts: Mapping[str, int],
    alerts_firing: int,
    detail: Detail | None = None,
) -> str:
    """The exposition: `status_counts` per data set status (removed ones included, under
    `removed`), `event_counts` per event type (`StateReader.event_counts`)."""
    metrics = collect(status_counts, usage, event_counts, alerts_firing)
    return render(metrics) + render_detail(detail or Detail())


def scrape(reader: StateReader, *, capacity_bytes: int | None, disk_free_bytes: int | None) -> str:
    """The whole exposition, from one reader. Every number is summed or counted by SQLite,
    none added up from the full tables loaded as rows: at 10,000 data sets, loading them to
    sum the bytes held was ~300 ms of a ~380 ms scrape (bench/metrics_scrape.py)."""
    datasets = reader.dataset_states()
    held, reserved = reader.usage_bytes()
    cumulative, count, total = reader.run_seconds_histogram(RUN_SECONDS_BOUNDS)
    usage = usage_from(
        held, reserved, capacity_bytes=capacity_bytes, disk_free_bytes=disk_free_bytes
    )
    return metrics_text(
        status_counts=Counter(d.status for d in datasets),
        usage=usage,
        event_counts=reader.event_counts(),
        alerts_firing=reader.alerts_firing(),
        detail=Detail(
            datasets=datasets,
            channels=reader.channels(),
            daemon=reader.daemon(),
            run_seconds=RunSeconds(cumulative, count, total),
        ),
    )


@cache
def amed_version() -> str:
    """Looked up once: reading the installed package's metadata on every scrape is wasted."""
    try:
        return version("amed")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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


def collect_detail(detail: Detail) -> list[Metric]:
    """The series beyond the totals, except the per-data-set ones (`render_detail` writes
    those straight to text: at 10,000 data sets a `Sample` each would cost more than the
    rest of the scrape)."""
    metrics = [
        Metric(
            "amed_build_info",
            "gauge",
            "amed's version; always 1.",
            (Sample((("version", amed_version()),), 1),),
        )
    ]
    beat = detail.daemon
    if beat is not None and beat.pass_ok is not None:
        metrics.append(
            Metric(
                "amed_last_pass_ok",
                "gauge",
                "1 when the daemon's last pass went through, 0 when it failed.",
                (Sample((), int(beat.pass_ok)),),
            )
        )
    if beat is not None and beat.pass_ok and beat.pass_at is not None:
        metrics.append(
            Metric(
                "amed_last_successful_pass_timestamp_seconds",
                "gauge",
                "When the daemon's last successful pass ran (Unix time); absent while"
                " the last pass failed, as the daemon keeps only its last pass.",
                (Sample((), _unix(beat.pass_at)),),
            )
        )
    runs = detail.run_seconds
    buckets = tuple(
        Sample((("le", repr(float(bound))),), n, "_bucket")
        for bound, n in zip(RUN_SECONDS_BOUNDS, runs.cumulative, strict=True)
    )
    metrics.append(
        Metric(
            "amed_run_seconds",
            "histogram",
            "How long producing runs that exited 0 took, task only (not the upload), over"
            " the whole event log.",
            (
                *buckets,
                Sample((("le", "+Inf"),), runs.count, "_bucket"),
                Sample((), runs.total_seconds, "_sum"),
                Sample((), runs.count, "_count"),
            ),
        )
    )
    channels = sorted(detail.channels, key=lambda c: c.channel)
    metrics += [
        Metric(
            "amed_alert_channel_failures",
            "gauge",
            "Deliveries an alert channel has refused in a row (0 once it takes one again).",
            tuple(Sample((("channel", c.channel),), c.failures) for c in channels),
        ),
        Metric(
            "amed_alert_channel_healthy",
            "gauge",
            "1 while an alert channel delivers, 0 once it has failed too often in a row.",
            tuple(Sample((("channel", c.channel),), int(c.healthy)) for c in channels),
        ),
    ]
    return metrics


def render_detail(detail: Detail) -> str:
    live = [d for d in detail.datasets if d.status != "removed"]
    lines = [render(collect_detail(detail)).rstrip("\n")]
    lines.append(
        "# HELP amed_dataset_size_bytes Bytes of a data set's current version in the object"
        " store; absent while it has none."
    )
    lines.append("# TYPE amed_dataset_size_bytes gauge")
    for d in live:
        if d.size_bytes is not None:
            lines.append(
                f'amed_dataset_size_bytes{{project="{_escape(d.project)}",'
                f'dataset="{_escape(d.name)}"}} {d.size_bytes}'
            )
    lines.append("# HELP amed_dataset_status 1 for a data set's current status, 0 for the others.")
    lines.append("# TYPE amed_dataset_status gauge")
    for d in live:
        names = f'project="{_escape(d.project)}",dataset="{_escape(d.name)}"'
        prefix = f'amed_dataset_status{{{names},status="'
        lines.extend(f'{prefix}{s}"}} {1 if s == d.status else 0}' for s in _LIVE_STATUSES)
    return "\n".join(lines) + "\n"


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for sample in metric.samples:
            lines.append(
                f"{metric.name}{sample.suffix}{_labels(sample.labels)} {_number(sample.value)}"
            )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return repr(float(value))


def _unix(at: datetime) -> float:
    return round(at.timestamp(), 3)


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
