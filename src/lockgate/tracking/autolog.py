"""Autologging for scikit-learn-style training, off by default: ``lg.autolog()``.

Once enabled, every top-level ``fit`` of a scikit-learn estimator, pipeline or search
(and of LightGBM/XGBoost's scikit-learn classes) inside an active run records its
parameters, its fit time, and the fitted model through its flavor (never pickle); a
search also records one child run per candidate with its parameters and
cross-validation scores, and its best parameters and score on the run. Fits made inside
another fit (a pipeline's steps, a search's candidates) are not logged again, nor are
lockgate's own training fits (``lockgate.modeling.train`` records them itself).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("lockgate_autolog_depth",
                                                             default=0)
_PATCHED: dict[type, Any] = {}
_SUSPENDED = [0]  # process-wide: fold fits may run on executor threads
_LOCK = threading.Lock()
#: Estimator classes outside scikit-learn whose fit is patched when installed.
EXTRA_CLASSES = ("lightgbm:LGBMClassifier", "lightgbm:LGBMRegressor",
                 "xgboost:XGBClassifier", "xgboost:XGBRegressor")


def autolog(disable: bool = False) -> None:
    """Turn autologging on (or off with ``disable=True``); calling it twice is harmless."""
    if disable:
        for kind, original in _PATCHED.items():
            setattr(kind, "fit", original)  # noqa: B010 (a class attribute, patched back)
        _PATCHED.clear()
        return
    for kind in _estimator_classes():
        # patch the class that defines fit (GridSearchCV's is BaseSearchCV's), once
        owner = next((k for k in kind.__mro__ if "fit" in k.__dict__), None)
        if owner is None or owner in _PATCHED or owner is object:
            continue
        _PATCHED[owner] = owner.__dict__["fit"]
        setattr(owner, "fit", _wrap(owner.__dict__["fit"]))  # noqa: B010


def is_enabled() -> bool:
    """Whether autologging is on."""
    return bool(_PATCHED)


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No autologging inside this block (lockgate's own training records its fits)."""
    with _LOCK:
        _SUSPENDED[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _SUSPENDED[0] -= 1


def _estimator_classes() -> list[type]:
    from sklearn.utils import all_estimators

    classes = [kind for _name, kind in all_estimators()]
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    classes += [Pipeline, GridSearchCV, RandomizedSearchCV]
    for spec in EXTRA_CLASSES:
        module, _, name = spec.partition(":")
        try:
            classes.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return classes


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        from lockgate.tracking.run import active_run  # on use: keeps the import light

        run = active_run()
        if run is None or _DEPTH.get() > 0 or _SUSPENDED[0]:
            return original(self, *args, **kwargs)
        token = _DEPTH.set(_DEPTH.get() + 1)
        started = time.perf_counter()
        try:
            result = original(self, *args, **kwargs)
        finally:
            _DEPTH.reset(token)
        _record(run, self, time.perf_counter() - started)
        return result

    return fit


def _record(run: Any, estimator: Any, seconds: float) -> None:
    kind = type(estimator).__name__
    run.log_params({"estimator": kind, "estimator_params": _params(estimator)})
    run.log_metric("fit_time_s", seconds)
    if hasattr(estimator, "cv_results_"):
        _record_search(run, estimator)
    try:
        run.log_value(estimator, "model")
    except Exception as exc:  # no flavor saves it: say so on the run, do not fail the fit
        run.note(f"autolog: the fitted {kind} was not saved: {exc}")


def _record_search(run: Any, search: Any) -> None:
    from lockgate.tracking.run import start_run

    results = search.cv_results_
    scores = [k for k in results if k.startswith(("mean_test_", "std_test_", "rank_test_"))]
    for i, params in enumerate(results["params"]):
        with start_run(f"candidate-{i}", experiment=run.experiment, parent=run,
                       settings=run.settings, capture_console=False, sample_hardware=False,
                       capture_code=False) as child:
            child.log_params({k: _plain(v) for k, v in params.items()})
            child.log_metrics({k: float(results[k][i]) for k in scores
                               if _finite(results[k][i])})
    run.log_params({"best_params": {k: _plain(v) for k, v in search.best_params_.items()}})
    if _finite(search.best_score_):
        run.log_metric("best_cv_score", float(search.best_score_))


def _params(estimator: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in sorted(estimator.get_params(deep=False).items())}


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value) if not hasattr(value, "get_params") else type(value).__name__


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
