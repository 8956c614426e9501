"""The main job, end to end: `lockgate quickstart` on embedded defaults in a fresh home,
with every section's outcome checked, and a second run reusing what is already there."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from lockgate.config import Settings
from lockgate.data import read
from lockgate.demo.monitoring import SHIFTED_FEATURES
from lockgate.demo.quickstart import SECTIONS, run_quickstart
from lockgate.registry import Registry
from lockgate.store import Store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str, Settings]:
    home = tmp_path_factory.mktemp("quickstart") / ".lockgate"
    settings = Settings(home=home)
    out = io.StringIO()
    ctx = run_quickstart(settings, Console(file=out, width=120))
    return ctx, out.getvalue(), settings


def test_every_section_runs_in_the_order_of_the_flow(demo) -> None:  # type: ignore[no-untyped-def]
    _, text, _ = demo
    names = [name for name, _ in SECTIONS]
    assert names == ["tracking", "pipelines", "data", "quality", "modeling", "registry",
                     "monitoring", "ui", "retention", "server"]
    assert "quickstart finished" in text
    assert "lockgate ui" in text  # ends by printing the dashboard command


def test_gc_dry_run_explains_every_decision_of_the_quickstart_store(demo) -> None:  # type: ignore[no-untyped-def]
    ctx, text, settings = demo
    report = ctx.results["gc_report"]
    assert report.dry_run and report.decisions and all(d.reason for d in report.decisions)
    name = ctx.results["registry_model"]
    production = Registry(Store.open(settings)).resolve(f"{name}@production")
    assert f"package of {name}@{production.version} (production" in text
    assert "is refused: it trained" in text
    assert "lockgate gc --dry-run" in text and "du total" in text
    assert Store.open(settings).get_run(production.run_id).deleted_at is None


def stage_evidence(store: Store, results: dict) -> list:  # type: ignore[type-arg]
    """The evidence every run of the quickstart leaves, embedded or through a server:
    the tracked run, the cached pipeline steps, and data versions that account for every
    row. Returns the data versions."""
    assert store.get_run(results["tracking_run_id"]).status == "FINISHED"
    second = store.list_runs(parent_id=results["pipeline_cached_run_id"], limit=None)
    assert second and {r.status for r in second} == {"CACHED"}
    versions = store.dataset_versions(results["data_table"])
    assert sum(v.rows_quarantined for v in versions) > 0
    assert all(v.rows_ingested == v.rows_accepted + v.rows_quarantined for v in versions)
    return versions


def test_each_stage_leaves_its_evidence(demo) -> None:  # type: ignore[no-untyped-def]
    ctx, text, settings = demo
    store = Store.open(settings)
    results = ctx.results
    versions = stage_evidence(store, results)
    assert Path(results["quality_report_html"]).is_file()
    latest = [v for v in versions if v.rows_accepted][-1]
    merged = results["quality_partition_profile"]  # per-file profiles, merged
    assert results["quality_partition_files"] >= 1 and "per-file profiles" in text
    assert merged.rows == read(results["data_table"], latest.version, settings=settings).height
    assert "Training gate refused" in text
    assert "blocking target_proxy" in text
    honest = results["train_result"].evaluation
    assert honest.leak_free and honest.beats_baseline
    assert honest.feature_importance, "permutation importance travels with the evaluation"
    registry = Registry(store)
    promoted = registry.get(results["registry_model"],
                            results["registry_versions"]["production"])
    assert promoted.run_id == results["modeling_run_id"]  # the registry section's winner
    # ...until the monitoring section's retrained challenger won, and after its shadow
    # period went to production
    production = registry.resolve(f"{results['registry_model']}@production")
    assert production.version == results["retrained_version"]
    assert "a worse challenger: refused" in text
    assert "422" in text
    assert ("input-drift", "alert") in results["monitoring_alerts"]
    report = json.loads(Path(results["monitoring_report_json"]).read_text())
    assert report["windows"], "the monitoring report covers the windows it measured"
    drift = next(i for i in report["incidents"] if i["rule"] == "input-drift")
    ranked = [f["name"] for f in drift["root_cause"]["features"]]
    assert set(ranked[:SHIFTED_FEATURES]) == set(_shifted_by_the_demo(ctx, settings))


def _champion(ctx) -> str:  # type: ignore[no-untyped-def]
    """The version the monitoring section watched when the drift fired: the registry
    section's production model (the retrained challenger replaces it only later)."""
    return f"{ctx.results['registry_model']}@{ctx.results['registry_versions']['production']}"


