"""Per-file statistics in a commit must bound the file's values, or a reader filtering
on them (the monitor reading a span of ``logged_at``) skips rows it should read."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from lockgate.data.table import file_stats


def _parse(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def test_timestamp_bounds_are_rounded_outward_to_the_millisecond() -> None:
    values = [dt.datetime(2026, 12, 2, 10, 0, 0, 123_456, tzinfo=dt.UTC),
              dt.datetime(2026, 12, 2, 10, 0, 5, 999_999, tzinfo=dt.UTC), None]
    frame = pl.DataFrame({"at": values, "n": [3, -1, None]},
                         schema={"at": pl.Datetime("us", "UTC"), "n": pl.Int64})
    stats = file_stats(frame, ["at", "n"])
    assert stats["numRecords"] == 3
    assert _parse(stats["minValues"]["at"]) <= values[0]
    assert _parse(stats["maxValues"]["at"]) >= values[1]
    assert stats["maxValues"]["at"] == "2026-12-02T10:00:06.000Z"
    assert (stats["minValues"]["n"], stats["maxValues"]["n"]) == (-1, 3)
    assert stats["nullCount"] == {"at": 1, "n": 1}


def test_a_timestamp_without_a_time_zone_is_refused_not_read_as_local_time() -> None:
    frame = pl.DataFrame({"at": [dt.datetime(2026, 12, 2, 10)]})
    with pytest.raises(ValueError, match="need a time zone"):
        file_stats(frame, ["at"])
