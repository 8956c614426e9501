"""Retraining is recommended on evidence (measured degradation, or before labels the
drift of the most important features), and not on drift alone."""

from __future__ import annotations

from lockgate.config import Settings
from lockgate.monitoring import RetrainSpec, WatchedModel, recommend, retrain
from lockgate.monitoring.retraining import RetrainingDecision
from lockgate.monitoring.root_cause import FeatureCause

FEATURES = [FeatureCause("amount", 0.5, True, 0.7, 0.5),
            FeatureCause("tenure", 0.6, True, 0.02, 0.02),
            FeatureCause("age", 0.01, False, 0.28, 0.0)]


def test_measured_degradation_recommends() -> None:
    decision = recommend({"n_labeled": 200}, ("accuracy", 0.2), FEATURES, tolerance=0.05,
                         top_features=2)
    assert decision.recommended and decision.basis == "performance"
    assert "accuracy is 0.200 worse" in decision.reason


def test_drift_alone_does_not_recommend_when_labels_say_fine() -> None:
    decision = recommend({"n_labeled": 200}, ("accuracy", 0.01), FEATURES, tolerance=0.05,
                         top_features=2)
    assert not decision.recommended
    assert "drift alone does not warrant retraining" in decision.reason


def test_before_labels_important_drift_recommends() -> None:
    decision = recommend({"n_labeled": 3}, (None, None), FEATURES, tolerance=0.05,
                         top_features=2)
    assert decision.recommended and decision.basis == "important_drift"
    assert decision.evidence["important_drifted"] == ["amount"]


def test_before_labels_unimportant_drift_does_not() -> None:
    quiet = [FeatureCause("amount", 0.01, False, 0.7, 0.0),
             FeatureCause("tenure", 3.0, True, 0.02, 0.06)]
    decision = recommend({"n_labeled": 0}, (None, None), quiet, tolerance=0.05,
                         top_features=1)
    assert not decision.recommended and "none of the 1 most important" in decision.reason


def test_not_recommended_means_nothing_runs(settings: Settings, model: WatchedModel) -> None:
    ran: list[str] = []
    outcome = retrain(model, RetrainSpec("p.py:train"),
                      RetrainingDecision(False, "none", "fine"), settings=settings,
                      runner=lambda ref, params: ran.append(ref) or "x")
    assert not outcome.triggered and ran == [] and not outcome.gated


def test_a_run_without_a_model_is_reported_not_raised(settings: Settings,
                                                     model: WatchedModel) -> None:
    from lockgate.tracking import start_run

    def runner(ref: str, params: dict) -> str:
        with start_run("empty", settings=settings, capture_console=False,
                       sample_hardware=False, capture_code=False) as run:
            run.log_param("ref", ref)
        return run.id

    outcome = retrain(model, RetrainSpec("p.py:train"),
                      RetrainingDecision(True, "performance", "worse"), settings=settings,
                      runner=runner)
    assert outcome.triggered and not outcome.gated
    assert "logged no `model` and `evaluation` artifacts" in (outcome.error or "")


def test_a_named_pipeline_retrains_and_the_gates_decide(settings: Settings,
                                                        tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lockgate.monitoring import watch
    from lockgate.registry import Registry
    from lockgate.store import Store
    from tests.monitoring.monitoring_cases import PIPELINE_FILE, register_served

    champion = register_served(settings)
    store = Store.open(settings)
    v2 = store.dataset_version("orders", 2)
    path = tmp_path / "retrain_pipelines.py"
    path.write_text(PIPELINE_FILE)
    model = watch("churn@production", settings)
    outcome = retrain(model, RetrainSpec(f"{path}:retrain",
                                         {"fit": {"dataset_version_id": v2.id}}),
                      RetrainingDecision(True, "performance", "accuracy fell"),
                      settings=settings)
    assert outcome.error is None, outcome.error
    assert outcome.triggered and outcome.gated and outcome.pipeline_run_id
    assert outcome.training_run_id != outcome.pipeline_run_id  # the step run
    registry = Registry(store, settings)
    assert registry.alias_version("churn", "production") == champion
    new = registry.get("churn", outcome.model_version)
    assert new.stage == ("staging" if outcome.promoted_to == "staging" else "candidate")
    assert {g["name"] for g in outcome.gates} >= {"data_validated", "champion_challenger"}


def test_a_failing_pipeline_is_reported(settings: Settings, model: WatchedModel,
                                        tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken_pipelines.py"
    path.write_text("from lockgate.pipelines import Pipeline, node\n"
                    "def boom():\n    raise ValueError('no data today')\n"
                    "def retrain():\n    return Pipeline('broken', [node(boom, outputs='x')])\n")
    outcome = retrain(model, RetrainSpec(f"{path}:retrain"),
                      RetrainingDecision(True, "performance", "worse"), settings=settings)
    assert outcome.triggered and not outcome.gated
    assert "ended FAILED" in (outcome.error or "") and "lockgate pipelines show" in outcome.error
