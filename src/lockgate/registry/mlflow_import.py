"""Importing an MLflow store: experiments, runs (params, tags, metrics with their steps
and timestamps, artifacts copied and verified by hash), models converted through the
flavors, registered models with their versions and aliases recorded on the runs.

Idempotent: an imported run carries the MLflow run id and store URI as tags, and a run
already imported is skipped. What cannot be imported is listed with the reason, never
dropped silently. Pickle-based MLflow models are converted only with
``trust_pickle=True`` (the operator's explicit choice, recorded on the run); the
converted model is a flavor's safe files, so no server ever unpickles anything.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lockgate.artifacts import ArtifactStore, FlavorError, flavor_for
from lockgate.config import Settings, load_settings
from lockgate.registry.mlflow_store import MlflowModelVersion, MlflowRun, read_store
from lockgate.store import Store

RUN_TAG = "mlflow.import.run_id"
URI_TAG = "mlflow.import.uri"
PICKLE_TAG = "mlflow.import.trusted_pickle"
_STATUSES = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED"}


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What was imported, what was already there, and what could not be, with reasons."""

    uri: str
    imported_runs: dict[str, str] = field(default_factory=dict)  # mlflow id -> lockgate id
    already_imported: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)  # mlflow run id -> flavor
    versions: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def import_mlflow(uri: str, *, experiments: list[str] | None = None,
                  trust_pickle: bool = False, settings: Settings | None = None) -> ImportReport:
    """Import an MLflow file or SQLite store into the lockgate store.

    Raises:
        MlflowStoreError: the URI is not a store lockgate can read.
    """
    settings = settings or load_settings()
    store = Store.open(settings)
    artifacts = ArtifactStore.open(settings)
    source = read_store(uri, experiments)
    report = ImportReport(uri)
    known = _imported(store, uri)
    for run in source.runs:
        if run.run_id in known:
            report.already_imported[run.run_id] = known[run.run_id]
            continue
        report.imported_runs[run.run_id] = _import_run(store, artifacts, run, uri,
                                                       trust_pickle, report)
    mapping = {**known, **report.imported_runs}
    for version in source.versions:
        _record_version(store, version, mapping, report)
    return report


def _imported(store: Store, uri: str) -> dict[str, str]:
    """MLflow run id -> lockgate run id of the runs an earlier import of ``uri`` made,
    found through the store's search (so the import works through ``lockgate server``
    too, as every other write here does)."""
    from lockgate.store.run_search import MAX_RESULTS, find_runs

    quoted = uri.replace("\\", "\\\\").replace('"', '\\"')
    runs = find_runs(store, f'tags."{URI_TAG}" = "{quoted}"', max_results=MAX_RESULTS,
                     include_steps=True)
    found = {run.id: store.tags(run.id).get(RUN_TAG) for run in runs}
    return {source: run_id for run_id, source in found.items() if source is not None}


def _import_run(store: Store, artifacts: ArtifactStore, run: MlflowRun, uri: str,
                trust_pickle: bool, report: ImportReport) -> str:
    run_id = store.create_run(run.name, experiment=run.experiment, kind="imported")
    store.log_params(run_id, dict(run.params))
    store.set_tags(run_id, {**run.tags, RUN_TAG: run.run_id, URI_TAG: uri,
                            "mlflow.start_time_ms": str(run.start_ms),
                            "mlflow.end_time_ms": str(run.end_ms)})
    store.log_metric_tuples([(run_id, key, step, ms / 1000.0, value)
                             for key, value, ms, step in run.metrics])
    if run.artifact_dir is not None:
        for path in sorted(p for p in run.artifact_dir.rglob("*") if p.is_file()):
            _copy_verified(artifacts, path, path.relative_to(run.artifact_dir).as_posix(),
                           run_id, report, run.run_id)
    for name, folder in run.model_dirs.items():
        _import_model(store, artifacts, folder, name, run_id, run.run_id, trust_pickle, report)
    store.end_run(run_id, _STATUSES.get(run.status, "FINISHED"))
    return run_id


