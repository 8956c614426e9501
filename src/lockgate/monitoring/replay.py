"""Replay: champion and challenger scored on recent logged traffic with its labels.

The holdout says how a model does on the data it was evaluated on; the replay says how
it does on what production actually sees now. Both models predict the same labeled
rows of ``_labeled_NAME`` (the newest ``max_rows``); the paired accuracy difference
and its bootstrap interval decide: a challenger whose interval lies wholly below zero
is worse on live traffic and is not promoted, whatever its holdout says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from lockgate.config import Settings
from lockgate.data.table import scan as scan_table
from lockgate.data.table import table_path
from lockgate.monitoring.labeled_table import labeled_table_name
from lockgate.monitoring.performance import label_strings
from lockgate.monitoring.watched_model import WatchedModel
from lockgate.registry.prediction_profile import prediction_frame

MIN_REPLAY_ROWS = 30


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """Champion vs challenger on the same labeled live rows."""

    rows: int
    champion_accuracy: float
    challenger_accuracy: float
    difference: float
    interval: tuple[float, float]

    @property
    def worse(self) -> bool:
        """The challenger is worse on live traffic beyond doubt (interval below 0)."""
        return self.interval[1] < 0

    def gate(self) -> dict[str, Any]:
        """The replay as a gate record, beside the promotion gates."""
        low, high = self.interval
        return {"name": "replay", "passed": not self.worse, "reason": (
            f"on {self.rows} labeled live requests accuracy {self.challenger_accuracy:.3f} "
            f"vs champion {self.champion_accuracy:.3f} (difference {self.difference:+.3f}, "
            f"95% CI [{low:+.3f}, {high:+.3f}])"), "evidence": asdict(self)}


def replay(champion: WatchedModel, challenger: Any, *, settings: Settings,
           max_rows: int = 5000, n_bootstrap: int = 1000, seed: int = 0,
           rows: pl.DataFrame | None = None) -> ReplayResult | None:
    """Score labeled live rows with both pipelines (classification).

    Args:
        rows: the labeled rows to replay: those the challenger's retraining held back
            (:func:`~lockgate.monitoring.retraining_data.replay_rows`), so the replay is
            on traffic it never trained on. Default: the newest ``max_rows`` of
            ``_labeled_NAME`` (for a challenger trained without the labeled table).

    Returns:
        None when there are fewer than ``MIN_REPLAY_ROWS`` labeled rows or the problem is
        a regression (the replay then says nothing, and is reported as not run).
    """
    path = table_path(settings, labeled_table_name(champion.name))
    if champion.problem_type == "regression" or (
            rows is None and not (path / "_delta_log").is_dir()):
        return None
    target = str(champion.contract.target)
    if rows is None:
        rows = (scan_table(path).sort("labeled_at", descending=True).head(max_rows)
                .collect())
    if rows.height < MIN_REPLAY_ROWS:
        return None
    truth = label_strings(rows[target]).to_numpy()
    scores = []
    for pipeline in (champion.pipeline, challenger):
        predicted = prediction_frame(pipeline, rows, champion.features, champion.problem_type)
        scores.append((predicted["prediction"].to_numpy() == truth).astype(float))
    delta = scores[1] - scores[0]
    rng = np.random.default_rng(seed)
    means = delta[rng.integers(0, delta.size, (n_bootstrap, delta.size))].mean(axis=1)
    return ReplayResult(rows.height, float(scores[0].mean()), float(scores[1].mean()),
                        float(delta.mean()),
                        (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))))
