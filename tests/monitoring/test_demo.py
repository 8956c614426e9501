"""The quickstart's monitoring section, after the sections it builds on: the demo table
is ingested, a model is trained by lockgate.modeling and is in production."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from lockgate.config import Settings
from lockgate.demo import data as data_section
from lockgate.demo import monitoring as monitoring_section
from lockgate.demo.context import DemoContext
from lockgate.store import Store


def _production_model(ctx: DemoContext) -> None:
    """What the registry section leaves behind: a trained model in production."""
    from sklearn.linear_model import LogisticRegression

    from lockgate.data import contract_for, read
    from lockgate.modeling.training import train
    from lockgate.quality import profile
    from lockgate.registry import Registry

    table = ctx.results["data_table"]
    result = train(table, LogisticRegression(max_iter=500), settings=ctx.settings,
                   experiment="quickstart")
    dataset = result.evaluation.dataset
    reference = profile(read(table, dataset["version"], settings=ctx.settings),
                        contract=contract_for(table, dataset["version"], settings=ctx.settings))
    registry = Registry(ctx.store, ctx.settings)
    mv = registry.register("churn", result.run_id, contract=contract_for(
        table, dataset["version"], settings=ctx.settings), reference_profile=reference.to_dict())
    registry.transition("churn", mv.version, "production", action="promote",
                        reason="test setup")
    ctx.results["registry_model"] = "churn"


def test_monitoring_section(settings: Settings) -> None:
    output = io.StringIO()
    ctx = DemoContext(settings=settings, store=Store.open(settings),
                      console=Console(file=output, width=160), workdir=settings.home / "qs")
    ctx.workdir.mkdir(parents=True)
    data_section.run(ctx)
    _production_model(ctx)
    monitoring_section.run(ctx)
    text = output.getvalue()
    assert "clean traffic" in text and "no new alert" in text
    assert "ALERT input-drift" in text and "root cause:" in text
    assert "ALERT live-performance" in text
    # nothing was ingested since training: retraining would reproduce the champion
    assert "no new data since" in text and "retraining would reproduce the champion" in text
    assert "Labels became data: _labeled_churn@v0" in text
    assert "labeled rows of _labeled_churn@v0" in text and "held back for the replay" in text
    assert ("input-drift", "alert") in ctx.results["monitoring_alerts"]
    assert ("live-performance", "alert") in ctx.results["monitoring_alerts"]
    assert (ctx.workdir / "monitoring-churn.html").is_file()


def test_the_section_fails_naming_the_drift_alert_that_did_not_fire(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The section checks its own story: with the drift rule's threshold out of reach
    the drifted traffic raises no alert, and the section stops with a QuickstartError
    naming the missing alert instead of carrying on."""
    from lockgate.demo.context import QuickstartError

    def unreachable(raw):  # type: ignore[no-untyped-def]
        for rule in raw["rules"]:
            if rule["name"] == "input-drift":
                rule["threshold"] = 2.0  # a share of drifted features never exceeds 1
        return parse(raw)

    parse = monitoring_section.parse_config
    monkeypatch.setattr(monitoring_section, "parse_config", unreachable)
    ctx = DemoContext(settings=settings, store=Store.open(settings),
                      console=Console(file=io.StringIO(), width=160),
                      workdir=settings.home / "qs")
    ctx.workdir.mkdir(parents=True)
    data_section.run(ctx)
    _production_model(ctx)
    with pytest.raises(QuickstartError, match="expected the input-drift alert on the "
                                              r"drifted traffic, but alerts fired: \[\]"):
        monitoring_section.run(ctx)
