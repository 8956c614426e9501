"""The holdout metrics of an evaluation as a Rich table, shared by the CLI and the demo."""

from __future__ import annotations

from rich.table import Table

from lockgate.modeling.evaluation import EvaluationRecord


def metrics_table(record: EvaluationRecord, title: str) -> Table:
    """One row per holdout metric: the model's value, its 95% interval and the baseline's."""
    table = Table(title=title)
    for column in ("metric", "model", "95% CI", "baseline"):
        table.add_column(column)
    for key, value in record.metrics.items():
        lo, hi = record.intervals[key]
        table.add_row(key, f"{value:.4f}", f"[{lo:.4f}, {hi:.4f}]",
                      f"{record.baseline_metrics[key]:.4f}")
    return table


#: Monte Carlo error of a 2.5 % / 97.5 % bootstrap percentile, as a fraction of the
#: interval's width per 1/sqrt(replicates): sqrt(p(1-p)) / phi(z) / (2 z) for a normal
#: bootstrap distribution, p = 0.025, z = 1.96.
_PERCENTILE_ERROR = 0.68


def budget_note(record: EvaluationRecord, *, budget: str, n_splits: int,
                bootstrap: int) -> str:
    """What the evaluation budget did to the uncertainty estimates, in one sentence.

    The interval's width comes from the holdout's size; the number of replicates
    decides how precisely its ends are located, and the folds how many CV scores the
    spread is read from. Both are stated, with the thorough budget for comparison.
    """
    from lockgate.modeling.training import BUDGETS

    primary = record.primary_metric
    lo, hi = record.intervals.get(primary, (float("nan"), float("nan")))
    error = _PERCENTILE_ERROR * (hi - lo) / bootstrap ** 0.5
    thorough = BUDGETS["thorough"]["bootstrap"]
    better = _PERCENTILE_ERROR * (hi - lo) / thorough ** 0.5
    text = (f"Budget {budget}: {n_splits} CV folds, {bootstrap} bootstrap replicates. The 95% "
            f"CI of {primary} [{lo:.4f}, {hi:.4f}] has ends located to about ±{error:.4f} "
            f"(Monte Carlo error)")
    if bootstrap < thorough:
        text += f"; `--budget thorough` ({thorough} replicates) would bring that to ±{better:.4f}"
    return text + "." + gives_up(budget)


def gives_up(budget: str) -> str:
    """What a budget below ``standard`` leaves out, said next to its figures (empty for
    ``standard`` and ``thorough``). The leakage checks and the holdout are the same at
    every budget: a budget never buys speed with a less honest split."""
    from lockgate.modeling.training import BUDGETS

    own, standard = BUDGETS[budget], BUDGETS["standard"]
    if own["n_splits"] >= standard["n_splits"]:
        return ""
    n = own["n_splits"]
    return (f" Quicker and less thorough than standard: the CV spread is read from {n} "
            f"fold scores instead of {standard['n_splits']}, each fold's model sees "
            f"{(n - 1) / n:.0%} of the development rows instead of "
            f"{(standard['n_splits'] - 1) / standard['n_splits']:.0%}, a grid is tuned on "
            f"{own['inner_splits']} inner folds instead of {standard['inner_splits']}, and "
            f"permutation importance uses at most {own['importance_rows']} holdout rows; "
            "the leakage checks and the holdout are unchanged.")
