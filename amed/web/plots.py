"""Plots drawn from the event log as inline SVG: no library, no script, no outside asset.

Three kinds answer "since when" and "how fast": the bytes held over time against the
capacity and the watermarks, each data set's size per version, and runs as a timeline
(when each began, how long it took, how it ended). Every point is an SVG element of its own
with a `<title>` (a browser shows it on hover) and, for runs, a link to the run's page; a
plot has exactly one point per fact it was given, so what it shows can be counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from amed.web.html import clock, esc, run_href
from spec import format_bytes
from state.history import RunRecord, StorageChange, StoredSize
from state.timefmt import parse_time

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 24
"""The plot area's margins in the viewBox: labels of the value axis go on the left."""


@dataclass(frozen=True)
class Levels:
    """Where the lines across the storage plot go, as percents of the capacity; a level
    not known (None) is not drawn."""

    high_percent: float | None = None
    low_percent: float | None = None
    warn_percent: float | None = None


NO_LEVELS = Levels()


class _Frame:
    """Maps times and values into the plot area."""

    def __init__(self, t0: float, t1: float, top_value: float) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1.0)
        self.top_value = max(top_value, 1.0)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - value / self.top_value * (HEIGHT - TOP - BOTTOM)


def _svg(plot_id: str, label: str, body: str) -> str:
    return (
        f'<svg class="plot" id="{esc(plot_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{esc(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="#c5cbd3"/>{body}</svg>'
    )


def _time_axis(frame: _Frame) -> str:
    start, end = (datetime.fromtimestamp(t).astimezone() for t in (frame.t0, frame.t1))
    y = HEIGHT - 6
    return (
        f'<text x="{LEFT}" y="{y}">{esc(clock(start))}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{y}" text-anchor="end">{esc(clock(end))}</text>'
    )


def _level(frame: _Frame, value: float, text: str, colour: str, slot: int) -> str:
    """A dashed line across the plot, labelled inside it; `slot` staggers the labels of
    levels that lie close together."""
    y = frame.y(value)
    x = WIDTH - RIGHT - 4 - slot * 110
    return (
        f'<line class="level" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
        f'stroke="{colour}" stroke-dasharray="5 4"/>'
        f'<text x="{x}" y="{y - 3:.1f}" text-anchor="end" style="fill:{colour}">{esc(text)}'
        "</text>"
    )


def storage_plot(
    baseline_bytes: int,
    changes: Sequence[StorageChange],
    *,
    capacity_bytes: int | None,
    levels: Levels,
    now: datetime,
) -> str:
    """Bytes held after each change (one point each), as a step line up to `now`."""
    if not changes:
        text = (
            f"{format_bytes(baseline_bytes)} held; no version stored or deleted lately."
            if baseline_bytes
            else "Nothing stored yet."
        )
        return f'<p class="muted small" id="storage-plot">{esc(text)}</p>'
    held = baseline_bytes
    points: list[tuple[float, int, StorageChange]] = []
    for change in changes:
        held += change.delta_bytes
        points.append((parse_time(change.at).timestamp(), held, change))
    top = max([p[1] for p in points] + [capacity_bytes or 0])
    frame = _Frame(points[0][0], max(now.timestamp(), points[-1][0]), top * 1.05)
    path = [f"M{frame.x(points[0][0]):.1f},{frame.y(baseline_bytes):.1f}"]
    for t, value, _ in points:
        path.append(f"H{frame.x(t):.1f}V{frame.y(value):.1f}")
    path.append(f"H{frame.x(frame.t1):.1f}")
    body = [_time_axis(frame)]
    if capacity_bytes:
        shown = [(100.0, "capacity", "#1d2430")] + [
            (percent, f"{name} {percent:g}%", colour)
            for percent, name, colour in (
                (levels.high_percent, "evict above", "#c0392b"),
                (levels.warn_percent, "warn above", "#c98a00"),
                (levels.low_percent, "evict down to", "#2f7d4f"),
            )
            if percent is not None
        ]
        for slot, (percent, name, colour) in enumerate(shown):
            body.append(_level(frame, capacity_bytes * percent / 100, name, colour, slot))
    body.append(
        f'<text x="{LEFT - 4}" y="{frame.y(0) + 4:.1f}" text-anchor="end">0</text>'
        f'<path d="{"".join(path)}" fill="none" stroke="#1f5fbf" stroke-width="2"/>'
    )
    for t, value, change in points:
        verb = "stored" if change.delta_bytes >= 0 else "deleted"
        tip = (
            f"{change.at}: {change.project}/{change.dataset} v{change.version} {verb} "
            f"({format_bytes(abs(change.delta_bytes))}); {format_bytes(value)} held"
        )
        body.append(
            f'<circle class="pt" cx="{frame.x(t):.1f}" cy="{frame.y(value):.1f}" r="3" '
            f'fill="#1f5fbf"><title>{esc(tip)}</title></circle>'
        )
    label = f"bytes held over time, {len(points)} changes; {format_bytes(held)} held now"
    return _svg("storage-plot", label, "".join(body))


