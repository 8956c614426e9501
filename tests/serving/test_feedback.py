"""Feedback that can be trusted: labels checked against the target's type and classes,
the latest label per request id winning (within and across requests); and
the request schema accepting the source spellings (aliases) ingestion accepts."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import httpx
import pytest
from lockgate_model_cases import CONTRACT, make_frame, train_run, wait_for

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.registry import Registry
from lockgate.serving import BackgroundServer, ServeConfig, join_feedback, read_feedback
from lockgate.serving.feedback import LabelRule, label_rule

GOOD = {"age": 40, "income": 52000.0, "tenure": 3.5}


@pytest.fixture(scope="module")
def aliased(world: tuple[Settings, Registry]) -> Iterator[BackgroundServer]:
    """`aliased@1`: the churn model under a contract whose columns have source aliases."""
    settings, registry = world
    contract = copy.deepcopy(CONTRACT)
    for column in contract["columns"]:
        if column["name"] == "tenure":
            column["aliases"] = ["tenure_months", "TenureMonths"]
        if column["name"] == "income":
            column["aliases"] = ["yearly_income"]
    trained = train_run(settings, make_frame(), name="aliased")
    registry.register("aliased", trained.run_id, contract=contract,
                      reference_profile={"columns": {}, "rows": 0}, holdout=trained.holdout)
    config = ServeConfig("aliased@1", port=0, log_flush_seconds=0.2)
    with BackgroundServer(config, settings) as running:
        yield running


def _ids(server: BackgroundServer, n: int) -> list[str]:
    body = httpx.post(f"{server.url}/predict", json={"records": [GOOD] * n}).json()
    return [p["request_id"] for p in body["predictions"]]


def test_a_label_that_is_no_class_of_the_target_is_422(server: BackgroundServer) -> None:
    (rid,) = _ids(server, 1)
    for label in ("benignn", "2", 2, True):
        response = httpx.post(f"{server.url}/feedback", json={"request_id": rid,
                                                              "label": label})
        assert response.status_code == 422, label
        assert response.json()["detail"][0]["field"] == "label"


def test_a_class_is_accepted_as_text_or_as_its_json_value(server: BackgroundServer,
                                                          world: tuple[Settings, Registry]
                                                          ) -> None:
    settings, _ = world
    first, second = _ids(server, 2)
    response = httpx.post(f"{server.url}/feedback", json={"items": [
        {"request_id": first, "label": 1}, {"request_id": second, "label": "0"}]})
    assert response.status_code == 200 and response.json() == {"accepted": 2}

    def joined() -> dict[str, str]:
        try:
            frame = join_feedback(settings, "churn")
        except Exception:
            return {}
        return dict(zip(frame["request_id"], frame["label"], strict=True))

    wait_for(lambda: {first, second} <= set(joined()))
    assert joined()[first] == "1" and joined()[second] == "0"  # the served spelling


def test_one_request_id_twice_in_one_request_keeps_the_later_label(
        server: BackgroundServer, world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    (rid,) = _ids(server, 1)
    response = httpx.post(f"{server.url}/feedback", json={"items": [
        {"request_id": rid, "label": "1"}, {"request_id": rid, "label": "0"}]})
    assert response.status_code == 200 and response.json() == {"accepted": 1}

    def stored() -> list[str]:
        try:
            frame = read_feedback(settings, "churn")
        except Exception:
            return []
        return frame.filter(frame["request_id"] == rid)["label"].to_list()

    wait_for(lambda: stored() != [])
    assert stored() == ["0"]


def test_a_later_label_corrects_an_earlier_one(server: BackgroundServer,
                                               world: tuple[Settings, Registry]) -> None:
    settings, _ = world
    (rid,) = _ids(server, 1)
    assert httpx.post(f"{server.url}/feedback", json={"request_id": rid,
                                                      "label": "0"}).status_code == 200
    assert httpx.post(f"{server.url}/feedback", json={"request_id": rid,
                                                      "label": "1"}).status_code == 200

    def label() -> str | None:
        try:
            frame = join_feedback(settings, "churn")
        except Exception:
            return None
        rows = frame.filter(frame["request_id"] == rid)
        return rows["label"][0] if rows.height else None

    wait_for(lambda: label() == "1")


@pytest.mark.parametrize(("rule", "value", "expected"), [
    (LabelRule("churned", "bool", ("False", "True")), "yes", "True"),
    (LabelRule("churned", "bool", ("False", "True")), False, "False"),
    (LabelRule("plan", "category", ("basic", "premium")), "premium", "premium"),
    (LabelRule("amount", "float", (), True, 0.0, 10.0), 2, 2.0),
])
def test_label_rule_accepts_and_spells(rule: LabelRule, value: object, expected: object
                                       ) -> None:
    assert rule.check(value) == (expected, None)


@pytest.mark.parametrize(("rule", "value", "message"), [
    (LabelRule("kind", "category", ("benign", "malignant")), "benignn",
     "label `benignn` is not a class of target `kind` (did you mean `benign`?); expected "
     "one of: benign, malignant"),
    (LabelRule("churned", "bool", ("False", "True")), "maybe",
     "label 'maybe' is not a bool value of target `churned`"),
    (LabelRule("amount", "float", (), True, 0.0, 10.0), 11.0,
     "label 11.0 is outside the contract's range [0.0, 10.0] of target `amount`"),
    (LabelRule("amount", "float", (), True), float("nan"),
     "label nan is not a finite number (target `amount`)"),
])
def test_label_rule_refuses_with_the_reason(rule: LabelRule, value: object, message: str
                                            ) -> None:
    assert rule.check(value) == (None, message)


def test_contract_allowed_values_win_over_the_model_classes() -> None:
    contract = Contract.from_dict({"table": "t", "target": "kind", "columns": [
        {"name": "kind", "type": "category", "allowed": ["benign", "malignant", "unknown"]}]})
    rule = label_rule(contract, ["benign", "malignant"], "binary")
    assert rule.classes == ("benign", "malignant", "unknown")


def test_source_aliases_are_accepted_as_at_ingestion(aliased: BackgroundServer) -> None:
    record = {"age": 40, "Yearly Income": 52000.0, "TenureMonths": 3.5}
    response = httpx.post(f"{aliased.url}/predict", json=record)
    assert response.status_code == 200, response.text
    batch = httpx.post(f"{aliased.url}/predict",
                       json={"records": [record, {**GOOD, "tenure_months": None}]})
    assert batch.status_code == 422  # tenure and its alias both given: ambiguous
    assert {e["field"] for e in batch.json()["detail"]} == {"records.1.tenure_months"}
    same = httpx.post(f"{aliased.url}/predict", json=GOOD).json()
    assert same["probability"] == response.json()["probability"]
