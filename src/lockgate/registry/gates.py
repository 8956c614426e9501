"""Promotion gates: the checks a version must pass before it may serve production.

Each gate returns a :class:`GateResult`; the caller decides whether to raise. Gates:
training data validated, evaluation leak-free, metric thresholds from config,
champion/challenger (a paired bootstrap on the same holdout rows), and an infra check
in a fresh, isolated interpreter.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lockgate.artifacts import TypeAllowlist
from lockgate.config import PROJECT_FILE
from lockgate.data.check_result import ValidationStatus, failed_checks
from lockgate.errors import ConfigError, NotFoundError, close_matches, numbered
from lockgate.registry.package import ModelPackage, package_flavor, skops_types_of
from lockgate.store import Store

LOWER_IS_BETTER = {"rmse", "mse", "mae", "log_loss", "brier", "mape"}
PROBE = Path(__file__).with_name("infra_probe.py")


class ShadowPolicy(BaseModel):
    """What a shadow period must show before promotion to production.

    Attributes:
        min_predictions: shadow predictions on live requests.
        min_seconds: time from the first to the last shadow prediction.
        min_agreement: share of requests where shadow and production agree (None: any).
        min_labeled: labeled shadow requests (the paired comparison needs them).
        not_worse: with labels, the upper end of the 95% interval of (shadow -
            production accuracy) must be above 0: not worse beyond doubt.
    """

    model_config = ConfigDict(extra="forbid")

    min_predictions: int = Field(200, ge=1)
    min_seconds: float = Field(0.0, ge=0)
    min_agreement: float | None = Field(None, ge=0, le=1)
    min_labeled: int = Field(0, ge=0)
    not_worse: bool = True


class GateConfig(BaseModel):
    """Promotion gate settings (``gates:`` in lockgate.yaml; CLI flags win).

    Attributes:
        thresholds: metric -> bound on the holdout: a number (a minimum, or a maximum
            for lower-is-better metrics) or a string such as ``">=0.8"`` / ``"<=3.5"``.
        margin: how much the candidate must beat the champion by, in metric units.
        confidence: level of the paired bootstrap interval of the difference.
        n_bootstrap: bootstrap resamples.
        min_paired_rows: fewest shared holdout rows for a trustworthy comparison.
        infra_latency_ms: p99 bound for one example request in the fresh process, on
            the ``infra_basis`` clock.
        infra_basis: ``cpu`` (default) judges the CPU time per request, which does not
            grow when other processes load the machine; ``wall`` judges wall time (a
            dedicated machine). Both are reported, each p99 with its 95% interval.
        infra_requests: timed requests after the warm-up (enough for a p99: >= 50; the
            timing stops after ``min(10 s, infra_timeout_s / 4)`` with at least 10).
        infra_warmup: untimed requests first (lazy imports, caches, allocator).
        infra_timeout_s: the fresh process is killed after this long.
        require_champion_holdout: refuse when the candidate ships no holdout rows.
        shadow: a shadow period required before production (None: not required); see
            :class:`ShadowPolicy` and :mod:`lockgate.registry.shadow_period`.
    """

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float | str] = Field(default_factory=dict)
    margin: float = 0.0
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    n_bootstrap: int = Field(1000, ge=100)
    min_paired_rows: int = Field(30, ge=5)
    infra_latency_ms: float = Field(500.0, gt=0)
    infra_basis: Literal["cpu", "wall"] = "cpu"
    infra_requests: int = Field(100, ge=50)
    infra_warmup: int = Field(10, ge=0)
    infra_timeout_s: float = Field(180.0, gt=0)
    seed: int = 0
    shadow: ShadowPolicy | None = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """The verdict of one gate, with the evidence for it."""

    name: str
    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored in the transition history."""
        return asdict(self)


def load_gate_config(path: Path | str | None = None, **overrides: Any) -> GateConfig:
    """Gate config from the ``gates:`` section of lockgate.yaml, then explicit overrides.

    Raises:
        ConfigError: the section or an override is invalid (with the field names).
    """
    source = Path(path) if path else Path(PROJECT_FILE)
    values: dict[str, Any] = {}
    if source.is_file():
        loaded = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        values = dict(loaded.get("gates") or {}) if isinstance(loaded, dict) else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return GateConfig(**values)
    except ValidationError as exc:
        fields = list(GateConfig.model_fields)
        problems = [f"`{'.'.join(map(str, e['loc']))}`: {e['msg']}"
                    f"{close_matches(str(e['loc'][0]), fields)}" for e in exc.errors()]
        raise ConfigError(f"Invalid `gates` settings (from {source} or flags):\n"
                          f"{numbered(problems)}\nValid keys: {', '.join(fields)}.") from exc


