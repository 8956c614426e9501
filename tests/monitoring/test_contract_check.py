"""Live contract checks speak the door's vocabulary (``null:``, ``length:``, ...), and
windows stored under the names monitoring used before (``not_null:``, ``max_length:``)
still read with the door's names."""

from __future__ import annotations

import dataclasses

import polars as pl
import sqlalchemy as sa

from lockgate.config import Settings
from lockgate.data.contract import Contract
from lockgate.data.validation import compile_checks
from lockgate.monitoring import WatchedModel, parse_config, run_monitor, window_history
from lockgate.monitoring.contract_check import check_expressions, count_violations
from lockgate.store import Store
from lockgate.store.tables_monitoring import monitor_buckets, monitor_windows
from tests.monitoring.monitoring_cases import BASE, CONTRACT, make_frame

STRICT = Contract.from_dict({"table": "people", "version": "1", "columns": [
    {"name": "name", "type": "string", "nullable": False, "max_length": 5,
     "regex": "[a-z]+"},
    {"name": "plan", "type": "category", "allowed": ["a", "b"], "nullable": False},
    {"name": "score", "type": "float", "min": 0.0, "max": 1.0, "nullable": False}]})


def test_every_live_check_has_the_name_the_door_gives_it() -> None:
    live = set(check_expressions(STRICT, ["name", "plan", "score"]))
    door = {check.name for check in compile_checks(STRICT)}
    assert live == {"null:name", "length:name", "regex:name", "null:plan", "allowed:plan",
                    "null:score", "range:score"}
    assert live <= door, f"names only monitoring uses: {sorted(live - door)}"


def test_a_frame_breaking_the_contract_is_counted_under_the_door_names() -> None:
    frame = pl.DataFrame({"name": ["ann", None, "toolongname", "Bob"],
                          "plan": ["a", "c", None, "b"], "score": [0.5, 2.0, None, 0.1]})
    counts = count_violations(frame, STRICT)
    assert {k: v for k, v in counts.items() if v} == {
        "null:name": 1, "length:name": 1, "regex:name": 1, "allowed:plan": 1,
        "null:plan": 1, "range:score": 1, "null:score": 1, "__any__": 3}


def _store_in_the_old_form(settings: Settings, model_name: str) -> None:
    """Rewrite what the monitor stored as the previous release wrote it."""
    old = {'"null:': '"not_null:', '"length:': '"max_length:'}
    store = Store.open(settings)
    for table, column in ((monitor_buckets, "profile"), (monitor_windows, "details")):
        with store.read() as conn:
            rows = list(conn.execute(sa.select(table.c.id, table.c[column]).where(
                table.c.model_name == model_name)))
        assert rows
        for row_id, text in rows:
            for new, previous in old.items():
                text = text.replace(new, previous)
            assert "not_null:age" in text and "max_length:country" in text
            store.execute_write(sa.update(table).where(table.c.id == row_id).values(
                {column: text}))


def test_a_window_stored_with_the_old_names_reads_with_the_door_names(
        settings: Settings, model: WatchedModel, log_predictions) -> None:  # type: ignore[no-untyped-def]
    spec = CONTRACT.to_dict()
    for column in spec["columns"]:
        if column["name"] == "age":
            column["nullable"] = False
        if column["name"] == "country":
            column["max_length"] = 2
            column["allowed"] = ["US", "DE", "FR", "USA"]
    model = dataclasses.replace(model, contract=Contract.from_dict(spec))
    frame = make_frame(200, seed=50).with_columns(
        pl.when(pl.int_range(200) < 30).then(pl.lit("USA")).otherwise(pl.col("country"))
        .alias("country"))
    log_predictions(model, frame, start=BASE, seconds=3600)
    config = parse_config({"bucket": "10m", "window": "1h", "rules": []})
    first = run_monitor(model, settings=settings, config=config, end=BASE + 3600)
    assert first.windows[3600.0].violations["length:country"] == 30
    _store_in_the_old_form(settings, model.name)

    again = run_monitor(model, settings=settings, config=config, end=BASE + 3600)
    violations = again.windows[3600.0].violations  # merged from the stored buckets
    assert violations["length:country"] == 30 and violations["null:age"] == 0
    assert not [k for k in violations if k.startswith(("not_null:", "max_length:"))]
    history = window_history(Store.open(settings), model.name)
    assert len(history) == 2
    for window in history:  # the first was stored in the old form, the second anew
        names = set(window["details"]["violations"])
        assert {"length:country", "null:age"} <= names
        assert not names & {"max_length:country", "not_null:age"}
