"""The lineage page: a clickable graph dataset versions → steps → models → deployments."""

from __future__ import annotations

from typing import Any

from lockgate.registry.model_version import RegistryReader
from lockgate.store import Store
from lockgate.ui import charts
from lockgate.ui.html import chart, empty, esc, link, page, section, table
from lockgate.ui.lineage_graph import Edge, LineageGraph, Node, lineage_graph

COLORS = {"dataset": "#2e9d4f", "run": "#2f6fd6", "artifact": "#c9a227",
          "deployment": "#d23c2f"}


def render(store: Store, *, run_id: str | None, artifact_id: int | None,
           dataset_version_id: int | None) -> str:
    """The graph around one focus, or a picker of recent runs with lineage."""
    if run_id is None and artifact_id is None and dataset_version_id is None:
        return page("Lineage", _picker(store), active="/pipelines")
    graph = lineage_graph(store, run_id=run_id, artifact_id=artifact_id,
                          dataset_version_id=dataset_version_id, extra=add_deployments)
    focus = graph.nodes[graph.focus]
    if not graph.edges:
        nothing = empty(f"{focus.label} has no recorded inputs or outputs.",
                        "Runs record lineage with <code>run.consumed(...)</code> and "
                        "<code>run.produced(...)</code>; pipelines and training do it for "
                        "you.")
        return page(f"Lineage of {focus.label}", nothing, active="/pipelines")
    body = [
        "<p class='muted'>Click a node to open it. Columns run left to right from data to "
        "deployments.</p>",
        chart(graph_figure(graph), ident="lineage-graph", height=460),
        section("Nodes", _nodes(graph)),
        section("Edges", _edges(graph)),
    ]
    if graph.truncated:
        body.insert(0, "<p class='banner warning'>The graph was cut at 200 nodes.</p>")
    return page(f"Lineage of {focus.label}", "".join(body), active="/pipelines")


def graph_figure(graph: LineageGraph) -> dict[str, Any]:
    """Nodes placed in columns by depth; edges as lines; customdata carries each URL."""
    layers = graph.layers()
    columns: dict[int, list[str]] = {}
    for key in sorted(graph.nodes, key=lambda k: (graph.nodes[k].kind, graph.nodes[k].label)):
        columns.setdefault(layers.get(key, 0), []).append(key)
    position = {key: (float(x), -float(i) + (len(keys) - 1) / 2)
                for x, keys in columns.items() for i, key in enumerate(keys)}
    ex: list[float | None] = []
    ey: list[float | None] = []
    for edge in graph.edges:
        (x0, y0), (x1, y1) = position[edge.source], position[edge.target]
        ex += [x0, x1, None]
        ey += [y0, y1, None]
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines", "x": ex, "y": ey,
                                   "hoverinfo": "skip", "showlegend": False,
                                   "line": {"color": "#9aa5b8", "width": 1.5}}]
    for kind, color in COLORS.items():
        keys = [k for k, n in graph.nodes.items() if n.kind == kind]
        if not keys:
            continue
        nodes = [graph.nodes[k] for k in keys]
        data.append({
            "type": "scatter", "mode": "markers+text", "name": kind,
            "x": [position[k][0] for k in keys], "y": [position[k][1] for k in keys],
            "text": [n.label for n in nodes], "textposition": "top center",
            "hovertext": [f"{n.label}<br>{n.detail}" for n in nodes], "hoverinfo": "text",
            "customdata": [n.href for n in nodes],
            "marker": {"size": [22 if k == graph.focus else 14 for k in keys], "color": color,
                       "symbol": "square" if kind in ("dataset", "artifact") else "circle"},
        })
    return {"data": data, "layout": charts.layout(
        "Lineage", xaxis={"visible": False}, yaxis={"visible": False},
        hovermode="closest", legend={"orientation": "h"})}


def add_deployments(store: Store, graph: LineageGraph) -> None:
    """The registry versions built by the graph's runs or packaging its artifacts."""
    runs = [k.split(":", 1)[1] for k, n in graph.nodes.items() if n.kind == "run"]
    shas = [k.split(":", 1)[1] for k, n in graph.nodes.items() if n.kind == "artifact"]
    for mv in RegistryReader(store).versions_from(runs, shas):
        key = f"deployment:{mv.ref}"
        graph.nodes[key] = Node(key, "deployment", mv.ref, f"/models/{mv.name}/{mv.version}",
                                mv.stage)
        sha = mv.package_sha256  # the content of the package artifact it registered
        source = f"artifact:{sha}" if f"artifact:{sha}" in graph.nodes else f"run:{mv.run_id}"
        if source in graph.nodes:
            graph.edges.append(Edge(source, key, "registered"))


def _nodes(graph: LineageGraph) -> str:
    rows = [[esc(n.kind), link(n.href, n.label), esc(n.detail)]
            for n in sorted(graph.nodes.values(), key=lambda n: (n.kind, n.label))]
    return table(["kind", "node", "detail"], rows, ident="lineage-nodes")


def _edges(graph: LineageGraph) -> str:
    rows = [[link(graph.nodes[e.source].href, graph.nodes[e.source].label), esc(e.label),
             link(graph.nodes[e.target].href, graph.nodes[e.target].label)]
            for e in graph.edges]
    return table(["from", "as", "to"], rows, ident="lineage-edges")


def _picker(store: Store) -> str:
    runs = store.runs_with_lineage(limit=30)
    if not runs:
        return empty("No lineage recorded yet.", "Runs record what they read and wrote; "
                     "start with <code>lockgate quickstart</code>.")
    rows = [[link(f"/lineage?run={run.id}", run.name), esc(run.kind), esc(run.experiment)]
            for run in runs]
    return "<p>Pick a run to draw its lineage.</p>" + table(["run", "kind", "experiment"], rows)
