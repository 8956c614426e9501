"""Pipelines as data: :class:`Node` wires a plain function's arguments to named datasets,
and :class:`Pipeline` checks the whole graph before anything runs.

    pipeline = Pipeline("train", [
        node(load, outputs="raw"),
        node(split, inputs="raw", outputs=["train", "test"]),
        node(fit, inputs={"train": "train", "alpha": "alphas"}, outputs="models",
             map_over="alpha"),
        node(pick, inputs=["models", "test"], outputs="best"),
    ])

Function arguments not wired to a dataset are parameters, set in ``params.yaml`` under
the node's name. An argument named in ``map_over`` receives one item of a list per
step run (fan-out); the node's outputs are then lists, gathered in item order.
"""

from __future__ import annotations

import graphlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.errors import close_matches, numbered
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.step import StepSpec, spec_of

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class Node:
    """One step in a pipeline: a function and the datasets wired to it.

    Attributes:
        name: unique name in the pipeline (also the params section); default the
            function's name.
        func: the step function (module-level, so worker processes can import it).
        inputs: ``{argument: dataset}``.
        outputs: dataset names; one name takes the return value, several take the
            items of a returned tuple.
        map_over: the argument that receives one item of its (list) dataset per run.
    """

    name: str
    func: Callable[..., Any]
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    map_over: str | None = None

    @property
    def spec(self) -> StepSpec:
        """Execution options from ``@step`` (defaults for a plain function)."""
        return spec_of(self.func)

    @property
    def parameters(self) -> dict[str, inspect.Parameter]:
        """The function's arguments that are not wired to a dataset."""
        signature = inspect.signature(self.func)
        return {n: p for n, p in signature.parameters.items() if n not in self.inputs}


def node(
    func: Callable[..., Any],
    *,
    inputs: str | Sequence[str] | Mapping[str, str] | None = None,
    outputs: str | Sequence[str] | None = None,
    name: str | None = None,
    map_over: str | None = None,
) -> Node:
    """Wire a function into a pipeline.

    Args:
        func: the step function.
        inputs: a dataset name or list of names (bound to the function's leading
            arguments in order), or ``{argument: dataset}``.
        outputs: a dataset name, or a list of names for a function returning a tuple.
        name: the node's name; default ``func.__name__``.
        map_over: an argument wired in ``inputs`` whose dataset is a list; the step
            runs once per item and each output becomes a list.

    Raises:
        PipelineError: the wiring does not fit the function's signature.
    """
    node_name = str(name or getattr(func, "__name__", ""))
    wired = _bind_inputs(node_name, func, inputs)
    produced = (outputs,) if isinstance(outputs, str) else tuple(outputs or ())
    return Node(node_name, func, wired, produced, map_over)


