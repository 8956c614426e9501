"""The model a server answers with: a loaded package plus what serving derives from it
(request schema, log schema, output kind), swapped atomically when its alias moves."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lockgate.registry import ModelPackage, Registry
from lockgate.serving.feedback import LabelRule, label_rule
from lockgate.serving.prediction_log import context_columns
from lockgate.serving.request_schema import RequestSchema, build_schema

log = logging.getLogger("lockgate.serving")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One loaded version, immutable: a request keeps the object it started with."""

    name: str
    version: int
    package: ModelPackage
    schema: RequestSchema
    problem_type: str
    date_columns: tuple[tuple[str, bool], ...]  # (column, is_datetime)
    #: The pipeline's ``predict`` is exactly ``classes_[argmax(predict_proba)]``, so a
    #: binary request needs one model call, not two.
    labels_from_proba: bool = False
    #: The pipeline's ``predict`` is ``classes_[1]`` wherever ``predict_proba[:, 1] > 0.5``
    #: and ``classes_[0]`` wherever it is below; only rows at exactly 0.5 (a decision
    #: value too small for the probability to show its sign) need ``predict`` as well.
    labels_off_ties: bool = False
    #: What a feedback label must be (the target's type and classes).
    label_rule: LabelRule | None = None
    #: sha256 of the registered package archive: with ``version``, what is pinned.
    digest: str = ""

    @property
    def is_classifier(self) -> bool:
        """Classification predicts labels (and a probability for binary problems)."""
        return self.problem_type != "regression"

    def timed_predict(self, rows: list[dict[str, Any]]
                      ) -> tuple[list[Any], list[float | None], float]:
        """:meth:`predict` plus the CPU seconds the call took on this thread (the cost
        figure: wall time would count waiting as cost)."""
        started = time.thread_time()
        predictions, probabilities = self.predict(rows)
        return predictions, probabilities, time.thread_time() - started

    def predict(self, rows: list[dict[str, Any]]) -> tuple[list[Any], list[float | None]]:
        """Predict rows in one model call.

        Returns:
            ``(predictions, probabilities)``; labels as str for classification, floats for
            regression; the positive-class probability for binary problems, else None.
        """
        frame = pd.DataFrame.from_records(rows, columns=list(self.schema.features))
        for column, is_datetime in self.date_columns:
            frame[column] = pd.to_datetime(frame[column], utc=is_datetime)
        pipeline = self.package.pipeline
        if self.problem_type == "binary" and hasattr(pipeline, "predict_proba"):
            proba = pipeline.predict_proba(frame)
            raw = (pipeline.classes_.take(proba.argmax(axis=1)) if self.labels_from_proba
                   else _labels_off_ties(pipeline, frame, proba) if self.labels_off_ties
                   else pipeline.predict(frame))
            return _labels(raw), [float(p) for p in proba[:, 1]]
        raw = pipeline.predict(frame)
        if not self.is_classifier:
            return [float(v) for v in np.asarray(raw, dtype=float)], [None] * len(rows)
        return _labels(raw), [None] * len(rows)


def _labels(raw: Any) -> list[str]:
    return [str(v.item() if hasattr(v, "item") else v) for v in raw]


def labels_from_proba(pipeline: Any) -> bool:
    """Whether ``pipeline.predict`` is by definition ``classes_[argmax(predict_proba)]``.

    Only then may serving derive labels from the probabilities it computes anyway.
    True for single-output forests (sklearn's ``ForestClassifier.predict`` is exactly
    that); not for models that threshold a decision value (linear models, gradient
    boosting: ``expit(d)`` rounds to 0.5 for a tiny positive ``d``, so argmax would
    disagree with ``d > 0``) nor for any estimator not known here.
    """
    from sklearn.ensemble import RandomForestClassifier  # once per load, not at import
    from sklearn.pipeline import Pipeline

    final = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    return (type(final).predict is RandomForestClassifier.predict
            and getattr(final, "n_outputs_", 1) == 1)


