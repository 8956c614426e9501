"""Splitting from structure: time, group and iid plans, the stable holdout, structure
detection and the refusal of iid splits of structured data."""

from __future__ import annotations

import numpy as np
import pytest

from lockgate.modeling.splitter import SplitError, detect_structure, plan_split
from tests.modeling.datasets import (
    churn,
    churn_contract,
    events,
    events_contract,
    series,
    series_contract,
)


def test_iid_plan_is_stratified_and_the_holdout_is_stable() -> None:
    frame = churn(600)
    plan = plan_split(frame, churn_contract(), n_splits=4, seed=1)
    assert plan.strategy == "iid" and "random holdout" in plan.reason
    assert set(plan.development).isdisjoint(plan.holdout)
    assert len(plan.development) + len(plan.holdout) == frame.height
    assert 0.12 < len(plan.holdout) / frame.height < 0.28
    for fold in plan.folds:
        assert set(fold.train).isdisjoint(fold.test)
        assert set(fold.test) <= set(plan.development)
    other_seed = plan_split(frame, churn_contract(), n_splits=4, seed=99)
    assert np.array_equal(plan.holdout, other_seed.holdout)  # carved once, seed-free
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    again = plan_split(shuffled, churn_contract(), n_splits=4)
    assert set(shuffled["customer_id"].to_numpy()[again.holdout]) == set(
        frame["customer_id"].to_numpy()[plan.holdout])


def test_group_plan_never_splits_an_entity() -> None:
    frame = events()
    plan = plan_split(frame, events_contract(entity="customer_key"), classification=False,
                      n_splits=3)
    keys = frame["customer_key"].to_numpy()
    assert plan.strategy == "group"
    assert set(keys[plan.development]).isdisjoint(keys[plan.holdout])
    for fold in plan.folds:
        assert set(keys[fold.train]).isdisjoint(keys[fold.test])


def test_time_plan_expands_in_time_with_a_gap_and_holds_out_the_end() -> None:
    frame = series()
    plan = plan_split(frame, series_contract(event_time="day"), classification=False,
                      n_splits=3, gap=2)
    day = frame["day"].to_numpy()
    assert plan.strategy == "time"
    assert day[plan.development].max() < day[plan.holdout].min()
    held_days = np.unique(day[plan.holdout])
    assert len(held_days) == 80
    sizes = []
    for fold in plan.folds:
        gap = np.setdiff1d(np.unique(day[(day > day[fold.train].max())
                                         & (day < day[fold.test].min())]), [])
        assert len(gap) == 2
        sizes.append(len(fold.train))
    assert sizes == sorted(sizes)


def test_detects_an_entity_key_and_refuses_iid() -> None:
    hints = detect_structure(events(), events_contract())
    assert [(h.kind, h.column, h.contract_line) for h in hints] == [
        ("entity", "customer_key", "entity: customer_key")]
    with pytest.raises(SplitError, match=r"(?s)Add to the contract: `entity: customer_key`"):
        plan_split(events(), events_contract(), classification=False)


def test_detects_a_trending_time_column() -> None:
    hints = detect_structure(series(), series_contract())
    assert [(h.kind, h.column) for h in hints] == [("time", "day")]


def test_independent_rows_show_no_structure() -> None:
    assert detect_structure(churn(600), churn_contract()) == []


def test_override_is_possible_and_recorded() -> None:
    plan = plan_split(series(), series_contract(), classification=False, n_splits=3,
                      allow_iid="rows are independent days of a simulation")
    assert plan.strategy == "iid"
    assert plan.override == "rows are independent days of a simulation"
    assert "forced by override" in plan.reason
    assert plan.to_dict()["hints"][0]["column"] == "day"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SplitError, match="strategy='random'"):
        plan_split(churn(100), churn_contract(), strategy="random")
    with pytest.raises(SplitError, match="strategy='time' needs an event time"):
        plan_split(churn(100), churn_contract(), strategy="time")
    with pytest.raises(SplitError, match=r"holdout=1\.5"):
        plan_split(churn(100), churn_contract(), holdout=1.5)
    with pytest.raises(SplitError, match="Only 4 distinct `customer_key` values"):
        plan_split(events(n_entities=5), events_contract(entity="customer_key"),
                   classification=False, n_splits=5)