def _shifted_by_the_demo(ctx, settings: Settings) -> list[str]:  # type: ignore[no-untyped-def]
    """The numeric features the monitoring section moved: the most important ones."""
    from lockgate.monitoring import watch
    from lockgate.monitoring.root_cause import feature_importance

    model = watch(_champion(ctx), settings)
    importance = feature_importance(model)
    numeric = [f for f in sorted(importance, key=lambda f: -importance[f])
               if model.contract.column(f).is_numeric]
    return numeric[:SHIFTED_FEATURES]


def test_drift_is_weighted_by_the_models_real_importance(demo) -> None:  # type: ignore[no-untyped-def]
    from lockgate.monitoring import watch
    from lockgate.monitoring.root_cause import feature_importance

    ctx, _, settings = demo
    model = watch(_champion(ctx), settings)
    importance = feature_importance(model)
    assert len(set(round(v, 6) for v in importance.values())) > 1, importance


def test_the_retrained_production_model_weights_drift_by_its_own_importance(demo) -> None:  # type: ignore[no-untyped-def]
    """Trained without charts by an estimator without importances, the challenger's
    package still carries permutation importance (computed where it was built)."""
    from lockgate.monitoring import watch
    from lockgate.monitoring.root_cause import model_importance

    ctx, _, settings = demo
    model = watch(f"{ctx.results['registry_model']}@production", settings)
    assert model.version == ctx.results["retrained_version"]
    weights = model_importance(model)
    assert weights.basis == "permutation" and model.importance is not None
    assert len(set(round(v, 6) for v in weights.values.values())) > 1, weights


def test_a_second_quickstart_in_the_same_home_works(demo) -> None:  # type: ignore[no-untyped-def]
    _, _, settings = demo
    out = io.StringIO()
    ctx = run_quickstart(settings, Console(file=out, width=120), only=["data", "pipelines"])
    text = out.getvalue()
    assert "8 of 8 step runs cached" in text
    assert ctx.results["data_table"] == "churn"


def test_progress_and_the_time_each_section_took(demo) -> None:  # type: ignore[no-untyped-def]
    ctx, text, settings = demo
    assert list(ctx.section_seconds) == [name for name, _ in SECTIONS]
    assert all(seconds > 0 for seconds in ctx.section_seconds.values())
    assert "Time per section" in text and "total" in text
    # The training's progress events are in its run's console log, as lines.
    log = Store.open(settings).console(ctx.results["modeling_run_id"])
    assert "[progress] cross-validation folds: done" in log


def test_a_broken_story_fails_the_quickstart_naming_the_section(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The quickstart checks its own story: with labels shuffled the tracked model is
    useless, and `lockgate quickstart` exits 1 naming the section instead of passing."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from lockgate.cli.main import main
    from lockgate.demo import tracking

    def shuffled(return_X_y: bool = True):  # type: ignore[no-untyped-def]
        x, y = load_breast_cancer(return_X_y=True)
        return x, np.random.default_rng(0).permutation(y)

    monkeypatch.setattr(tracking, "load_breast_cancer", shuffled)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    assert main(["quickstart", "--only", "tracking"]) == 1
    err = capsys.readouterr().err
    assert "quickstart section `tracking`: expected a useful model (val_roc_auc > 0.9)" in err
    assert "Traceback" not in err


def test_the_team_server_section_runs_the_clients_monitor_pass_and_scopes_the_dashboard(
        demo) -> None:  # type: ignore[no-untyped-def]
    """The server section's own checks (ctx.expect) passed; its evidence is in the
    server's store: the pass audited as the section's user, the viewer's grant."""
    from lockgate.store import audit

    _, text, settings = demo
    assert "monitor pass run by the server for the client" in text
    assert "(experiment team only): its run HTTP 200" in text and "HTTP 404" in text
    (entry, *_) = audit.entries(Store.open(settings), action="monitor.ran")
    assert entry.actor.startswith("quickstart-") and entry.after["windows"]
