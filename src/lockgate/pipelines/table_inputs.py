"""Declared table inputs (``@step(inputs=["orders@latest"])``), resolved to concrete
versions once, when a pipeline run starts, so that every step of the run sees the same
data, the versions are in the cache keys and lineage, and a resume can pin them again."""

from __future__ import annotations

from collections.abc import Mapping

from lockgate.errors import NotFoundError, numbered
from lockgate.pipelines.errors import PipelineError
from lockgate.pipelines.pipeline import Pipeline
from lockgate.store import DatasetVersion, Store


def parse(ref: str) -> tuple[str, int | None]:
    """``orders@latest`` -> ("orders", None); ``orders@v7`` / ``orders@7`` -> ("orders", 7)."""
    table, _, version = ref.partition("@")
    if version == "latest":
        return table, None
    return table, int(version.removeprefix("v"))


def resolve(store: Store, pipeline: Pipeline,
            pinned: Mapping[str, int] | None = None) -> dict[str, dict[str, DatasetVersion]]:
    """``{node: {table: dataset version}}`` for every declared table input.

    ``@latest`` resolves to the newest registered version, or to ``pinned[table]`` when
    given (resume pins the versions of the original run).

    Raises:
        PipelineError: a declared table or version does not exist (all listed).
    """
    resolved: dict[str, dict[str, DatasetVersion]] = {}
    problems: list[str] = []
    for n in pipeline.nodes:
        for ref in n.spec.inputs:
            table, version = parse(ref)
            if version is None and pinned and table in pinned:
                version = pinned[table]
            try:
                found = store.dataset_version(table, version)
            except NotFoundError as exc:
                problems.append(f"step `{n.name}` declares input `{ref}`: {exc}")
                continue
            resolved.setdefault(n.name, {})[table] = found
    if problems:
        raise PipelineError(f"{len(problems)} declared table input(s) cannot be resolved:\n"
                            + numbered(problems))
    return resolved


def versions(resolved: Mapping[str, Mapping[str, DatasetVersion]]) -> dict[str, int]:
    """``{table: version}`` over every node (what the pipeline run records as a tag)."""
    return {table: dv.version for tables in resolved.values() for table, dv in tables.items()}