def version_sizes_plot(sizes: Sequence[StoredSize]) -> str:
    """One bar per stored version, its height the version's bytes."""
    if not sizes:
        return '<p class="muted small" id="sizes-plot">No version stored yet.</p>'
    top = max(s.size_bytes for s in sizes) * 1.1
    frame = _Frame(0, len(sizes), top)
    slot = (WIDTH - LEFT - RIGHT) / len(sizes)
    body = [
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{esc(format_bytes(int(top)))}</text>'
    ]
    for i, size in enumerate(sizes):
        x, y = frame.x(i) + slot * 0.15, frame.y(size.size_bytes)
        tip = f"version {size.version}: {format_bytes(size.size_bytes)}, stored {size.at}"
        body.append(
            f'<rect class="pt" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{frame.y(0) - y:.1f}" fill="#2f7d4f"><title>{esc(tip)}</title></rect>'
        )
        if len(sizes) <= 30:
            body.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
                f"v{size.version}</text>"
            )
    return _svg("sizes-plot", f"size of each of {len(sizes)} versions", "".join(body))


_OUTCOME_COLOURS = {True: "#2f7d4f", False: "#c0392b", None: "#1f5fbf"}


def run_seconds(run: RunRecord, now: datetime) -> float | None:
    """How long the run took, or has taken so far; None if it never started. The one
    duration rule of the plots and the tables."""
    if run.started_at is None:
        return None
    end = parse_time(run.ended_at) if run.ended_at else now
    return max((end - parse_time(run.started_at)).total_seconds(), 0.0)


def runs_plot(
    runs: Sequence[RunRecord], now: datetime, *, project: str = "", plot_id: str = "runs-plot"
) -> str:
    """A timeline of runs: when each began (x), how long it took (y), how it ended
    (colour: green succeeded, red failed, blue still running). Runs that never started
    (a consumer's request whose data set failed) are left out."""
    timed = [(r, s) for r in runs if (s := run_seconds(r, now)) is not None and r.started_at]
    if not timed:
        return f'<p class="muted small" id="{esc(plot_id)}">No run yet.</p>'
    starts = [parse_time(r.started_at or "").timestamp() for r, _ in timed]
    top = max(s for _, s in timed) * 1.1
    ends = [start + seconds for start, (_, seconds) in zip(starts, timed, strict=True)]
    frame = _Frame(min(starts), max(ends), top)
    body = [
        _time_axis(frame),
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top:.1f} s</text>',
        f'<text x="{LEFT - 4}" y="{frame.y(0) + 4:.1f}" text-anchor="end">0 s</text>',
    ]
    for (run, seconds), start in zip(timed, starts, strict=True):
        outcome = {True: "succeeded", False: "failed", None: "running"}[run.ok]
        tip = f"{run.run_id}: {outcome} after {seconds:.1f} s, began {run.started_at}"
        if run.reason and run.ok is False:
            tip += f": {run.reason.splitlines()[0] if run.reason.strip() else run.reason}"
        dot = (
            f'<circle class="pt" cx="{frame.x(start):.1f}" cy="{frame.y(seconds):.1f}" r="4" '
            f'fill="{_OUTCOME_COLOURS[run.ok]}"><title>{esc(tip)}</title></circle>'
        )
        if run.run_id:
            href = run_href(run.run_id, run.project or project or None, run.dataset)
            dot = f'<a href="{esc(href)}">{dot}</a>'
        body.append(dot)
    return _svg(plot_id, f"{len(timed)} runs: start and duration", "".join(body))


LEGEND = (
    '<div class="legend small"><span><i style="background:#2f7d4f"></i>succeeded</span>'
    '<span><i style="background:#c0392b"></i>failed</span>'
    '<span><i style="background:#1f5fbf"></i>running</span></div>'
)
