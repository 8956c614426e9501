"""Contracts that live: infer with roles, apply a fixed contract in place, re-ingest the
same file under it, and train under it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.cli.main import main
from lockgate.config import Settings
from lockgate.data import Contract, ContractError, contract_for, ingest, read, versions
from lockgate.data.contract_versions import apply_contract

CSV = ("order_id,amount,ordered_at,channel,email\n1,10,2025-01-01,web,a@b\n"
       "2,20,2025-01-01,app,c@d\n3,7,2025-01-02,shop,e@f\n")


def test_apply_fix_reingest_same_file(tmp_path: Path, settings: Settings,
                                      orders: Contract) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    first = ingest(path, "orders", orders, settings=settings)
    assert first.reasons == {"allowed:channel": 1}
    fixed = orders.with_changes(version="2", columns=tuple(
        c if c.name != "channel" else c.__class__("channel", "category",
                                                    allowed=("web", "shop", "app"))
        for c in orders.columns))
    with pytest.raises(ContractError, match="already has contract v1"):
        apply_contract("orders", orders, settings=settings)
    applied = apply_contract("orders", fixed, revalidate=True, settings=settings)
    assert applied.previous_version == "1" and applied.failing == {}
    assert contract_for("orders", settings=settings).version == "2"
    assert applied.dataset_version.validation_status == "passed"
    again = ingest(path, "orders", settings=settings)  # same file, new contract: it lands
    assert again.created and (again.accepted, again.deduplicated) == (1, 2)
    assert sorted(read("orders", settings=settings)["order_id"]) == [1, 2, 3]
    assert [v.contract_version for v in versions("orders", settings=settings)] == \
        ["1", "2", "2"]
    same = ingest(path, "orders", settings=settings)
    assert not same.created


def test_revalidation_reports_landed_rows_that_fail(tmp_path: Path, settings: Settings,
                                                    orders: Contract) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    ingest(path, "orders", orders, settings=settings)
    stricter = orders.with_changes(version="2", columns=tuple(
        c if c.name != "amount" else c.__class__("amount", "float", min=0, max=15)
        for c in orders.columns))
    applied = apply_contract("orders", stricter, revalidate=True, settings=settings)
    assert applied.failing == {}  # row 2 (amount 20) was quarantined, never landed
    tighter = stricter.with_changes(version="3", columns=tuple(
        c if c.name != "amount" else c.__class__("amount", "float", min=0, max=8)
        for c in orders.columns))
    applied = apply_contract("orders", tighter, revalidate=True, settings=settings)
    assert applied.failing == {"range:amount": 1}
    assert applied.dataset_version.validation_status == "failed"


def test_cli_infer_apply_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    data = tmp_path / "orders.csv"
    data.write_text(CSV.replace(",", ";"))
    assert main(["contract", "infer", str(data), "--table", "orders", "--primary-key",
                 "order_id", "--event-time", "ordered_at", "--target", "amount"]) == 0
    text = capsys.readouterr().out
    contract = Contract.from_dict(__import__("yaml").safe_load(text))
    assert contract.primary_key == ("order_id",) and contract.target == "amount"
    assert contract.event_time == "ordered_at"
    draft = tmp_path / "orders.yaml"
    draft.write_text(text)
    assert main(["ingest", str(data), "-t", "orders", "-c", str(draft)]) == 0
    draft.write_text(text.replace("version: '1'", "version: '2'"))
    assert main(["contract", "apply", "orders", str(draft), "--revalidate"]) == 0
    assert "contract v1 -> v2" in capsys.readouterr().out
    assert main(["data", "versions", "orders", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [v["contract_version"] for v in found] == ["1", "2"]
    assert found[-1]["contract_change"]["revalidated"] is True
    assert main(["contract", "infer", str(data), "--target", "nope"]) == 1
    assert "--target `nope` is not a column" in capsys.readouterr().err


def test_train_uses_the_contract_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`lockgate train T --contract C`: a column marked `feature: false` in C is not used."""
    import random

    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    rng = random.Random(0)
    lines = ["id,x,noise,y"]
    for i in range(300):  # x is informative, not a copy of the label (a leak)
        x = rng.random()
        lines.append(f"{i},{x:.3f},{rng.random():.3f},{int(x + rng.gauss(0, 0.35) > 0.5)}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    contract = Contract.from_dict({
        "table": "d", "primary_key": ["id"], "target": "y",
        "columns": [{"name": "id", "type": "int"}, {"name": "x", "type": "float"},
                    {"name": "noise", "type": "float"},
                    {"name": "y", "type": "int", "allowed": [0, 1]}]})
    (tmp_path / "d.yaml").write_text(contract.to_yaml())
    assert main(["ingest", str(tmp_path / "d.csv"), "-t", "d", "-c",
                 str(tmp_path / "d.yaml")]) == 0
    (tmp_path / "d2.yaml").write_text(contract.to_yaml().replace(
        "- name: noise\n  type: float", "- name: noise\n  type: float\n  feature: false"))
    capsys.readouterr()
    assert main(["train", "d", "--estimator", "logistic", "--contract",
                 str(tmp_path / "d2.yaml"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["evaluation"]
    importance = json.dumps(record["feature_importance"])
    assert '"x"' in importance and "noise" not in importance