# -- the gates ----------------------------------------------------------------


def data_validated(store: Store, package: ModelPackage) -> GateResult:
    """The dataset version the model trained on passed validation."""
    lineage = package.lineage
    dataset_version_id = lineage.get("dataset_version_id")
    if dataset_version_id is None:
        return GateResult("data_validated", False,
                          "the package records no dataset version id, so the training data "
                          "cannot be shown to be validated; train with lockgate.modeling.train")
    try:
        record = store.dataset_version_by_id(int(dataset_version_id))
    except NotFoundError:
        return GateResult("data_validated", False,
                          f"dataset version id {dataset_version_id} is not in this store")
    labeled = lineage.get("labeled") or {}
    records = [record]
    if labeled.get("dataset_version_id") is not None:  # labeled feedback trained on too
        try:
            records.append(store.dataset_version_by_id(int(labeled["dataset_version_id"])))
        except NotFoundError:
            return GateResult("data_validated", False,
                              f"labeled dataset version id {labeled['dataset_version_id']} "
                              "is not in this store")
    details = {"dataset": record.ref, "status": record.validation_status,
               "failed": sorted(failed_checks(record.checks)),
               "also": [r.ref for r in records[1:]]}
    for each in records:
        if each.validation_status != ValidationStatus.PASSED:
            failed = sorted(failed_checks(each.checks))
            why = f"; failed checks: {', '.join(failed)}" if failed else ""
            return GateResult("data_validated", False,
                              f"{each.ref} has validation status "
                              f"`{each.validation_status}`{why}", details)
    refs = " and ".join(r.ref for r in records)
    return GateResult("data_validated", True, f"{refs} passed validation", details)


def leak_free(package: ModelPackage) -> GateResult:
    """The evaluation was leak-free and raised no blocking finding."""
    evaluation = package.evaluation
    blocking = [f for f in evaluation.get("findings", []) or []
                if f.get("severity") == "blocking"]
    details = {"leak_free": evaluation.get("leak_free"),
               "blocking": [f.get("code") for f in blocking]}
    if evaluation.get("leak_free") is not True:
        return GateResult("leak_free", False, "the evaluation is not marked leak-free"
                          + "".join(f"; {f.get('code')}: {f.get('message')}" for f in blocking),
                          details)
    if blocking:
        return GateResult("leak_free", False, "blocking findings: " + "; ".join(
            f"{f.get('code')}: {f.get('message')}" for f in blocking), details)
    return GateResult("leak_free", True, "leak-free, no blocking findings", details)


def thresholds(package: ModelPackage, config: GateConfig) -> GateResult:
    """Holdout metrics meet every bound in ``config.thresholds``."""
    metrics = package.evaluation.get("metrics", {}) or {}
    if not config.thresholds:
        return GateResult("thresholds", True, "no thresholds configured", {"metrics": metrics})
    problems: list[str] = []
    checked: dict[str, Any] = {}
    for metric, bound in sorted(config.thresholds.items()):
        op, limit = _bound(metric, bound)
        value = metrics.get(metric)
        checked[metric] = {"value": value, "op": op, "limit": limit}
        if value is None or (isinstance(value, float) and math.isnan(value)):
            problems.append(f"{metric} was not measured (metrics: {', '.join(sorted(metrics))})")
        elif not (value >= limit if op == ">=" else value <= limit):
            problems.append(f"{metric} = {value:.4f}, needs {op} {limit}")
    if problems:
        return GateResult("thresholds", False, "; ".join(problems), checked)
    return GateResult("thresholds", True, "all thresholds met", checked)


