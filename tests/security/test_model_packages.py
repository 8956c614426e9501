"""Model-package code execution: every callable-carrying estimator slot, every loader.

The attack (GHSA-w582 class): a fitted scikit-learn object whose callable attribute is
a dangerous function (``functools.partial(builtins.exec, ...)``, ``os.system``, ...). skops
rebuilds whatever it is told to trust; lockgate must refuse these at registration, at
load (serving, the infra check, the dashboard) and never derive trust from the file.
"""

from __future__ import annotations

import builtins
import functools
import importlib
import io
import json
import operator
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import skops.io as sio
from lockgate_model_cases import CONTRACT, FEATURES, PROFILE, dataset_version, make_frame
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import RFE, GenericUnivariateSelect, SelectKBest, SelectPercentile
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from lockgate.artifacts import allowlist, loads
from lockgate.config import Settings, load_settings
from lockgate.data.contract import Contract
from lockgate.errors import ArtifactError, ConfigError
from lockgate.registry import PackageError, Registry, load_package
from lockgate.registry.gates import GateConfig, infra
from lockgate.registry.package import MANIFEST, MODEL_FILE, PackageContents, write_package
from lockgate.store import Store
from lockgate.tracking import start_run
from tests.security.conftest import Canary

PAYLOADS: dict[str, Callable[[str], Any]] = {
    "partial-exec": lambda code: functools.partial(builtins.exec, code, None),
    "partial-eval": lambda code: functools.partial(builtins.eval, code.replace(
        "open(", "__import__('builtins').open(")),
    "os.system": lambda code: functools.partial(os.system, "true"),
    "subprocess": lambda code: functools.partial(subprocess.check_output, ["true"]),
    "import_module": lambda code: importlib.import_module,
    "methodcaller": lambda code: operator.methodcaller("write", "pwned"),
    "numpy.load": lambda code: np.load,
}


def _slots(func: Any) -> dict[str, Any]:
    """Every estimator slot that carries a callable, filled with ``func`` (unfitted is
    enough: skops serialises the attribute either way)."""
    return {
        "FunctionTransformer.func": FunctionTransformer(func=func),
        "FunctionTransformer.inverse_func": FunctionTransformer(inverse_func=func),
        "FunctionTransformer.feature_names_out": FunctionTransformer(
            feature_names_out=func),
        "TransformedTargetRegressor.func": TransformedTargetRegressor(
            regressor=LinearRegression(), func=func, inverse_func=np.log1p),
        "SelectKBest.score_func": SelectKBest(score_func=func),
        "KNeighborsClassifier.metric": KNeighborsClassifier(metric=func),
        "Pipeline(FunctionTransformer)": make_pipeline(FunctionTransformer(func=func),
                                                       LogisticRegression()),
        "SelectPercentile.score_func": SelectPercentile(score_func=func),
        "GenericUnivariateSelect.score_func": GenericUnivariateSelect(score_func=func),
        "RFE.importance_getter": RFE(LogisticRegression(), importance_getter=func),
        "TfidfVectorizer.tokenizer": TfidfVectorizer(tokenizer=func),
        "TfidfVectorizer.preprocessor": TfidfVectorizer(preprocessor=func),
        "ColumnTransformer.columns": ColumnTransformer([("x", "passthrough", func)]),
        "SimpleImputer-in-ColumnTransformer": ColumnTransformer(
            [("x", make_pipeline(FunctionTransformer(func=func)), [0])]),
    }


CASES = [(p, s) for p in PAYLOADS for s in _slots(len)]


@pytest.mark.parametrize(("payload", "slot"), CASES)
def test_every_callable_slot_is_refused_by_the_loader(canary: Canary, payload: str,
                                                       slot: str) -> None:
    data = sio.dumps(_slots(PAYLOADS[payload](canary.code))[slot])
    with pytest.raises(ArtifactError, match="outside lockgate's allowlist"):
        loads(data, "skops", trusted=allowlist(Settings(home=canary.path.parent)))


def _evil_pipeline(code: str) -> Any:
    """A working pipeline whose first step runs ``code`` on every predict."""
    frame = make_frame(200)
    x, y = frame.select(FEATURES).to_pandas(), frame["churned"].to_numpy()
    pipeline = make_pipeline(FunctionTransformer(), LogisticRegression()).fit(x, y)
    pipeline.steps[0][1].func = functools.partial(builtins.exec, code, None)
    return pipeline


def _log_training_run(settings: Settings, pipeline: Any) -> str:
    evaluation = {"problem_type": "binary", "primary_metric": "roc_auc",
                  "greater_is_better": True, "metrics": {"roc_auc": 0.9},
                  "leak_free": True, "beats_baseline": True,
                  "dataset": {"table": "customers", "version": 1,
                              "dataset_version_id": dataset_version(Store.open(settings))}}
    with start_run("evil", settings=settings, capture_console=False,
                   sample_hardware=False, capture_code=False) as run:
        run.log_value(pipeline, "model")
        run.log_dict(evaluation, "evaluation")
    return run.id


