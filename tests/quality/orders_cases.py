"""The `orders` contract and batch builder shared by the quality and training-gate tests."""

from __future__ import annotations

import numpy as np
import polars as pl

CONTRACT = {
    "table": "orders", "version": "1", "primary_key": ["id"], "target": "label",
    "columns": [
        {"name": "id", "type": "int", "unique": True},
        {"name": "amount", "type": "float", "min": 0},
        {"name": "kind", "type": "category", "allowed": ["a", "b"]},
        {"name": "label", "type": "int"},
    ],
}


def batch(start: int, n: int = 300, scale: float = 1.0, seed: int = 0,
          bad_kind: float = 0.0) -> pl.DataFrame:
    """``n`` orders with ids from ``start``; ``bad_kind`` is the share of kinds the
    contract does not allow (quarantined); ``scale`` multiplies every amount."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["a", "b", "zz"], n, p=[(1 - bad_kind) / 2, (1 - bad_kind) / 2,
                                              bad_kind])
    return pl.DataFrame({
        "id": range(start, start + n), "amount": rng.gamma(2.0, 20.0, n) * scale,
        "kind": kinds, "label": rng.integers(0, 2, n),
    })
