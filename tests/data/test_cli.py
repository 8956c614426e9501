"""The CLI: ingest with a summary, data tables/versions/show/quarantine, contract infer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.cli.main import main
from lockgate.data import Contract

CSV = ("order_id,amount,ordered_at,channel,email\n1,10,2025-01-01,web,a@b\n"
       "2,-5,2025-01-01,web,a@b\n3,7,2025-01-02,shop,c@d\n")


@pytest.fixture
def files(tmp_path: Path, orders: Contract, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / ".lockgate"))
    (tmp_path / "orders.csv").write_text(CSV)
    (tmp_path / "orders.yaml").write_text(orders.to_yaml())
    return tmp_path


def test_ingest_and_inspect(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(files / "orders.csv"), "--table", "orders",
                 "--contract", str(files / "orders.yaml")]) == 0
    out = capsys.readouterr().out
    assert "orders@v0" in out and "accepted 2" in out and "quarantined 1" in out
    assert "range:amount" in out
    assert main(["ingest", str(files / "orders.csv"), "--table", "orders"]) == 0
    assert "Already ingested" in capsys.readouterr().out
    assert main(["data", "tables", "--json"]) == 0
    tables = json.loads(capsys.readouterr().out)
    assert tables[0]["table"] == "orders" and tables[0]["quarantined"] == 1
    assert main(["data", "versions", "orders", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reasons"] == {"range:amount": 1}
    assert main(["data", "show", "orders@v0", "--json"]) == 0
    assert sorted(r["order_id"] for r in json.loads(capsys.readouterr().out)) == [1, 3]
    assert main(["data", "quarantine", "orders"]) == 0
    out = capsys.readouterr().out
    assert "range:amount" in out and "--release" in out
    assert main(["data", "quarantine", "orders", "--release", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["released"] == 0


def test_errors_are_messages_not_tracebacks(files: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(files / "orders.csv"), "--table", "orders"]) == 1
    err = capsys.readouterr().err
    assert "No contract for table `orders`" in err and "Traceback" not in err
    assert main(["data", "show", "orders@x"]) == 1
    assert "Bad version in 'orders@x'" in capsys.readouterr().err
    assert main(["data", "versions", "nope"]) == 1
    assert "No table `nope`" in capsys.readouterr().err


def test_contract_infer_marks_guesses(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", "infer", str(files / "orders.csv")]) == 0
    text = capsys.readouterr().out
    assert "# GUESS: type int" in text and "# GUESS: `order_id` is unique and non-null" in text
    (files / "draft.yaml").write_text(text)
    draft = Contract.from_yaml(files / "draft.yaml")
    assert draft.column("ordered_at").type == "date"
    assert draft.primary_key == ("order_id",) and draft.event_time == "ordered_at"
    assert main(["contract", "check", str(files / "draft.yaml")]) == 0


def test_ingest_in_chunks_stores_the_merged_chunk_profiles(
        files: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import lockgate.quality.stored_profile as stored_profile
    from lockgate.config import load_settings
    from lockgate.data import chunk_reader, read
    from lockgate.quality import batch_profile_for, profile_for
    from lockgate.quality.profile import profile

    def never(*args: object) -> None:
        raise AssertionError("the batch was read back to be profiled")

    monkeypatch.setattr(chunk_reader, "CHUNK_BYTES", 1024)
    monkeypatch.setattr(stored_profile, "_compute", never)
    rows = "".join(f"{i},{i % 90 + 0.5},2025-01-0{1 + i % 9},{'web' if i % 3 else 'shop'},"
                   f"u{i}@x\n" for i in range(10, 400))
    (files / "big.csv").write_text(CSV + rows)
    assert main(["ingest", str(files / "big.csv"), "--table", "orders",
                 "--contract", str(files / "orders.yaml"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accepted"] + result["quarantined"] == result["ingested"] == 393
    settings = load_settings()
    stored = batch_profile_for("orders", 0, settings=settings)
    whole = profile(read("orders", settings=settings))
    assert stored.rows == whole.rows == 392
    assert stored.columns["amount"].count == whole.columns["amount"].count
    assert abs(stored.columns["amount"].mean - whole.columns["amount"].mean) < 1e-9
    assert profile_for("orders", 0, settings=settings).rows == 392
