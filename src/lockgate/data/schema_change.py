"""Schema change: a batch whose columns differ from the contract (new, missing, renamed,
retyped) is detected and handled by the contract's ``on_schema_change`` policy, which is
chosen per kind of change (see :class:`lockgate.data.contract.SchemaPolicy`).

- ``fail``: nothing lands; the error names every change and the policy.
- ``evolve``: the contract follows the data (new columns added with an inferred type and
  ``feature: false``, missing ones made nullable, renames recorded as aliases) under a
  new contract version; retyped values stay under the old type and their rows are
  quarantined row by row.
- ``quarantine``: the whole batch goes to quarantine with ``schema:<kind>:<column>``.
- ``ignore``: the rows land without the change (a new column is dropped, a missing or
  renamed one is null, retyped values are quarantined row by row); the change is
  recorded with the version and shown as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from lockgate.data.contract import ChangeKind, ColumnSpec, Contract, SchemaChangePolicy
from lockgate.data.errors import SchemaChangeError
from lockgate.data.inference import infer_type
from lockgate.data.normalize import PARSE_FAIL, ColumnMapping
from lockgate.errors import numbered

#: A column is "retyped" when at least this share of its present values fail to parse.
RETYPED_SHARE = 0.9
_MIN_VALUES = 20


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """One difference between a batch and the contract."""

    kind: ChangeKind
    column: str
    detail: str

    @property
    def code(self) -> str:
        """The reason code used when a batch is quarantined for this change."""
        return f"schema:{self.kind}:{self.column}"


def detect(mapping: ColumnMapping, normalized: pl.DataFrame, contract: Contract,
           present: dict[str, int]) -> list[SchemaChange]:
    """Every schema change of a batch.

    Args:
        mapping: how the batch's columns lined up with the contract.
        normalized: the batch after normalisation (parse-failure flags).
        contract: the contract.
        present: per contract column, how many values the batch had.
    """
    changes = [SchemaChange("new", c, f"new column `{c}` is not in the contract")
               for c in mapping.new]
    changes += [SchemaChange("missing", c, f"column `{c}` is missing from the batch")
                for c in mapping.missing]
    changes += [SchemaChange("renamed", target,
                             f"column `{target}` seems renamed to `{source}` (add it to "
                             f"`aliases` of `{target}` if so)")
                for source, target in mapping.similar]
    for spec in contract.columns:
        count = present.get(spec.name, 0)
        if count < _MIN_VALUES:
            continue
        failed = int(normalized[PARSE_FAIL + spec.name].sum())
        if failed >= RETYPED_SHARE * count:
            changes.append(SchemaChange(
                "retyped", spec.name,
                f"column `{spec.name}`: {failed} of {count} values are not {spec.type}"))
    return changes


def enforce(changes: list[SchemaChange], contract: Contract, where: str) -> None:
    """Raise for the ``fail`` policy, naming every change.

    Raises:
        SchemaChangeError: there is at least one change and the policy is ``fail``.
    """
    policy = contract.schema_policy
    failing = [c for c in changes if policy.for_kind(c.kind) == SchemaChangePolicy.FAIL]
    if not failing:
        return
    kinds = sorted({c.kind for c in failing}, key=lambda k: (k != "new", k))
    raise SchemaChangeError(
        f"Schema change in {where} for table `{contract.table}` (contract "
        f"v{contract.version}, on_schema_change: fail for {', '.join(kinds)}), nothing was "
        "ingested:\n" + numbered([c.detail for c in failing])
        + "\nFix the source, add aliases to the contract, or choose a policy per kind, "
        f"e.g. `on_schema_change: {{{kinds[0]}: "
        f"{'ignore' if kinds[0] == 'new' else 'evolve'}}}` (fail, evolve, quarantine, "
        "ignore).",
        [c.code for c in failing],
    )


def without_ignored_renames(mapping: ColumnMapping, changes: list[SchemaChange],
                            contract: Contract) -> ColumnMapping:
    """Under ``renamed: ignore`` a look-alike column is not read as the contract column:
    the source column is dropped and the contract column is null."""
    if contract.schema_policy.renamed != SchemaChangePolicy.IGNORE or not mapping.similar:
        return mapping
    return replace(mapping, similar=(),
                   new=(*mapping.new, *(s for s, _ in mapping.similar)),
                   missing=(*mapping.missing, *(t for _, t in mapping.similar)))


def evolve(contract: Contract, changes: list[SchemaChange], mapping: ColumnMapping,
           frame: pl.DataFrame) -> Contract:
    """The contract after the ``evolve`` policy absorbed ``changes`` (new version).

    Only the changes whose kind's policy is ``evolve`` are absorbed; a new column joins
    with ``feature: false`` so that no model uses it until someone opts in.
    """
    policy = contract.schema_policy
    structural = [c for c in changes
                  if c.kind != "retyped" and policy.for_kind(c.kind) == SchemaChangePolicy.EVOLVE]
    if not structural:
        return contract
    evolving = {(c.kind, c.column) for c in structural}
    renamed = {target: source for source, target in mapping.similar
               if ("renamed", target) in evolving}
    missing = {c for c in mapping.missing if ("missing", c) in evolving}
    columns = []
    for spec in contract.columns:
        if spec.name in renamed:
            spec = replace(spec, aliases=(*spec.aliases, renamed[spec.name]))
        if spec.name in missing:
            spec = replace(spec, nullable=True)
        columns.append(spec)
    for name in mapping.new:
        if ("new", name) not in evolving:
            continue
        columns.append(ColumnSpec(name=_column_name(name), type=infer_type(frame[name]),
                                  aliases=(name,) if _column_name(name) != name else (),
                                  description="added by on_schema_change: evolve; set "
                                  "`feature: true` to use it in models",
                                  feature=False))
    return contract.with_changes(columns=tuple(columns), version=_next_version(contract.version))


def _column_name(name: str) -> str:
    import re

    clean = re.sub(r"[^0-9A-Za-z_]+", "_", name.strip()).strip("_") or "column"
    return "c_" + clean if clean[0].isdigit() else clean


def _next_version(version: str) -> str:
    base, _, n = version.partition("+evolved.")
    return f"{base}+evolved.{int(n) + 1 if n.isdigit() else 1}"
