"""The lineage graph as inline SVG: data sets, the tasks that make and use them, and the edges.

Edges run input data set → producing task → data set → consuming task. Nodes are laid
out in columns by their longest path from a source (a cycle, which the spec refuses, is
cut rather than followed), ordered in each column by where their predecessors sit, so
that most edges run straight. Every node is a link to its page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from amed.web.html import dataset_href, esc, task_href
from state.rows import DatasetRow, TaskRow

COLUMN_WIDTH, ROW_HEIGHT = 210, 40
NODE_WIDTH, NODE_HEIGHT = 160, 28
MARGIN = 10
LABEL_CHARS = 22

_STATUS_FILL = {
    "ready": "#d8f0e0",
    "failed": "#fbdcd8",
    "blocked": "#fbdcd8",
    "running": "#dbe8fb",
    "uploading": "#dbe8fb",
    "evicted": "#efe3f7",
}

Key = tuple[str, str, str]  # ("dataset" | "task", project, name)


@dataclass
class Graph:
    nodes: dict[Key, str] = field(default_factory=dict)  # key -> status ("" for tasks)
    edges: set[tuple[Key, Key]] = field(default_factory=set)

    def add_edge(self, source: Key, target: Key) -> None:
        for key in (source, target):
            self.nodes.setdefault(key, "")
        self.edges.add((source, target))


def build(datasets: Sequence[DatasetRow], tasks: Sequence[TaskRow]) -> Graph:
    """The graph of `datasets` (removed ones left out) and the consuming `tasks` that need
    any of them."""
    graph = Graph()
    shown = {(d.project, d.name) for d in datasets if d.status != "removed"}
    for row in datasets:
        if row.status == "removed":
            continue
        node: Key = ("dataset", row.project, row.name)
        graph.nodes[node] = row.status
        maker: Key = ("task", row.project, row.task)
        graph.add_edge(maker, node)
        for name in row.inputs:
            graph.add_edge(("dataset", row.project, name), maker)
    for task in tasks:
        needed = [n for n in task.data_sets if (task.project, n) in shown]
        for name in needed:
            graph.add_edge(("dataset", task.project, name), ("task", task.project, task.name))
    return graph


def _layers(graph: Graph) -> dict[Key, int]:
    preds: dict[Key, list[Key]] = {k: [] for k in graph.nodes}
    for source, target in graph.edges:
        preds[target].append(source)
    layer: dict[Key, int] = {}
    for start in sorted(graph.nodes):
        stack: list[tuple[Key, bool]] = [(start, False)]
        on_path: set[Key] = set()
        while stack:
            key, done = stack.pop()
            if done:
                on_path.discard(key)
                layer[key] = 1 + max((layer.get(p, -1) for p in preds[key]), default=-1)
                continue
            if key in layer or key in on_path:
                continue
            on_path.add(key)
            stack.append((key, True))
            stack.extend((p, False) for p in preds[key] if p not in layer and p not in on_path)
    return layer


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def lineage_svg(graph: Graph, *, focus: Key | None = None, svg_id: str = "lineage") -> str:
    """The graph drawn in columns; `focus` (a data set's own page) is outlined."""
    if not graph.nodes:
        return f'<p class="muted" id="{esc(svg_id)}">No data set recorded yet.</p>'
    layer = _layers(graph)
    columns: dict[int, list[Key]] = {}
    for key in sorted(graph.nodes, key=lambda k: (k[1], k[2], k[0])):
        columns.setdefault(layer[key], []).append(key)
    row_of: dict[Key, int] = {}
    preds: dict[Key, list[Key]] = {k: [] for k in graph.nodes}
    for source, target in graph.edges:
        preds[target].append(source)
    for index in sorted(columns):
        keys = columns[index]
        first_seen = {key: float(i) for i, key in enumerate(keys)}
        weights = {
            key: (sum(placed) / len(placed) if placed else first_seen[key])
            for key in keys
            for placed in ([row_of[p] for p in preds[key] if p in row_of],)
        }
        keys.sort(key=weights.__getitem__)
        for row, key in enumerate(keys):
            row_of[key] = row

    def origin(key: Key) -> tuple[float, float]:
        return MARGIN + layer[key] * COLUMN_WIDTH, MARGIN + row_of[key] * ROW_HEIGHT

    width = MARGIN * 2 + (max(columns) + 1) * COLUMN_WIDTH - (COLUMN_WIDTH - NODE_WIDTH)
    height = MARGIN * 2 + max(len(c) for c in columns.values()) * ROW_HEIGHT
    body = [
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z" fill="#8a94a3"/></marker></defs>'
    ]
    for source, target in sorted(graph.edges):
        (x1, y1), (x2, y2) = origin(source), origin(target)
        x1, y1, y2 = x1 + NODE_WIDTH, y1 + NODE_HEIGHT / 2, y2 + NODE_HEIGHT / 2
        middle = (x1 + x2) / 2
        body.append(
            f'<path class="edge" d="M{x1:.0f},{y1:.0f}C{middle:.0f},{y1:.0f} {middle:.0f},'
            f'{y2:.0f} {x2:.0f},{y2:.0f}" fill="none" stroke="#8a94a3" '
            'marker-end="url(#arrow)"/>'
        )
    for key, status in sorted(graph.nodes.items()):
        kind, project, name = key
        x, y = origin(key)
        href = dataset_href(project, name) if kind == "dataset" else task_href(project, name)
        fill = _STATUS_FILL.get(status, "#eef0f3") if kind == "dataset" else "#1d2430"
        colour = "#1d2430" if kind == "dataset" else "#ffffff"
        stroke = ' stroke="#1f5fbf" stroke-width="3"' if key == focus else ' stroke="#c5cbd3"'
        radius = 4 if kind == "dataset" else 14
        tip = f"{kind} {project}/{name}" + (f" ({status})" if status else "")
        body.append(
            f'<a class="node {kind}" href="{esc(href)}"><title>{esc(tip)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
            f'rx="{radius}" fill="{fill}"{stroke}/>'
            f'<text x="{x + NODE_WIDTH / 2:.0f}" y="{y + NODE_HEIGHT / 2 + 4:.0f}" '
            f'text-anchor="middle" fill="{colour}">{esc(_label(name))}</text></a>'
        )
    return (
        f'<div class="scroll"><svg class="graph" id="{esc(svg_id)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="lineage: {len(graph.nodes)} nodes, {len(graph.edges)} edges" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg></div>'
    )


def neighbourhood(row: DatasetRow, others: Sequence[DatasetRow], tasks: Sequence[TaskRow]) -> Graph:
    """A data set with its inputs, its dependants and the tasks that make or use them."""
    names = {row.name, *row.inputs}
    names |= {o.name for o in others if o.project == row.project and row.name in o.inputs}
    near = [o for o in others if o.project == row.project and o.name in names]
    if all(o.name != row.name for o in near):
        near.append(row)
    users = [t for t in tasks if t.project == row.project and row.name in t.data_sets]
    return build(near, users)
