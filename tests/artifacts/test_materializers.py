"""Materializers: each supported type round-trips; unknown and unsafe types are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import polars as pl
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lockgate.artifacts import ArtifactStore, dumps, loads
from lockgate.config import Settings
from lockgate.errors import ArtifactError


def test_frames_arrays_json_text_round_trip() -> None:
    values = [
        pl.DataFrame({"a": [1, 2], "b": ["x", None]}),
        np.arange(12, dtype=np.float32).reshape(3, 4),
        {"k": [1, 2.5, None], "nested": {"ok": True}},
        "plain text",
        b"\x00\x01",
    ]
    for value in values:
        data, materializer = dumps(value)
        back = loads(data, materializer.name)
        if isinstance(value, pl.DataFrame):
            assert back.equals(value)
        elif isinstance(value, np.ndarray):
            assert back.dtype == value.dtype and np.array_equal(back, value)
        else:
            assert back == value
    frame = pd.DataFrame({"a": [1.5, 2.5]})
    data, materializer = dumps(frame)
    assert materializer.name == "pandas"
    pd.testing.assert_frame_equal(loads(data, "pandas"), frame)


def test_estimator_round_trips_through_skops() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    y = (x[:, 0] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    data, materializer = dumps(model)
    assert materializer.name == "skops"
    assert np.array_equal(loads(data, "skops").predict(x), model.predict(x))


def test_figure_round_trips() -> None:
    figure = go.Figure(go.Scatter(y=[1, 3, 2]))
    data, materializer = dumps(figure)
    assert materializer.name == "plotly"
    assert list(loads(data, "plotly").data[0].y) == [1, 3, 2]


class Custom:
    pass


def test_unknown_type_names_the_type_and_how_to_register() -> None:
    with pytest.raises(ArtifactError, match=r"type .*Custom.*register_materializer"):
        dumps(Custom())


def test_object_arrays_are_refused_rather_than_pickled() -> None:
    with pytest.raises(ArtifactError, match="dtype=object"):
        dumps(np.array([object()], dtype=object))


def test_skops_blob_with_untrusted_type_is_refused() -> None:
    data = sio.dumps({"model": LogisticRegression(), "extra": _Untrusted()})
    with pytest.raises(ArtifactError, match=r"outside lockgate's allowlist"):
        loads(data, "skops")


class _Untrusted:
    def fit(self) -> None:
        pass

    def get_params(self) -> dict:
        return {}


def test_artifact_store_refuses_a_tampered_artifact(settings: Settings) -> None:
    artifacts = ArtifactStore.open(settings)
    record = artifacts.save({"a": 1}, "meta")
    assert artifacts.load(record) == {"a": 1}
    artifacts.blobs.path_for(record.sha256).write_bytes(b'{"a": 2}')
    with pytest.raises(ArtifactError, match="corrupted"):
        artifacts.load(record.id)
