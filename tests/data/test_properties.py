"""Property: random bad values through the CSV path never crash, and every row is
accounted for (ingested == accepted + quarantined, and the rows are really there)."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockgate.config import Settings
from lockgate.data import ColumnSpec, Contract, ingest, quarantined, read

CONTRACT = Contract(
    "prop", "1",
    (ColumnSpec("id", "int", nullable=False), ColumnSpec("x", "float", min=-1e6, max=1e6),
     ColumnSpec("flag", "bool"), ColumnSpec("day", "date"), ColumnSpec("at", "datetime"),
     ColumnSpec("kind", "category", allowed=("a", "b")),
     ColumnSpec("name", "string", regex=r"^\w+$", max_length=8)),
    primary_key=("id",), on_duplicate="keep_first", on_schema_change="quarantine",
)
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
_value = st.one_of(_text, st.integers().map(str), st.floats().map(str),
                   st.sampled_from(["", "NA", "null", "true", "2024-02-30", "1e309", "a",
                                    "2024-01-01T00:00:00Z", " 7 ", "-0", "NaN"]))
_row = st.fixed_dictionaries({c.name: _value for c in CONTRACT.columns})
_counter = itertools.count()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=40))
def test_random_bad_values_are_all_accounted_for(tmp_path: Path, rows: list[dict]) -> None:
    home = tmp_path / f"h{next(_counter)}"
    conf = Settings(home=home)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CONTRACT.column_names)
    writer.writeheader()
    writer.writerows(rows)
    path = home / "in.csv"
    home.mkdir(parents=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = ingest(path, "prop", CONTRACT, settings=conf)
    assert result.ingested + result.deduplicated == len(rows)  # copies set aside
    assert result.ingested == result.accepted + result.quarantined
    assert read("prop", settings=conf).height == result.accepted
    held = quarantined("prop", settings=conf)
    assert held.height == result.quarantined
    assert all(len(r) > 0 for r in held["reasons"])
    assert sorted(held["row"].to_list()) == sorted(set(held["row"].to_list()))
