"""Profiles of a table version computed per data file and merged (#21: on Ray, profiles
of partitions are computed on workers and merged on the driver).

A Delta table version is a list of Parquet files. Each file (a partition) is profiled
by whichever executor runs the map: in this process (``local``), or as a Ray task on
any node, which reads its file from the object store itself with its own AWS
environment. Only the partial profiles travel back, as their JSON-able dicts (a few
kilobytes per column, whatever the rows), and they are merged here in file order: the
local and the Ray executor give the same profile. It equals the profile of the whole
table read at once up to the sketches' stated rank error: counts, nulls, extremes,
category counts and distinct sketches exactly, means and variances to rounding. Memory
on either side: one file's rows, never the table's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import reduce
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from lockgate.data.contract import Contract
from lockgate.data.table import read_file, typed_schema
from lockgate.quality.profile import Profile, profile, roles_of

if TYPE_CHECKING:
    from lockgate.pipelines.executors.base import Executor


@dataclass(frozen=True, slots=True)
class TableFiles:
    """The data files of (a part of) a table version and the version's schema, as plain
    data any executor can send: file URIs (local paths or ``s3://``) and the Arrow
    schema as IPC bytes."""

    files: tuple[str, ...]
    schema: bytes

    @classmethod
    def of(cls, files: list[str], schema: pa.Schema) -> TableFiles:
        """Files in a stable order (the merge order), the schema serialised."""
        return cls(tuple(sorted(files)), schema.serialize().to_pybytes())


def profile_files(found: TableFiles, contract: Contract | None = None, *,
                  executor: Executor | None = None) -> Profile:
    """The profile of the rows of ``found``'s files, each file profiled as one task of
    ``executor`` (default: one after another in this process) and merged here.

    Raises:
        ProfileError: a column cannot be profiled.
        PipelineError: a task failed on a remote executor.
    """
    shared = (found.schema, contract.to_dict() if contract is not None else None)
    if not found.files:
        return profile(pl.DataFrame(schema=typed_schema(_schema(found.schema))),
                       contract=contract)
    if executor is None:
        parts = [profile_file(uri, *shared) for uri in found.files]
    else:
        parts = executor.map(profile_file, list(found.files), shared=shared)
    merged = reduce(Profile.merge, (Profile.from_dict(p) for p in parts))
    return replace(merged, roles=roles_of(contract, merged.columns))


def profile_file(uri: str, schema: bytes, contract: dict[str, Any] | None) -> dict[str, Any]:
    """The profile of one data file, as the dict a task sends back (importable at module
    level, so a Ray worker runs it by name)."""
    frame = read_file(uri, _schema(schema))
    spec = Contract.from_dict(contract) if contract is not None else None
    return profile(frame, contract=spec).to_dict()


def _schema(serialized: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(serialized))


__all__ = ["TableFiles", "profile_file", "profile_files"]