class Pipeline:
    """A validated graph of nodes. Construction fails on any wiring mistake, listing all.

    Attributes:
        name: the pipeline's name (the name of its runs).
        nodes: the nodes in a topological order (stable for equal inputs).
        ref: where it was loaded from (``path.py:attr``), set by ``load_pipeline``;
            recorded on its runs so that ``lockgate pipelines resume`` can reload it.
    """

    def __init__(self, name: str, nodes: Iterable[Node]) -> None:
        self.name = name
        self.ref: str | None = None
        given = list(nodes)
        _validate(name, given)
        self._producer = {out: n.name for n in given for out in n.outputs}
        self._by_name = {n.name: n for n in given}
        self.nodes: tuple[Node, ...] = tuple(self._by_name[n] for n in _order(given))

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, {len(self.nodes)} nodes)"

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        if name not in self._by_name:
            raise PipelineError(
                f"Pipeline `{self.name}` has no step `{name}`." + close_matches(name, self._by_name)
            )
        return self._by_name[name]

    @property
    def free_inputs(self) -> set[str]:
        """Datasets consumed but produced by no node: they must be passed to the run."""
        return {d for n in self.nodes for d in n.inputs.values() if d not in self._producer}

    def producer(self, dataset: str) -> str | None:
        """The node producing ``dataset`` (None for a free input)."""
        return self._producer.get(dataset)

    def upstream(self, node_name: str) -> set[str]:
        """Names of the nodes whose outputs ``node_name`` reads directly."""
        found = (self._producer.get(d) for d in self.node(node_name).inputs.values())
        return {p for p in found if p is not None}

    def downstream(self, node_name: str) -> set[str]:
        """Names of every node that depends on ``node_name``, transitively."""
        out: set[str] = set()
        frontier = [node_name]
        while frontier:
            current = frontier.pop()
            for candidate in self.nodes:
                if current in self.upstream(candidate.name) and candidate.name not in out:
                    out.add(candidate.name)
                    frontier.append(candidate.name)
        return out

    def collections(self) -> set[str]:
        """Datasets held as one artifact per item: mapped-over inputs and mapped outputs."""
        mapped = {n.inputs[n.map_over] for n in self.nodes if n.map_over}
        return mapped | {o for n in self.nodes if n.map_over for o in n.outputs}

    def to_dot(self) -> str:
        """The graph as Graphviz: boxes for steps, ellipses for datasets."""
        lines = [f'digraph "{_esc(self.name)}" {{', "  rankdir=LR;"]
        datasets = {d for n in self.nodes for d in (*n.inputs.values(), *n.outputs)}
        for dataset in sorted(datasets):
            lines.append(f'  "d:{_esc(dataset)}" [label="{_esc(dataset)}", shape=ellipse];')
        for n in self.nodes:
            label = n.name + (f"\\n(map over {n.map_over})" if n.map_over else "")
            lines.append(f'  "n:{_esc(n.name)}" [label="{_esc(label)}", shape=box];')
            for dataset in n.inputs.values():
                lines.append(f'  "d:{_esc(dataset)}" -> "n:{_esc(n.name)}";')
            for dataset in n.outputs:
                lines.append(f'  "n:{_esc(n.name)}" -> "d:{_esc(dataset)}";')
        lines.append("}")
        return "\n".join(lines)

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-ready entry per node: inputs, outputs, parameters, options."""
        out = []
        for n in self.nodes:
            spec = n.spec
            out.append({
                "name": n.name,
                "function": f"{n.func.__module__}.{n.func.__qualname__}",
                "inputs": dict(n.inputs), "outputs": list(n.outputs), "map_over": n.map_over,
                "upstream": sorted(self.upstream(n.name)),
                "params": {
                    k: (None if p.default is inspect.Parameter.empty else repr(p.default))
                    for k, p in n.parameters.items()
                },
                "retries": spec.retries, "timeout": spec.timeout, "cache": spec.cache,
                "cpus": spec.cpus,
            })
        return out


def _bind_inputs(node_name: str, func: Callable[..., Any],
                 inputs: str | Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    if not inspect.isfunction(func):
        raise PipelineError(
            f"Step `{node_name or func!r}` must be a function, got {type(func).__name__}."
        )
    if inputs is None:
        return {}
    if isinstance(inputs, Mapping):
        return dict(inputs)
    names = [inputs] if isinstance(inputs, str) else list(inputs)
    arguments = list(inspect.signature(func).parameters)
    if len(names) > len(arguments):
        raise PipelineError(
            f"Step `{node_name}` is given {len(names)} inputs {names} but "
            f"`{func.__name__}` takes only {len(arguments)} arguments {arguments}."
        )
    return dict(zip(arguments, names, strict=False))


def _validate(name: str, nodes: list[Node]) -> None:
    problems: list[str] = []
    if not _NAME.match(name or ""):
        problems.append(f"pipeline name `{name}` must be letters, digits, `_` or `-`")
    seen: set[str] = set()
    producers: dict[str, str] = {}
    for n in nodes:
        problems += _node_problems(n, seen, producers)
        seen.add(n.name)
    if problems:
        raise PipelineError(
            f"{len(problems)} problem(s) in pipeline `{name}`:\n{numbered(problems)}"
        )
    try:
        _order(nodes)
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise PipelineError(
            f"Pipeline `{name}` has a cycle: {cycle}. A step cannot depend on its own output."
        ) from exc


def _node_problems(n: Node, seen: set[str], producers: dict[str, str]) -> list[str]:
    problems: list[str] = []
    if not _NAME.match(n.name):
        problems.append(f"step name `{n.name}` must be letters, digits, `_` or `-` (no dots)")
    if n.name in seen:
        problems.append(f"two steps are named `{n.name}`; pass `name=` to tell them apart")
    qualname = getattr(n.func, "__qualname__", "")
    if "<locals>" in qualname or "<lambda>" in qualname:
        problems.append(
            f"step `{n.name}` uses `{qualname}`; steps must be module-level functions so "
            "worker processes can import them"
        )
    arguments = inspect.signature(n.func).parameters
    variadic = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in arguments.values())
    for argument in n.inputs:
        if argument not in arguments and not variadic:
            problems.append(
                f"step `{n.name}` wires input `{argument}`, which `{n.func.__name__}` does not "
                f"take.{close_matches(argument, arguments)} Arguments: {list(arguments)}"
            )
    if n.map_over is not None and n.map_over not in n.inputs:
        problems.append(
            f"step `{n.name}` maps over `{n.map_over}`, which is not one of its wired inputs "
            f"{list(n.inputs)}"
        )
    for output in n.outputs:
        if output in producers:
            problems.append(
                f"dataset `{output}` is produced by both `{producers[output]}` and `{n.name}`"
            )
        producers[output] = n.name
    if len(set(n.outputs)) != len(n.outputs):
        problems.append(f"step `{n.name}` lists an output twice: {list(n.outputs)}")
    return problems


def _order(nodes: list[Node]) -> list[str]:
    producer = {out: n.name for n in nodes for out in n.outputs}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for n in nodes:
        sorter.add(n.name, *(producer[d] for d in n.inputs.values() if d in producer))
    return list(sorter.static_order())


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
