"""Quickstart part of the registry section: a LightGBM model, saved in its native text
format (no pickle), goes through the same package, gates and server as the scikit-learn
one; then its training run is reproduced from its recorded commit, data and seeds, and
every hash compared."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from lightgbm import LGBMClassifier

from lockgate.config import Settings
from lockgate.data import read
from lockgate.demo.context import DemoContext
from lockgate.modeling import TrainConfig, train
from lockgate.modeling.reproduction import reproduce
from lockgate.registry import GateConfig, Registry, promote
from lockgate.registry.registration import register_run
from lockgate.serving import BackgroundServer, ServeConfig

MODEL = "churn-lgbm"
SECTION = "registry"
FAST = TrainConfig(n_splits=3, inner_splits=2, charts=False, naive=(), bootstrap=100)
GATES = GateConfig(thresholds={"roc_auc": 0.55}, margin=0.0, n_bootstrap=200)


def run(ctx: DemoContext) -> None:
    """Train, gate, serve a LightGBM model; reproduce its training run."""
    table = ctx.results.get("data_table", "churn")
    ctx.console.print("  [bold]Model flavors[/]: the same gates for a LightGBM booster "
                      "(native text model, preprocessing in skops)")
    project = _project(ctx)
    settings = _absolute(ctx.settings)  # training runs in the project folder
    with contextlib.chdir(project) if project else contextlib.nullcontext():
        result = train(table, LGBMClassifier(n_estimators=40, num_leaves=15, random_state=0,
                                             deterministic=True, force_row_wise=True,
                                             n_jobs=1, verbose=-1),
                       settings=settings, experiment="quickstart", name="churn-lightgbm",
                       config=FAST)
    registry = Registry(ctx.store, ctx.settings)
    mv = register_run(registry, MODEL, result.run_id, description="LightGBM, native format")
    package = registry.load(mv)
    files = package.manifest["flavor"]["files"]
    ctx.expect(package.flavor == "lightgbm", SECTION, "a package of the lightgbm flavor",
               f"flavor {package.flavor}")
    ctx.console.print(f"  Registered [bold]{mv.ref}[/]: flavor {package.flavor}, files "
                      f"{', '.join(files)}; requirements include lightgbm "
                      f"{package.environment['requirements'].get('lightgbm')}")
    promoted = promote(registry, MODEL, mv.version, config=GATES, raise_on_failure=False,
                       reason="first LightGBM version")
    failed = [f"{g.name}: {g.reason}" for g in promoted.gates if not g.passed]
    ctx.expect(promoted.promoted, SECTION, "the LightGBM model to pass every gate",
               f"refused: {failed}")
    infra = next(g for g in promoted.gates if g.name == "infra")
    ctx.console.print(f"  Every gate passed; infra: {infra.reason}")
    _serve(ctx, table)
    _reproduce(ctx, result.run_id, project)
    _import_mlflow(ctx, result.pipeline)


def _import_mlflow(ctx: DemoContext, model: object) -> None:
    """Write a small MLflow file store (MLflow's own layout, no MLflow needed) holding one
    run with a LightGBM model, import it, and import it again (nothing new)."""
    from lockgate.registry.mlflow_import import import_mlflow

    uri = str(_mlflow_store(ctx.workdir / "mlruns", model))
    first = import_mlflow(uri, settings=ctx.settings)
    again = import_mlflow(uri, settings=ctx.settings)
    ctx.expect(len(first.imported_runs) == 1 and bool(first.models)
               and list(first.models.values()) == ["lightgbm"], SECTION,
               "one MLflow run imported with its LightGBM model converted",
               f"runs {first.imported_runs}, models {first.models}, skipped {first.skipped}")
    ctx.expect(not again.imported_runs and len(again.already_imported) == 1, SECTION,
               "a second import to bring nothing new", f"it imported {again.imported_runs}")
    run_id = next(iter(first.imported_runs.values()))
    ctx.console.print(f"  Imported an MLflow file store: run {run_id} with its params, "
                      f"metric history, artifact and model (as {first.models}); "
                      f"{', '.join(first.versions)}. Again: nothing new.")
    ctx.hint("Import your own MLflow history",
             "lockgate import mlflow --tracking-uri ./mlruns")


def _absolute(settings: Settings) -> Settings:
    """The same settings with every folder absolute (they are relative to the cwd); an
    ``s3://`` root is already absolute and stays as it is."""
    folders = ("home", "artifact_root", "data_root")
    update: dict[str, Any] = {name: value.resolve() for name in folders
                              if (value := getattr(settings, name)) is not None}
    return dataclasses.replace(settings, **update)  # Settings is a dataclass now


def _serve(ctx: DemoContext, table: str) -> None:
    config = ServeConfig(f"{MODEL}@production", port=0, log_flush_seconds=0.5)
    with BackgroundServer(config, ctx.settings) as server:
        features = server.state.holder.current.schema.features
        row = read(table, settings=ctx.settings).tail(1).to_dicts()[0]
        record = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                  for k, v in row.items() if k in features}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post("/predict", json=record)
    body = answer.json()
    ctx.expect(answer.status_code == 200 and "probability" in body, SECTION,
               "the LightGBM server to answer /predict", f"HTTP {answer.status_code}: {body}")
    ctx.console.print(f"  Served {MODEL}@production: POST /predict -> churned="
                      f"{body['prediction']} (p={body['probability']:.3f}), same API, "
                      "same prediction log")