def test_registration_refuses_the_exec_package_naming_type_and_setting(
        canary: Canary, settings: Settings) -> None:
    run_id = _log_training_run(settings, _evil_pipeline(canary.code))
    registry = Registry(Store.open(settings), settings)
    with pytest.raises(PackageError, match=r"builtins\.exec.*trusted_types"):
        registry.register("churn", run_id, contract=CONTRACT, reference_profile=PROFILE,
                          holdout=make_frame(50))
    assert registry.models() == []


def test_operator_cannot_open_dangerous_modules(tmp_path: Path) -> None:
    for entry in ("builtins.*", "builtins.exec", "functools.partial", "os.*", "posix.system",
                  "numpy.*", "numpy.load", "subprocess.check_output", "importlib.*"):
        with pytest.raises(ConfigError, match="can never be trusted"):
            load_settings(home=tmp_path, trusted_types=(entry,))


def _package_folder(tmp_path: Path, pipeline: Any) -> Path:
    contents = PackageContents(pipeline=pipeline, contract=Contract.from_dict(CONTRACT),
                               reference_profile=PROFILE, evaluation={}, lineage={},
                               model_card="card")
    return write_package(contents, tmp_path / "package")


def _reseal(folder: Path, model: bytes) -> None:
    """What an attacker with write access to a package does: swap the model, fix the
    manifest so the folder verifies against itself."""
    import hashlib

    (folder / MODEL_FILE).write_bytes(model)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = {"sha256": hashlib.sha256(model).hexdigest(),
                                     "size": len(model)}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_load_package_refuses_a_resealed_exec_package(canary: Canary, tmp_path: Path) -> None:
    frame = make_frame(100)
    good = make_pipeline(LogisticRegression()).fit(frame.select(FEATURES).to_pandas(),
                                                   frame["churned"].to_numpy())
    folder = _package_folder(tmp_path, good)
    _reseal(folder, sio.dumps(_evil_pipeline(canary.code)))
    with pytest.raises(PackageError, match=r"builtins\.exec"):
        load_package(folder)


def test_infra_gate_never_runs_the_package(canary: Canary, tmp_path: Path) -> None:
    frame = make_frame(100)
    good = make_pipeline(LogisticRegression()).fit(frame.select(FEATURES).to_pandas(),
                                                   frame["churned"].to_numpy())
    folder = _package_folder(tmp_path, good)
    package = load_package(folder)
    _reseal(folder, sio.dumps(_evil_pipeline(canary.code)))  # swapped after loading
    result = infra(package, GateConfig())
    assert not result.passed
    assert "builtins.exec" in result.reason


def test_a_pickle_renamed_model_skops_is_refused_as_not_skops(tmp_path: Path) -> None:
    frame = make_frame(100)
    good = make_pipeline(LogisticRegression()).fit(frame.select(FEATURES).to_pandas(),
                                                   frame["churned"].to_numpy())
    folder = _package_folder(tmp_path, good)
    buffer = io.BytesIO()
    pickle.dump(good, buffer)
    _reseal(folder, buffer.getvalue())
    with pytest.raises(PackageError, match="not a skops file: refusing an unsafe or unknown"):
        load_package(folder)


def test_served_exec_package_cannot_run_code(canary: Canary, settings: Settings) -> None:
    """End to end: even a package that got into the registry (registered before this
    fix, or by another tool) is refused by `lockgate serve`; no request reaches it."""
    from lockgate.serving import BackgroundServer, ServeConfig

    registry = _registry_with_evil_version(settings, canary)
    with pytest.raises(PackageError, match=r"builtins\.exec"):
        server = BackgroundServer(ServeConfig("churn@1", port=0), settings).start()
        try:
            httpx.post(f"{server.url}/predict", json={f: 1 for f in FEATURES}, timeout=10)
        finally:
            server.stop()
    assert registry.get("churn", 1).version == 1


def _registry_with_evil_version(settings: Settings, canary: Canary) -> Registry:
    """Register a harmless model, then swap its stored archive for an exec package
    resealed the way `lockgate models register` would have written it."""
    import hashlib
    import tarfile

    from lockgate.artifacts import LocalBlobStore
    from lockgate.registry.package import archive_package
    from lockgate.store import tables_registry as t

    frame = make_frame(200)
    good = make_pipeline(LogisticRegression()).fit(frame.select(FEATURES).to_pandas(),
                                                   frame["churned"].to_numpy())
    registry = Registry(Store.open(settings), settings)
    registry.register("churn", _log_training_run(settings, good), contract=CONTRACT,
                      reference_profile=PROFILE, holdout=frame[:50])
    mv = registry.get("churn", 1)
    folder = registry.package_path(mv).parent / "evil"
    with tarfile.open(LocalBlobStore(settings.resolved_artifact_root).path_for(
            mv.package_sha256)) as tar:
        tar.extractall(folder, filter="data")
    _reseal(folder, sio.dumps(_evil_pipeline(canary.code)))
    archive = archive_package(folder, folder.parent / "evil.tar.gz")
    record = registry.artifacts.save_file(archive, name="model-package")
    import sqlalchemy as sa

    with registry.store.write() as conn:
        conn.execute(sa.update(t.model_versions).where(t.model_versions.c.version == 1)
                     .values(artifact_id=record.id, package_sha256=record.sha256))
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == record.sha256
    return registry
