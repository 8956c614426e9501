"""The quickstart's data section and its dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lockgate.config import Settings
from lockgate.data import read
from lockgate.demo import data
from lockgate.demo.context import DemoContext
from lockgate.demo.dataset import churn_frame
from lockgate.store import Store


def test_demo_section(tmp_path: Path, settings: Settings) -> None:
    console = Console(record=True, width=120)
    ctx = DemoContext(settings=settings, store=Store.open(settings), console=console,
                      workdir=tmp_path / "qs")
    data.run(ctx)
    assert ctx.results["data_table"] == "churn"
    assert Path(ctx.results["data_contract_path"]).is_file()
    assert ctx.results["data_versions"] == list(range(7))
    text = console.export_text()
    for reason in ("type:age", "range:monthly_charges", "null:customer_id",
                   "parse:signup_date", "allowed:plan", "regex:email", "duplicate:customer_id"):
        assert reason in text
    assert read("churn_events", settings=settings).height == 5  # the stream story
    plans = read("plans", settings=settings)  # the incremental SQL story
    assert plans.filter(plans["customer_id"] == 2)["plan"].item() == "premium"
    exported = (tmp_path / "qs" / "data" / "churn_quarantine.csv").read_text()
    assert exported.count("\n") == 17 and "range:monthly_charges" in exported
    versions = Store.open(settings).dataset_versions("churn")
    assert sum(v.rows_quarantined for v in versions) == 16
    assert read("churn", settings=settings).height == 3400


def test_demo_data_is_learnable_and_deterministic() -> None:
    a, b = churn_frame(3000, seed=1), churn_frame(3000, seed=1)
    assert a.equals(b)
    x = np.column_stack([a[c].cast(float).to_numpy() for c in
                         ("tenure_months", "support_tickets", "monthly_charges", "age")])
    y = (a["churned"] == "true").to_numpy()
    model = LogisticRegression(max_iter=1000).fit(x[:2000], y[:2000])
    auc = roc_auc_score(y[2000:], model.predict_proba(x[2000:])[:, 1])
    assert 0.25 < y.mean() < 0.75 and auc > 0.75


def test_demo_section_runs_again_in_the_same_home(tmp_path: Path, settings: Settings) -> None:
    for _ in range(2):
        ctx = DemoContext(settings=settings, store=Store.open(settings),
                          console=Console(record=True, width=120), workdir=tmp_path / "qs")
        data.run(ctx)  # each story checks itself with ctx.expect
    assert read("plans_2", settings=settings).height == 4
    assert read("churn_events_2", settings=settings).height == 5