def labels_off_ties(pipeline: Any) -> bool:
    """Whether a binary ``pipeline.predict`` is decided by ``predict_proba`` except at 0.5.

    True for a binary HistGradientBoostingClassifier (its ``predict`` is
    ``classes_[raw > 0]`` and ``predict_proba[:, 1]`` is ``expit(raw)``, which is above
    0.5 only for ``raw > 0`` and below it only for ``raw < 0``), where serving otherwise
    ran the whole model twice per call. Not for an estimator not checked here.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    final = pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline
    kind = type(final)
    return (kind.predict is HistGradientBoostingClassifier.predict
            and kind.predict_proba is HistGradientBoostingClassifier.predict_proba
            and len(getattr(final, "classes_", ())) == 2)


def _labels_off_ties(pipeline: Any, frame: pd.DataFrame, proba: np.ndarray) -> Any:
    """Labels from the positive probability; rows at exactly 0.5 from ``predict``."""
    positive = proba[:, 1]
    labels = pipeline.classes_.take((positive > 0.5).astype(np.intp))
    ties = np.flatnonzero(positive == 0.5)
    if ties.size:
        labels[ties] = pipeline.predict(frame.iloc[ties])
    return labels


def load_served(registry: Registry, name: str, version: int, *,
                allow_unknown_fields: bool = False, max_batch_rows: int = 1000) -> ServedModel:
    """Load and verify a version's package and derive everything serving needs."""
    mv = registry.get(name, version)
    package = registry.load(mv)
    problem_type = str(package.evaluation.get("problem_type", "binary"))
    rule = label_rule(package.contract, getattr(package.pipeline, "classes_", None),
                      problem_type)
    schema = build_schema(
        package.contract, package.feature_columns, model_name=name,
        label_type=float if problem_type == "regression" else str,
        allow_unknown_fields=allow_unknown_fields, max_batch_rows=max_batch_rows,
        label_values=rule.json_values(),
        context=context_columns(package.contract, package.feature_columns))
    dates = tuple((c.name, c.type == "datetime") for c in package.contract.features
                  if c.is_temporal)
    return ServedModel(name, version, package, schema, problem_type, dates,
                       labels_from_proba(package.pipeline),
                       labels_off_ties=labels_off_ties(package.pipeline), label_rule=rule,
                       digest=mv.package_sha256)


class ModelHolder:
    """Holds the current :class:`ServedModel`; replacing it is one reference assignment,
    so in-flight requests finish on the version they started with."""

    def __init__(self, served: ServedModel) -> None:
        self.current = served
        self._lock = threading.Lock()

    def swap(self, served: ServedModel) -> ServedModel:
        """Install a new version; returns the previous one."""
        with self._lock:
            previous, self.current = self.current, served
        return previous


class AliasPoller:
    """A daemon thread that calls ``check()`` every ``poll_seconds`` until stopped; a
    failed check keeps what is installed and is kept in ``last_error`` (shown by
    ``/health``), so one broken version never stops the polling."""

    def __init__(self, alias: str, poll_seconds: float, thread_name: str) -> None:
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (waits for a load in progress)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def check(self) -> bool:
        """Follow the alias now; True when what is installed changed."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check()
                self.last_error = None
            except Exception as exc:  # keep what is installed
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error("alias %s: could not follow: %s", self.alias, exc)


class AliasFollower(AliasPoller):
    """Polls the registry and swaps in the version an alias points at when it moves.

    The new package is loaded and verified on this thread before the swap, so a
    request never waits for a load and a broken package never replaces a working one.
    """

    def __init__(self, registry: Registry, holder: ModelHolder, alias: str, *,
                 poll_seconds: float, on_swap: Any = None, **load_options: Any) -> None:
        super().__init__(alias, poll_seconds, "alias-follower")
        self.registry = registry
        self.holder = holder
        self.on_swap = on_swap
        self.load_options = load_options

    def check(self) -> bool:
        """Swap now if the alias moved; True when a new version was installed."""
        current = self.holder.current
        version = self.registry.alias_version(current.name, self.alias)
        if version is None or version == current.version:
            return False
        served = load_served(self.registry, current.name, version, **self.load_options)
        self.holder.swap(served)
        log.warning("now serving %s@%s (alias %s moved from v%s)", current.name, version,
                    self.alias, current.version)
        if self.on_swap is not None:
            self.on_swap(served)
        return True
