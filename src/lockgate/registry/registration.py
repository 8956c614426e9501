"""Registering a training run when only its id is known (the CLI and CI path): the
contract and the reference profile are found from the dataset version the run trained on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lockgate.data.contract import ContractInput
from lockgate.errors import LockgateError
from lockgate.registry.errors import RegistryError
from lockgate.registry.model_version import ModelVersion, Registry


def register_run(registry: Registry, name: str, run_id: str, *,
                 contract: ContractInput | None = None,
                 reference_profile: Mapping[str, object] | str | Path | None = None,
                 description: str | None = None, actor: str | None = None) -> ModelVersion:
    """Register ``run_id`` as the next version of ``name``.

    Args:
        contract: a Contract, its dict, or a YAML path; default: the contract the training
            dataset version was landed under (``lockgate.data.contract_for``).
        reference_profile: a Profile, its dict, or a JSON path; default: the stored profile
            of the training dataset version (``lockgate.quality``).

    Raises:
        RegistryError: the run records no dataset and none was given.
    """
    run_id = registry.store.resolve_run_id(run_id)
    dataset = _dataset(registry, run_id)
    if contract is None:
        contract = _from_stage("contract", dataset, lambda t, v: _contract_for(registry, t, v))
    if isinstance(contract, str | Path):
        from lockgate.data import load_contract

        contract = load_contract(Path(contract))
    if reference_profile is None:
        reference_profile = _from_stage("reference profile", dataset,
                                        lambda t, v: _profile_for(registry, t, v))
    profile = json.loads(Path(reference_profile).read_text(encoding="utf-8")) \
        if isinstance(reference_profile, str | Path) else reference_profile
    return registry.register(name, run_id, contract=contract, reference_profile=profile,
                             description=description, actor=actor)


def _dataset(registry: Registry, run_id: str) -> dict[str, Any]:
    found = {a.name: a for a in registry.store.artifacts(run_id)}
    if "evaluation" not in found:
        return {}
    evaluation = registry.artifacts.load(found["evaluation"])
    return dict(dict(evaluation).get("dataset") or {})


def _from_stage(what: str, dataset: dict[str, Any], fetch: Any) -> Any:
    if not dataset.get("table"):
        raise RegistryError(
            f"The run records no training table, so its {what} cannot be found; pass it "
            f"explicitly (`--contract contract.yaml` / `--profile profile.json`).")
    try:
        return fetch(dataset["table"], dataset.get("version"))
    except (LockgateError, ImportError) as exc:
        raise RegistryError(
            f"Cannot find the {what} of {dataset['table']}@v{dataset.get('version')}: {exc}. "
            f"Pass it explicitly.") from exc


def _contract_for(registry: Registry, table: str, version: int | None) -> Any:
    from lockgate.data import contract_for

    return contract_for(table, version, settings=registry.settings)


def _profile_for(registry: Registry, table: str, version: int | None) -> Any:
    from lockgate.quality.stored_profile import profile_for

    return profile_for(table, version, settings=registry.settings).to_dict()
