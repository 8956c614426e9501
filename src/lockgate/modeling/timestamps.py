"""Timestamps hidden in columns that are not typed as time: strings in the common
non-ISO formats (day-first, month-first, month names) and epoch numbers.

Why: an undeclared time axis is the most common source of temporal leakage. A table that
stores its dates as ``"31/12/2020"`` or as epoch seconds looks like strings or numbers,
so a random split mixes past and future. Modeling reads such columns as times only to
find the structure and split by it; parsing at ingestion (contract ``formats:``) is the
data stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

#: Formats tried on string columns, in order (day-first before month-first: most of the
#: world writes the day first; a column whose first field exceeds 12 settles it).
STRING_FORMATS = (
    "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%Y", "%Y/%m/%d",
    "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%d-%b-%Y",
    "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M", "%d %b %Y %H:%M", "%Y%m%d",
)
#: Epoch ranges accepted (2001-09 .. 2039-09): seconds, milliseconds, microseconds.
EPOCH_UNITS = (("s", 1e9, 2.2e9), ("ms", 1e12, 2.2e12), ("us", 1e15, 2.2e15))
_MIN_PARSED = 0.98   # share of non-null values a format must parse
_MIN_ROWS = 10


@dataclass(frozen=True, slots=True)
class ParsedTime:
    """A column read as time: how it was read, and the values (UTC, microseconds)."""

    column: str
    how: str            # "datetime", "iso", a strptime format, or "epoch_s" / "epoch_ms" / ...
    values: pl.Series   # Datetime("us"), nulls where a value did not parse
    ambiguous: bool = False  # day-first and month-first both parse every value

    @property
    def described(self) -> str:
        kind = ("epoch " + self.how.removeprefix("epoch_")) if self.how.startswith("epoch_") \
            else f"format {self.how}"
        return f"`{self.column}` ({kind}{', day/month ambiguous' if self.ambiguous else ''})"


def parse_time(series: pl.Series) -> ParsedTime | None:
    """The column read as time, or None when it does not hold timestamps."""
    dtype = series.dtype
    if dtype.is_temporal():
        return ParsedTime(series.name, "datetime", series.cast(pl.Datetime("us")))
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return _parse_strings(series.cast(pl.String))
    if dtype.is_numeric() and dtype != pl.Boolean:
        return _parse_epoch(series)
    return None


def _parse_strings(series: pl.Series) -> ParsedTime | None:
    values = series.drop_nulls().str.strip_chars()
    if values.len() < _MIN_ROWS:
        return None
    sample = values.head(2000)
    if not sample.str.contains(r"\d").all():
        return None
    if sample.str.contains(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?").all():
        for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                    "%Y-%m-%d %H:%M", "%Y-%m-%d"):
            if _share_parsed(sample, fmt) >= _MIN_PARSED:
                return ParsedTime(series.name, "iso", series.str.strip_chars().str.strptime(
                    pl.Datetime("us"), fmt, strict=False))
    fits = [f for f in STRING_FORMATS if _share_parsed(sample, f) >= _MIN_PARSED]
    if not fits:
        return None
    chosen = fits[0]
    swapped = chosen.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    ambiguous = swapped != chosen and swapped in fits
    parsed = series.str.strip_chars().str.strptime(pl.Datetime("us"), chosen, strict=False)
    if parsed.drop_nulls().len() < _MIN_PARSED * values.len():
        return None
    return ParsedTime(series.name, chosen, parsed, ambiguous)


def _share_parsed(sample: pl.Series, fmt: str) -> float:
    parsed = sample.str.strptime(pl.Datetime("us"), fmt, strict=False)
    return 1.0 - parsed.null_count() / max(sample.len(), 1)


def _parse_epoch(series: pl.Series) -> ParsedTime | None:
    values = series.drop_nulls().cast(pl.Float64)
    if values.len() < _MIN_ROWS or values.n_unique() < max(_MIN_ROWS, 0.05 * values.len()):
        return None
    lo, hi = values.min(), values.max()
    for unit, low, high in EPOCH_UNITS:
        if low <= lo and hi <= high:  # type: ignore[operator]
            scale = {"s": 1e6, "ms": 1e3, "us": 1.0}[unit]
            micros = (series.cast(pl.Float64) * scale).round(0).cast(pl.Int64)
            return ParsedTime(series.name, f"epoch_{unit}", micros.cast(pl.Datetime("us")))
    return None