def champion_challenger(candidate: ModelPackage, champion: ModelPackage | None,
                        config: GateConfig, *, champion_ref: str | None = None) -> GateResult:
    """The candidate beats the champion on the same holdout rows by ``config.margin``.

    Both models predict the same rows; the metric difference is bootstrapped over
    resamples of those rows (paired), and the gate passes only when the lower end of
    the interval of the improvement is above the margin.
    """
    name = "champion_challenger"
    if champion is None:
        return GateResult(name, True, "no production version yet: nothing to beat")
    frame, note = _paired_rows(candidate, champion, config)
    if frame is None:
        return GateResult(name, False, note)
    evaluation = candidate.evaluation
    metric = str(evaluation.get("primary_metric"))
    target = candidate.contract.target
    try:
        scorer = _scorer(metric, evaluation.get("problem_type", ""))
        y = frame[target].to_numpy()
        cand = _outputs(candidate, frame, metric)
        champ = _outputs(champion, frame, metric)
    except Exception as exc:  # a model that cannot score the rows cannot be compared
        return GateResult(name, False, f"could not score the shared holdout rows: {exc}")
    greater = metric not in LOWER_IS_BETTER
    diff, low, high = _paired_bootstrap(scorer, y, cand, champ, config, greater)
    details = {"metric": metric, "rows": len(y), "improvement": diff, "ci_low": low,
               "ci_high": high, "confidence": config.confidence, "margin": config.margin,
               "champion": champion_ref, "rows_note": note}
    summary = (f"{metric} improvement {diff:+.4f} ({config.confidence:.0%} CI "
               f"[{low:+.4f}, {high:+.4f}]) on {len(y)} shared rows vs {champion_ref}")
    if low <= config.margin:
        return GateResult(name, False, f"not better by the margin {config.margin}: {summary}",
                          details)
    return GateResult(name, True, summary, details)


def infra(package: ModelPackage, config: GateConfig,
          trusted: TypeAllowlist | None = None) -> GateResult:
    """The package loads and answers its example requests in a fresh, isolated process.

    The process is ``python -I`` (no PYTHONPATH, no user site, no cwd on the path), runs
    code that does not import lockgate, and an import hook refuses every module outside
    the standard library and the package's recorded requirements (with their own
    dependencies). It re-verifies the manifest, loads the pipeline with the trusted type
    list, predicts each example request singly and reports the p99 latency. The trusted
    list is the package's types checked against ``trusted`` (the operator's allowlist),
    so the probe never rebuilds a type the allowlist refuses.
    """
    name = "infra"
    try:
        types = skops_types_of(package.path, package.manifest, trusted)
    except Exception as exc:
        return GateResult(name, False, str(exc))
    payload = json.dumps({"trusted": types, "features": package.feature_columns,
                          "flavor": package_flavor(package.manifest),
                          "requests": config.infra_requests, "warmup": config.infra_warmup,
                          "budget_s": min(10.0, config.infra_timeout_s / 4)})
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", PROBE.read_text(encoding="utf-8"),
             str(package.path), payload],
            capture_output=True, text=True, timeout=config.infra_timeout_s, check=False,
            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
        )
    except subprocess.TimeoutExpired:
        return GateResult(name, False, f"the fresh process did not answer within "
                          f"{config.infra_timeout_s:.0f} s")
    report = _probe_report(done)
    if not report.get("ok"):
        return GateResult(name, False, "the package does not load in a fresh process: "
                          + str(report.get("error", "")).strip()[-600:], report)
    problems = [f"{dist} is {v['installed']} here but the package records {v['recorded']}"
                for dist, v in sorted(report["mismatches"].items())]
    if report.get("lockgate_imported") and "lockgate" not in package.environment.get(
            "requirements", {}):
        problems.append("loading the package imported lockgate, which it does not list")
    judged = _latency(report, config.infra_basis)
    if judged > config.infra_latency_ms:
        problems.append(f"p99 {config.infra_basis} time per request {judged:.1f} ms is above "
                        f"the {config.infra_latency_ms:.0f} ms bound ({_latency_text(report)})")
    if problems:
        return GateResult(name, False, "; ".join(problems), report)
    return GateResult(name, True, f"loaded in {report['load_ms']:.0f} ms in a fresh `python "
                      f"-I` process; {_latency_text(report)}; judged on "
                      f"{config.infra_basis} time", report)


def _latency(report: dict[str, Any], basis: str) -> float:
    key = "cpu_ms_p99" if basis == "cpu" and "cpu_ms_p99" in report else "latency_ms_p99"
    return float(report[key])


def _latency_text(report: dict[str, Any]) -> str:
    """``200 requests after 20 warm-up: p99 CPU 1.2 ms [1.1–1.4], wall 1.9 ms [...]``."""
    def one(key: str) -> str:
        low, high = report.get(f"{key}_ci") or (report[key], report[key])
        return f"{report[key]:.1f} ms [{low:.1f}–{high:.1f}]"

    parts = [f"{report['requests']} example requests after {report.get('warmup', 0)} warm-up"]
    if "cpu_ms_p99" in report:
        parts.append(f"p99 CPU {one('cpu_ms_p99')}")
    parts.append(f"p99 wall {one('latency_ms_p99')}")
    return ", ".join(parts)


# -- helpers --------------------------------------------------------------------


