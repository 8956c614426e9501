"""The lineage graph around a run, an artifact or a dataset version, from the core
``lineage`` table: dataset versions → runs (steps) → artifacts (models) → runs...

Artifacts are keyed by content (sha256), so a model one run produced and another run
consumed is one node even when each logged its own artifact record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lockgate.errors import NotFoundError
from lockgate.store import LineageEdge, Store

MAX_NODES = 200
MAX_DEPTH = 6


@dataclass(frozen=True, slots=True)
class Node:
    """A graph node: ``kind`` is run, artifact, dataset or deployment."""

    key: str
    kind: str
    label: str
    href: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """A directed edge ``source -> target`` labelled by its role."""

    source: str
    target: str
    label: str


@dataclass(slots=True)
class LineageGraph:
    """Nodes and edges reachable from a focus node, upstream and downstream."""

    focus: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False

    def layers(self) -> dict[str, int]:
        """Column of each node: the longest path from any source (cycles cut)."""
        incoming: dict[str, list[str]] = {k: [] for k in self.nodes}
        for edge in self.edges:
            incoming.setdefault(edge.target, []).append(edge.source)
        depth: dict[str, int] = {}

        def visit(key: str, trail: frozenset[str]) -> int:
            if key in depth:
                return depth[key]
            parents = [p for p in incoming.get(key, []) if p not in trail]
            value = 0 if not parents else 1 + max(visit(p, trail | {key}) for p in parents)
            depth[key] = value
            return value

        for key in self.nodes:
            visit(key, frozenset())
        return depth


def lineage_graph(store: Store, *, run_id: str | None = None, artifact_id: int | None = None,
                  dataset_version_id: int | None = None,
                  extra: Callable[[Store, LineageGraph], None] | None = None) -> LineageGraph:
    """Walk the lineage table from one focus item in both directions.

    Args:
        extra: adds nodes the core does not know (e.g. registry deployments).

    Raises:
        NotFoundError: the focus does not exist; or no focus was given.
    """
    builder = _Builder(store)
    if run_id is not None:
        focus = builder.run_node(store.resolve_run_id(run_id))
        for child in store.list_runs(parent_id=focus.split(":", 1)[1], limit=None):
            builder.queue.append((builder.run_node(child.id), 0))
    elif artifact_id is not None:
        focus = builder.artifact_node(artifact_id)
    elif dataset_version_id is not None:
        focus = builder.dataset_node(dataset_version_id)
    else:
        raise NotFoundError("Give a run, an artifact or a dataset version to draw lineage for.")
    builder.queue.appendleft((focus, 0))
    builder.walk()
    graph = LineageGraph(focus=focus, nodes=builder.nodes, edges=sorted(
        builder.edges, key=lambda e: (e.source, e.target, e.label)),
        truncated=builder.truncated)
    if extra is not None:
        extra(store, graph)
    return graph


class _Builder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.nodes: dict[str, Node] = {}
        self.edges: set[Edge] = set()
        self.queue: deque[tuple[str, int]] = deque()
        self.seen: set[str] = set()
        self.truncated = False

    def run_node(self, run_id: str) -> str:
        key = f"run:{run_id}"
        if key not in self.nodes:
            run = self.store.get_run(run_id)
            self.nodes[key] = Node(key, "run", f"{run.name} ({run.id[:6]})",
                                   f"/runs/{run.id}", f"{run.kind} · {run.status}")
        return key

    def artifact_node(self, artifact_id: int) -> str:
        record = self.store.artifact(artifact_id)
        key = f"artifact:{record.sha256}"
        if key not in self.nodes:
            href = f"/runs/{record.run_id}#artifacts" if record.run_id else \
                f"/artifacts/{record.id}/download"
            self.nodes[key] = Node(key, "artifact", record.name, href,
                                   f"{record.materializer or 'file'} · {record.sha256[:10]}")
        return key

    def dataset_node(self, dataset_version_id: int) -> str:
        key = f"dataset:{dataset_version_id}"
        if key not in self.nodes:
            version = self.store.dataset_version_by_id(dataset_version_id)
            self.nodes[key] = Node(key, "dataset", version.ref,
                                   f"/data/{version.table_name}/v/{version.version}",
                                   version.validation_status)
        return key

    def walk(self) -> None:
        while self.queue:
            key, depth = self.queue.popleft()
            if key in self.seen or depth > MAX_DEPTH:
                continue
            if len(self.nodes) >= MAX_NODES:
                self.truncated = True
                return
            self.seen.add(key)
            kind, ident = key.split(":", 1)
            if kind == "run":
                edges = self.store.lineage(run_id=ident)
            elif kind == "artifact":
                edges = self.store.lineage(sha256=ident)
            else:
                edges = self.store.lineage(dataset_version_id=int(ident))
                producer = self.store.dataset_version_by_id(int(ident)).run_id
                if producer:
                    self._link(self.run_node(producer), key, "produced", depth)
            for edge in edges:
                self._add(edge, depth)

    def _add(self, edge: LineageEdge, depth: int) -> None:
        run = self.run_node(edge.run_id)
        if edge.dataset_version_id is not None:
            item = self.dataset_node(edge.dataset_version_id)
        else:
            item = self.artifact_node(edge.artifact_id or 0)
        label = edge.role or edge.direction
        if edge.direction == "consumed":
            self._link(item, run, label, depth)
        else:
            self._link(run, item, label, depth)

    def _link(self, source: str, target: str, label: str, depth: int) -> None:
        self.edges.add(Edge(source, target, label))
        for key in (source, target):
            if key not in self.seen:
                self.queue.append((key, depth + 1))