def _mlflow_store(root: Path, model: object) -> Path:
    """An MLflow file store as MLflow writes it: experiment and run folders of meta.yaml,
    one file per param and tag, ``timestamp value step`` lines per metric, the model as
    an MLmodel folder with LightGBM's native text file, a registered model with an
    alias."""
    import yaml

    shutil.rmtree(root, ignore_errors=True)
    run_id, exp = "0f" * 16, "1"
    run = root / exp / run_id
    now = 1_700_000_000_000
    _write(root / exp / "meta.yaml", yaml.safe_dump({
        "experiment_id": exp, "name": "churn-in-mlflow", "lifecycle_stage": "active",
        "artifact_location": (root / exp).as_uri()}))
    _write(run / "meta.yaml", yaml.safe_dump({
        "run_id": run_id, "run_name": "lgbm-from-mlflow", "experiment_id": exp,
        "status": 3, "start_time": now, "end_time": now + 5000, "lifecycle_stage": "active",
        "artifact_uri": (run / "artifacts").as_uri()}))
    _write(run / "params" / "num_leaves", "15")
    _write(run / "tags" / "mlflow.runName", "lgbm-from-mlflow")
    _write(run / "metrics" / "train_loss",
           "".join(f"{now + i} {v} {i}\n" for i, v in enumerate((0.69, 0.55, 0.47))))
    _write(run / "artifacts" / "notes.txt", "trained in MLflow\n")
    booster = model.steps[-1][1].booster_  # type: ignore[attr-defined]
    folder = run / "artifacts" / "model"
    _write(folder / "model.lgb", booster.model_to_string())
    _write(folder / "MLmodel", yaml.safe_dump({"flavors": {"lightgbm": {
        "data": "model.lgb", "model_class": "lightgbm.basic.Booster"}}, "run_id": run_id}))
    _write(root / "models" / "churn-mlflow" / "meta.yaml", yaml.safe_dump({
        "name": "churn-mlflow", "aliases": {"champion": 1}}))
    _write(root / "models" / "churn-mlflow" / "version-1" / "meta.yaml", yaml.safe_dump({
        "version": 1, "run_id": run_id, "source": folder.as_uri(),
        "storage_location": folder.as_uri()}))
    return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _project(ctx: DemoContext) -> Path | None:
    """A tiny git repository to train in, so the run records a commit to reproduce."""
    if shutil.which("git") is None:
        return None
    project = ctx.workdir / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "train_churn.py").write_text(
        "# The quickstart's LightGBM training (lockgate.demo.flavors); the run records\n"
        "# this repository's commit, which `lockgate reproduce` checks out again.\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "quickstart", "GIT_AUTHOR_EMAIL": "qs@localhost",
           "GIT_COMMITTER_NAME": "quickstart", "GIT_COMMITTER_EMAIL": "qs@localhost"}
    for args in (["init", "-q"], ["add", "train_churn.py"],
                 ["commit", "-q", "--allow-empty", "-m", "quickstart training code"]):
        subprocess.run(["git", "-C", str(project), *args], env=env,  # noqa: S603, S607
                       capture_output=True,
                       check=True, timeout=30)
    return project


def _reproduce(ctx: DemoContext, run_id: str, project: Path | None) -> None:
    if project is None:
        ctx.console.print("  (git is not installed: the run records no commit, so the "
                          "reproduction step is skipped)")
        return
    result = reproduce(run_id, settings=ctx.settings)
    different = [f"{c.kind} {c.name}: {c.verdict} ({c.cause})" for c in result.comparisons
                 if c.verdict not in ("identical", "not_compared")]
    ctx.expect(result.identical, SECTION, "the reproduced training run to match the "
               "original hash for hash", f"{different}")
    counts = result.counts()
    artifacts = sum(1 for c in result.comparisons if c.kind == "artifact")
    ctx.console.print(f"  Reproduced run {run_id} as {result.run_id} from commit "
                      f"{result.code} in a temporary worktree: {artifacts} artifact hashes "
                      f"and {counts.get('identical', 0) - artifacts} metrics identical "
                      f"({counts.get('not_compared', 0)} timings not compared)")
    ctx.results.update(flavors_run_id=run_id, flavors_reproduction=result.run_id)
    ctx.hint("Reproduce it yourself", f"lockgate reproduce {run_id}")
