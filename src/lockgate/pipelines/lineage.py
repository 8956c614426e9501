"""Lineage as a tree: what a run or artifact came from (upstream) and what was made
from it (downstream), built from the store's lineage edges, plus a Graphviz rendering.

An artifact's producer is the run that created it; a cached step run points at the
same artifact without having produced it, so following producers never loops through
caches. A pipeline run is seen from outside: its inputs are what its steps consumed
from outside the run, its outputs everything its steps produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lockgate.errors import NotFoundError
from lockgate.store import LineageEdge, Store

RUN, ARTIFACT, DATASET = "run", "artifact", "dataset"


@dataclass(frozen=True, slots=True)
class LineageNode:
    """A run, an artifact or a dataset version in a lineage tree."""

    kind: str
    id: str
    label: str
    children: tuple[LineageNode, ...] = ()
    repeated: bool = False  # already shown elsewhere in the tree
    note: str | None = None  # the edge's note, e.g. an allow_unvalidated reason

    @property
    def key(self) -> str:
        """``run:<id>``, ``artifact:<id>`` or ``dataset:<id>``."""
        return f"{self.kind}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the tree."""
        return {"kind": self.kind, "id": self.id, "label": self.label, "note": self.note,
                "repeated": self.repeated, "children": [c.to_dict() for c in self.children]}


@dataclass(slots=True)
class Lineage:
    """Upstream and downstream trees of one root, and every edge seen (for Graphviz)."""

    root: LineageNode
    upstream: LineageNode
    downstream: LineageNode
    edges: set[tuple[str, str]] = field(default_factory=set)
    labels: dict[str, str] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)

    def to_dot(self) -> str:
        """Graphviz source: boxes for runs, ellipses for artifacts, cylinders for data."""
        shapes = {RUN: "box", ARTIFACT: "ellipse", DATASET: "cylinder"}
        lines = ["digraph lineage {", "  rankdir=LR;"]
        for key, label in sorted(self.labels.items()):
            shape = shapes[key.split(":", 1)[0]]
            bold = ", style=bold" if key == self.root.key else ""
            lines.append(f'  "{key}" [label="{_esc(label)}", shape={shape}{bold}];')
        for source, target in sorted(self.edges):
            note = self.notes.get((source, target))
            extra = f' [label="{_esc(note)}", style=dashed]' if note else ""
            lines.append(f'  "{source}" -> "{target}"{extra};')
        lines.append("}")
        return "\n".join(lines)


def lineage(store: Store, target: str, *, depth: int = 8) -> Lineage:
    """The lineage of a run (id or prefix) or an artifact (``artifact:ID`` or a number).

    Raises:
        NotFoundError: nothing matches ``target``.
    """
    builder = _Builder(store, depth)
    kind, ident = builder.resolve(target)
    root = LineageNode(kind, ident, builder.label(kind, ident))
    up = builder.tree(kind, ident, upstream=True, level=0, seen=set())
    down = builder.tree(kind, ident, upstream=False, level=0, seen=set())
    return Lineage(root, up, down, builder.edges, builder.labels, builder.notes)


