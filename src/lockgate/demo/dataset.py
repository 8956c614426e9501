"""The quickstart's demo dataset: customer churn, deterministic, with a learnable signal
(short tenure, many support tickets and high charges raise churn; premium lowers it)
and a few deliberately bad rows for the door to quarantine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PLANS = ("basic", "standard", "premium")
COUNTRIES = ("DE", "FR", "GB", "NL", "US")
CONTRACT = Path(__file__).with_name("churn_contract.yaml")


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """Where the generated dataset went."""

    batches: tuple[Path, ...]
    stream: list[dict[str, Any]]
    bad_rows: int


def churn_frame(n: int, *, seed: int = 7, start_id: int = 1) -> pl.DataFrame:
    """``n`` clean customers as text columns, as a CSV export would hold them."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    base = np.select([plan == "basic", plan == "standard"], [30.0, 60.0], 95.0)
    charges = np.round(base + rng.normal(0, 8, n), 2).clip(5, 400)
    tickets = rng.poisson(1.2, n)
    age = rng.integers(18, 80, n)
    logit = (1.0 - 0.06 * tenure + 0.55 * tickets + 0.02 * (charges - 50)
             - 0.9 * (plan == "premium") - 0.01 * (age - 40))
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    now = dt.datetime(2025, 6, 30, tzinfo=dt.UTC)
    last = [now - dt.timedelta(minutes=int(m)) for m in rng.integers(0, 180 * 24 * 60, n)]
    signup = [(t - dt.timedelta(days=30 * int(m) + int(d))).date()
              for t, m, d in zip(last, tenure, rng.integers(0, 28, n), strict=True)]
    ids = np.arange(start_id, start_id + n)
    return pl.DataFrame({
        "customer_id": [str(i) for i in ids],
        "signup_date": [d.isoformat() for d in signup],
        "last_event_at": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in last],
        "age": [str(a) for a in age],
        "plan": list(plan),
        "country": list(rng.choice(COUNTRIES, n)),
        "monthly_charges": [f"{c:.2f}" for c in charges],
        "tenure_months": [str(t) for t in tenure],
        "support_tickets": [str(t) for t in tickets],
        "email": [f"customer{i}@example.com" for i in ids],
        "churned": ["true" if c else "false" for c in churned],
    })


def bad_rows(start_id: int, duplicate_of: int | None = None) -> list[dict[str, Any]]:
    """Rows the contract refuses, one reason each (plus, with ``duplicate_of``, a row
    repeating a customer id that landed before)."""
    good = churn_frame(7, seed=99, start_id=start_id).to_dicts()
    good[0]["age"] = "forty"                      # refused: type:age
    good[1]["monthly_charges"] = "-12.50"         # range:monthly_charges
    good[2]["customer_id"] = ""                   # null:customer_id
    good[3]["signup_date"] = "2024-02-31"         # parse:signup_date
    good[4]["plan"] = "gold"                      # allowed:plan
    good[5]["email"] = "not-an-email"             # regex:email
    if duplicate_of is None:
        return good[:6]
    good[6]["customer_id"] = str(duplicate_of)    # duplicate:customer_id (landed before)
    return good


def write_demo_dataset(folder: Path, *, rows_per_batch: int = 1500,
                       stream_rows: int = 400, seed: int = 7) -> DemoFiles:
    """Two CSV batch files and a list of stream records, each with a few bad rows."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = []
    next_id = 1
    for i in range(2):
        clean = churn_frame(rows_per_batch, seed=seed + i, start_id=next_id)
        next_id += rows_per_batch
        rows = pl.concat([clean, pl.DataFrame(bad_rows(next_id + 100, 1 if i else None))])
        path = folder / f"churn_batch_{i + 1}.csv"
        rows.write_csv(path)
        batches.append(path)
        next_id += 200
    stream = churn_frame(stream_rows, seed=seed + 2, start_id=next_id).to_dicts()
    stream += bad_rows(next_id + stream_rows + 100)[:3]
    return DemoFiles(tuple(batches), stream, bad_rows=6 + 7 + 3)
