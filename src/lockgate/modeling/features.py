"""Features from the contract: one ``ColumnTransformer`` per contract, joined with the
user's estimator in one ``Pipeline``.

Every learned transform (imputation statistics, scaling, category lists) sits inside the
pipeline, so cross-validation fits it on the training fold only and the same object
travels with the model to serving. :class:`CalendarFeatures` turns dates and datetimes
into calendar parts and follows the scikit-learn estimator contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from lockgate.modeling.errors import FeatureError
from lockgate.user_types import Estimator, FrameLike

NUMERIC_TYPES = frozenset({"int", "float"})
CATEGORICAL_TYPES = frozenset({"string", "category"})
TEMPORAL_TYPES = frozenset({"date", "datetime"})
MISSING_CATEGORY = "__missing__"
_PARTS = ("year", "month", "day", "weekday", "dayofyear", "hour", "minute")


class ColumnLike(Protocol):
    name: str
    type: str


class ContractLike(Protocol):
    """The part of :class:`lockgate.data.Contract` modeling reads."""

    # read-only: a frozen record (Contract, the audit's roles) satisfies the protocol
    @property
    def table(self) -> str: ...
    @property
    def columns(self) -> tuple[Any, ...]: ...
    @property
    def primary_key(self) -> tuple[str, ...]: ...
    @property
    def event_time(self) -> str | None: ...
    @property
    def entity(self) -> str | None: ...
    @property
    def target(self) -> str | None: ...
    @property
    def feature_columns(self) -> list[str]: ...


class CalendarFeatures(TransformerMixin, BaseEstimator):
    """Calendar parts (year, month, day, weekday, ...) of date or datetime columns.

    Stateless apart from the input schema, so it is safe to fit on any fold. Numbers are
    read as nanoseconds since the epoch and strings are parsed; missing or unparseable
    values give NaN parts, to be imputed by the next step.

    Args:
        parts: calendar parts to emit per column, among year, month, day, weekday,
            dayofyear, hour, minute.
    """

    def __init__(self, parts: Sequence[str] = ("year", "month", "day", "weekday", "hour")):
        self.parts = parts

    def fit(self, X: FrameLike | np.ndarray, y: object = None) -> CalendarFeatures:
        unknown = [p for p in self.parts if p not in _PARTS]
        if unknown or not self.parts:
            raise FeatureError(
                f"CalendarFeatures(parts={list(self.parts)!r}): unknown parts {unknown}; "
                f"choose among {list(_PARTS)}."
            )
        validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        return self

    def transform(self, X: FrameLike | np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        values = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        blocks = [self._parts_of(values[:, j]) for j in range(values.shape[1])]
        return np.column_stack(blocks).astype(np.float64)

    def _parts_of(self, column: np.ndarray) -> np.ndarray:
        if column.dtype.kind == "M":  # datetime64 (dates from Polars/pandas): no parsing
            stamps = pd.DatetimeIndex(column)
        elif column.dtype.kind in "iuf":
            stamps = pd.to_datetime(column.astype(np.float64), unit="ns", errors="coerce")
        else:
            stamps = pd.to_datetime(pd.Series(column, dtype=object), errors="coerce",
                                    utc=True, format="mixed")
        index = pd.DatetimeIndex(stamps)
        out = np.empty((len(index), len(self.parts)), dtype=np.float64)
        for k, part in enumerate(self.parts):
            attr = {"weekday": "day_of_week", "dayofyear": "day_of_year"}.get(part, part)
            out[:, k] = np.asarray(getattr(index, attr), dtype=np.float64)
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            names = input_features
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([f"{n}_{p}" for n in names for p in self.parts], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def as_category_strings(X: Any) -> np.ndarray:
    """Categories as strings, with None and NaN both mapped to ``__missing__``.

    Why: Polars gives None and pandas gives NaN for a missing string; without this the
    same row would encode differently in training and in serving.
    """
    frame = X.to_pandas() if hasattr(X, "to_pandas") else pd.DataFrame(np.asarray(X, dtype=object))
    values = frame.astype(object).to_numpy()
    missing = pd.isna(values)
    out = values.astype(str).astype(object)
    out[missing] = MISSING_CATEGORY
    return out


def as_float(X: Any) -> np.ndarray:
    """Booleans (with None / NaN for missing) as 0.0 / 1.0 / NaN."""
    frame = X.to_pandas() if hasattr(X, "to_pandas") else pd.DataFrame(np.asarray(X, dtype=object))
    return frame.astype(object).astype("float64").to_numpy()


def build_preprocessor(contract: ContractLike, *, categorical: str = "onehot",
                       max_categories: int = 20,
                       features: Sequence[str] | None = None) -> ColumnTransformer:
    """The ``ColumnTransformer`` for the contract's feature columns, grouped by type.

    Args:
        contract: the table's contract; its ``feature_columns`` are used unless
            ``features`` narrows them.
        categorical: "onehot" (rare categories grouped, unknown ones ignored),
            "ordinal" (unknown categories encoded as -1), the better choice for trees, or
            "target" (scikit-learn's TargetEncoder: label-aware, so it sits inside the
            pipeline, is fit on each training fold only and cross-fits its own training
            rows; the encoding never sees a test row's label).
        max_categories: one-hot columns per categorical feature, rarest grouped.
        features: an explicit subset of the feature columns.

    Raises:
        FeatureError: an unknown encoding, feature name or column type.
    """
    if categorical not in ("onehot", "ordinal", "target"):
        raise FeatureError(f"categorical={categorical!r}: choose 'onehot', 'ordinal' or "
                           "'target'.")
    names = list(features) if features is not None else list(contract.feature_columns)
    types = {c.name: c.type for c in contract.columns}
    unknown = [n for n in names if n not in types]
    if unknown:
        raise FeatureError(
            f"Features {unknown} are not columns of contract `{contract.table}`; "
            f"its columns are {sorted(types)}."
        )
    if not names:
        raise FeatureError(
            f"Contract `{contract.table}` leaves no feature columns once the primary key, "
            "target, event time and entity are set aside; add feature columns to it."
        )
    groups: dict[str, list[str]] = {"numeric": [], "categorical": [], "datetime": [], "boolean": []}
    for name in names:
        groups[_group_of(types[name], name)].append(name)
    transformers = []
    if groups["numeric"]:
        transformers.append(("numeric", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), groups["numeric"]))
    if groups["categorical"]:
        transformers.append(("categorical", Pipeline([
            ("impute", FunctionTransformer(as_category_strings, feature_names_out="one-to-one")),
            ("encode", _encoder(categorical, max_categories)),
        ]), groups["categorical"]))
    if groups["datetime"]:
        transformers.append(("datetime", Pipeline([
            ("calendar", CalendarFeatures()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), groups["datetime"]))
    if groups["boolean"]:
        transformers.append(("boolean", Pipeline([
            ("cast", FunctionTransformer(as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
        ]), groups["boolean"]))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


def build_pipeline(contract: ContractLike, estimator: Estimator, *, categorical: str = "onehot",
                   features: Sequence[str] | None = None) -> Pipeline:
    """``Pipeline([("features", <from contract>), ("model", clone(estimator))])``.

    The estimator is cloned: a pre-fitted estimator or transformer handed in is refit
    inside every fold rather than carrying knowledge of rows it saw before.
    """
    if not hasattr(estimator, "fit"):
        raise FeatureError(
            f"{type(estimator).__name__} has no `fit`; pass a scikit-learn compatible "
            "estimator (e.g. HistGradientBoostingClassifier(), LGBMClassifier())."
        )
    return Pipeline([
        ("features", build_preprocessor(contract, categorical=categorical, features=features)),
        ("model", clone(estimator)),
    ])


def _encoder(kind: str, max_categories: int) -> Any:
    if kind == "target":
        from sklearn.preprocessing import TargetEncoder

        return TargetEncoder(target_type="auto", random_state=0)
    if kind == "ordinal":
        return OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    return OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=max_categories,
                         sparse_output=False)


def _group_of(column_type: str, name: str) -> str:
    if column_type in NUMERIC_TYPES:
        return "numeric"
    if column_type in CATEGORICAL_TYPES:
        return "categorical"
    if column_type in TEMPORAL_TYPES:
        return "datetime"
    if column_type == "bool":
        return "boolean"
    raise FeatureError(
        f"Column `{name}` has contract type {column_type!r}; features support int, float, "
        "bool, string, category, date and datetime."
    )