class _Builder:
    def __init__(self, store: Store, depth: int) -> None:
        self.store, self.depth = store, depth
        self.edges: set[tuple[str, str]] = set()
        self.labels: dict[str, str] = {}
        self.notes: dict[tuple[str, str], str] = {}
        self._edges: dict[str, tuple[list[LineageEdge], list[LineageEdge]]] = {}

    def resolve(self, target: str) -> tuple[str, str]:
        text = target.strip()
        for prefix in (ARTIFACT, DATASET):
            if text.startswith(prefix + ":"):
                ident = text.split(":", 1)[1]
                if not ident.isdigit():
                    raise NotFoundError(f"`{target}`: expected {prefix}:<number>.")
                self.label(prefix, ident)
                return prefix, ident
        try:
            return RUN, self.store.resolve_run_id(text)
        except NotFoundError:
            if text.isdigit():
                self.label(ARTIFACT, text)
                return ARTIFACT, text
            raise

    def label(self, kind: str, ident: str) -> str:
        key = f"{kind}:{ident}"
        if key not in self.labels:
            if kind == RUN:
                run = self.store.get_run(ident)
                text = f"{run.kind} {run.name} ({run.id[:8]}) {run.status}"
            elif kind == ARTIFACT:
                art = self.store.artifact(int(ident))
                text = f"artifact {art.id} {art.name} [{art.sha256[:12]}]"
            else:
                version = self.store.dataset_version_by_id(int(ident))
                text = f"dataset {version.ref} ({version.validation_status})"
            self.labels[key] = text
        return self.labels[key]

    def tree(self, kind: str, ident: str, *, upstream: bool, level: int,
             seen: set[str]) -> LineageNode:
        key = f"{kind}:{ident}"
        label = self.label(kind, ident)
        if key in seen:
            return LineageNode(kind, ident, label, repeated=True)
        seen.add(key)
        if level >= self.depth:
            return LineageNode(kind, ident, label)
        found = self._up(kind, ident) if upstream else self._down(kind, ident)
        children = []
        for child_kind, child_id in found:
            child_key = f"{child_kind}:{child_id}"
            self.label(child_kind, child_id)
            edge = (child_key, key) if upstream else (key, child_key)
            self.edges.add(edge)
            child = self.tree(child_kind, child_id, upstream=upstream, level=level + 1,
                              seen=seen)
            note = self.notes.get(edge)
            children.append(replace(child, note=note) if note else child)
        return LineageNode(kind, ident, label, tuple(children))

    def _up(self, kind: str, ident: str) -> list[tuple[str, str]]:
        if kind == ARTIFACT:
            producer = self.store.artifact(int(ident)).run_id
            return [(RUN, producer)] if producer else []
        if kind == DATASET:
            producer = self.store.dataset_version_by_id(int(ident)).run_id
            return [(RUN, producer)] if producer else []
        consumed, produced = self._run_edges(ident)
        inside = {_item(e) for e in produced}
        for edge in consumed:
            if edge.note:
                item = _item(edge)
                self.notes[(f"{item[0]}:{item[1]}", f"{RUN}:{ident}")] = edge.note
        return _unique([_item(e) for e in consumed if _item(e) not in inside])

    def _down(self, kind: str, ident: str) -> list[tuple[str, str]]:
        if kind == RUN:
            _, produced = self._run_edges(ident)
            return _unique([_item(e) for e in produced])
        edges = (self.store.lineage(artifact_id=int(ident)) if kind == ARTIFACT
                 else self.store.lineage(dataset_version_id=int(ident)))
        for edge in edges:
            if edge.note and edge.direction == "consumed":
                self.notes[(f"{kind}:{ident}", f"{RUN}:{edge.run_id}")] = edge.note
        return _unique([(RUN, e.run_id) for e in edges if e.direction == "consumed"])

    def _run_edges(self, run_id: str) -> tuple[list[LineageEdge], list[LineageEdge]]:
        # Both trees start from the root: read a run's edges (and its steps') once.
        if run_id not in self._edges:
            self._edges[run_id] = self._read_run_edges(run_id)
        return self._edges[run_id]

    def _read_run_edges(self, run_id: str) -> tuple[list[LineageEdge], list[LineageEdge]]:
        run_ids = [run_id]
        if self.store.get_run(run_id).kind == "pipeline":
            run_ids += [c.id for c in self.store.list_runs(parent_id=run_id, limit=None)]
        edges = [e for r in run_ids for e in self.store.lineage(run_id=r)]
        return ([e for e in edges if e.direction == "consumed"],
                [e for e in edges if e.direction == "produced"])


def _item(edge: LineageEdge) -> tuple[str, str]:
    if edge.artifact_id is not None:
        return ARTIFACT, str(edge.artifact_id)
    return DATASET, str(edge.dataset_version_id)


def _unique(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(items))


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