def _copy_verified(artifacts: ArtifactStore, path: Path, name: str, run_id: str,
                   report: ImportReport, source_run: str) -> None:
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    record = artifacts.save_file(path, name=name, run_id=run_id)
    if record.sha256 != expected or artifacts.read_bytes(record) != path.read_bytes():
        report.skipped.append(f"run {source_run}: artifact `{name}` changed while it was "
                              "copied; re-run the import")


def _import_model(store: Store, artifacts: ArtifactStore, folder: Path, name: str,
                  run_id: str, source_run: str, trust_pickle: bool,
                  report: ImportReport) -> None:
    try:
        model, pickled = _load_mlflow_model(folder, trust_pickle)
        flavor_for(model)
    except (ValueError, FlavorError, OSError) as exc:
        report.skipped.append(f"run {source_run}: model `{name}` not converted: {exc}")
        return
    except Exception as exc:  # a library refusing the file
        report.skipped.append(f"run {source_run}: model `{name}` not converted: "
                              f"{type(exc).__name__}: {exc}")
        return
    artifacts.save(model, "model" if name == "model" else f"model.{name}", run_id=run_id)
    if pickled:
        store.set_tags(run_id, {PICKLE_TAG: f"{name}: converted from pickle with "
                                            "--trust-pickle"})
    report.models[source_run] = flavor_for(model).name


def _load_mlflow_model(folder: Path, trust_pickle: bool) -> tuple[Any, bool]:
    """A model from an MLflow model folder (its ``MLmodel`` file says the format)."""
    spec = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8")) or {}
    flavors = spec.get("flavors") or {}
    for library in ("lightgbm", "xgboost", "sklearn"):
        conf = flavors.get(library)
        if conf is None:
            continue
        data = folder / str(conf.get("data") or conf.get("pickled_model") or "")
        if not data.is_file() or data.resolve().parent != folder.resolve():
            raise ValueError(f"its data file `{conf.get('data')}` is missing or outside the "
                             "model folder")
        fmt = str(conf.get("serialization_format") or "")
        if library == "lightgbm" and data.suffix == ".lgb":
            import lightgbm

            return lightgbm.Booster(model_str=data.read_text(encoding="utf-8")), False
        if library == "xgboost" and data.suffix in (".ubj", ".json", ".xgb"):
            return _xgboost(data, str(conf.get("model_class") or "")), False
        if fmt == "skops" or data.suffix == ".skops":
            from lockgate.artifacts import loads

            return loads(data.read_bytes(), "skops"), False
        if not trust_pickle:
            raise ValueError(f"it is stored as {fmt or 'pickle'} ({data.name}); pass "
                             "--trust-pickle to convert it (it is unpickled once, here, "
                             "and stored as safe flavor files)")
        with data.open("rb") as handle:
            # the operator's explicit, recorded choice (--trust-pickle); converted right
            # away to a flavor's safe files, so nothing downstream ever unpickles
            return pickle.load(handle), True  # noqa: S301
    raise ValueError(f"its MLflow flavors {sorted(flavors)} have no lockgate flavor "
                     "(lightgbm, xgboost and sklearn are converted)")


def _xgboost(data: Path, model_class: str) -> Any:
    import xgboost

    if model_class.endswith(("XGBClassifier", "XGBRegressor")):
        model = getattr(xgboost, model_class.rsplit(".", 1)[1])()
        model.load_model(bytearray(data.read_bytes()))
        return model
    booster = xgboost.Booster()
    booster.load_model(bytearray(data.read_bytes()))
    return booster


def _record_version(store: Store, version: MlflowModelVersion, mapping: dict[str, str],
                    report: ImportReport) -> None:
    ref = f"{version.name} v{version.version}"
    if version.run_id not in mapping:
        report.skipped.append(f"registered model {ref}: its run {version.run_id} is not in "
                              "the imported experiments")
        return
    run_id = mapping[version.run_id]
    aliases = ",".join(version.aliases)
    store.set_tags(run_id, {f"mlflow.registered_model.{version.name}":
                            f"{version.version}" + (f" aliases={aliases}" if aliases else "")})
    report.versions.append(f"{ref}{' (' + aliases + ')' if aliases else ''} -> run {run_id}")