def _bound(metric: str, bound: float | str) -> tuple[str, float]:
    if isinstance(bound, str):
        text = bound.strip()
        for op in (">=", "<="):
            if text.startswith(op):
                return op, float(text[2:])
        raise ConfigError(f"Threshold for `{metric}` is `{bound}`: write a number or a "
                          "string starting with `>=` or `<=`, e.g. \">=0.8\".")
    return ("<=" if metric in LOWER_IS_BETTER else ">="), float(bound)


def _paired_rows(candidate: ModelPackage, champion: ModelPackage,
                 config: GateConfig) -> tuple[Any, str]:
    frame = candidate.holdout()
    if frame is None:
        return None, ("the candidate package holds no holdout rows, so no paired comparison "
                      "is possible; register it with its holdout (lockgate.modeling does)")
    key = (candidate.evaluation.get("holdout") or {}).get("key")
    other = champion.holdout()
    missing = [c for c in champion.feature_columns if c not in frame.columns]
    if missing:
        return None, f"the champion needs columns the candidate's holdout lacks: {missing}"
    note = "candidate holdout rows"
    if key and other is not None and key in frame.columns and key in other.columns:
        shared = frame.filter(frame[key].is_in(other[key].implode()))
        if shared.height >= config.min_paired_rows:
            return shared, "rows held out by both versions"
        note = (f"only {shared.height} rows are held out by both versions; using the "
                "candidate's holdout (the champion may have trained on some of them)")
    if frame.height < config.min_paired_rows:
        return None, (f"only {frame.height} holdout rows; the paired comparison needs at "
                      f"least {config.min_paired_rows} (gates.min_paired_rows)")
    return frame, note


def _outputs(package: ModelPackage, frame: Any, metric: str) -> np.ndarray:
    features = frame.select(package.feature_columns).to_pandas()
    if metric in {"roc_auc", "log_loss", "average_precision", "brier"}:
        proba = package.pipeline.predict_proba(features)
        return proba[:, 1] if proba.shape[1] == 2 else proba
    return np.asarray(package.pipeline.predict(features))


def _scorer(metric: str, problem_type: str) -> Callable[[np.ndarray, np.ndarray], float]:
    from sklearn import metrics as m

    table: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "roc_auc": lambda y, p: m.roc_auc_score(y, p, multi_class="ovr")
        if p.ndim == 2 else m.roc_auc_score(y, p),
        "average_precision": m.average_precision_score,
        "log_loss": lambda y, p: m.log_loss(y, p, labels=None),
        "brier": m.brier_score_loss,
        "accuracy": m.accuracy_score,
        "balanced_accuracy": m.balanced_accuracy_score,
        "f1": lambda y, p: m.f1_score(y, p, average="binary" if problem_type == "binary"
                                      else "macro"),
        "f1_macro": lambda y, p: m.f1_score(y, p, average="macro"),
        "rmse": lambda y, p: float(np.sqrt(m.mean_squared_error(y, p))),
        "mse": m.mean_squared_error,
        "mae": m.mean_absolute_error,
        "r2": m.r2_score,
        "mape": m.mean_absolute_percentage_error,
    }
    if metric not in table:
        raise ValueError(f"no paired scorer for metric `{metric}`; known: {sorted(table)}")
    return table[metric]


def _paired_bootstrap(scorer: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray,
                      cand: np.ndarray, champ: np.ndarray, config: GateConfig,
                      greater: bool) -> tuple[float, float, float]:
    """Improvement of candidate over champion (positive = better) and its paired CI."""
    sign = 1.0 if greater else -1.0
    point = sign * (scorer(y, cand) - scorer(y, champ))
    rng = np.random.default_rng(config.seed)
    n = len(y)
    diffs = []
    for _ in range(config.n_bootstrap):
        idx = rng.integers(0, n, n)
        try:
            diffs.append(sign * (scorer(y[idx], cand[idx]) - scorer(y[idx], champ[idx])))
        except ValueError:  # a resample with one class: roc_auc undefined; skip it
            continue
    if len(diffs) < config.n_bootstrap // 2:
        raise ValueError("most bootstrap resamples were degenerate (one class only)")
    alpha = (1 - config.confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return float(point), float(low), float(high)


def _probe_report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if lines:
        try:
            report = json.loads(lines[-1])
            if done.returncode == 0 or not report.get("ok", True):
                return report
        except ValueError:
            pass
    return {"ok": False, "error": done.stderr or f"exit code {done.returncode}",
            "returncode": done.returncode}
