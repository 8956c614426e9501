"""An ONNX model that predicts like a scikit-learn estimator, run by onnxruntime.

ONNX is the escape hatch for any model no other flavor handles: export it (skl2onnx,
onnxmltools, the training library's own exporter), wrap it in :class:`OnnxModel`, log it
as the run's ``model``. Tensors stored outside the ``.onnx`` file ("external data") are
resolved only among the model's own flat files, never by a path taken from the file:
a ``location`` of ``../../etc/passwd`` or ``/data/w.bin`` is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lockgate.artifacts.flavors.flavor import FlavorError
from lockgate.user_types import Estimator, FrameLike

if TYPE_CHECKING:
    import pandas as pd

MODEL_FILE = "model.onnx"
_NUMPY = {"tensor(float)": np.float32, "tensor(double)": np.float64,
          "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
          "tensor(string)": np.object_}


class OnnxModel:
    """An ONNX graph plus what predicting needs: the class labels of a classifier.

    Args:
        model: the serialized ``.onnx`` bytes (or an ``onnx.ModelProto``).
        classes: class labels in the order of the probability output; None for a
            regressor.
        external: external-data files by the flat name the graph's tensors refer to.
    """

    def __init__(self, model: bytes | Any, *, classes: Sequence[Any] | None = None,
                 external: Mapping[str, bytes] | None = None) -> None:
        self.model_bytes = model if isinstance(model, bytes) else model.SerializeToString()
        self.classes = None if classes is None else list(np.asarray(classes).tolist())
        self.external = dict(external or {})
        self._session: Any = None

    @classmethod
    def from_sklearn(cls, model: Estimator, sample: pd.DataFrame) -> OnnxModel:
        """Export a fitted scikit-learn model with skl2onnx.

        ``sample`` is a pandas frame of feature columns. A pipeline that starts with a
        ``ColumnTransformer`` gets one input per column (typed by the frame's dtypes);
        any other model one float matrix input.
        """
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import (
            FloatTensorType,
            Int64TensorType,
            StringTensorType,
        )
        from sklearn.compose import ColumnTransformer

        steps = getattr(model, "steps", None)
        if steps and isinstance(steps[0][1], ColumnTransformer):
            types = [(str(name), (Int64TensorType if dtype.kind in "iu" else FloatTensorType
                                  if dtype.kind in "fb" else StringTensorType)([None, 1]))
                     for name, dtype in sample.dtypes.items()]
        else:
            types = [("X", FloatTensorType([None, sample.shape[1]]))]
        final = steps[-1][1] if steps else model
        options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
        proto = to_onnx(model, initial_types=types, options=options)
        return cls(proto, classes=getattr(model, "classes_", None))

    @property
    def classes_(self) -> np.ndarray:
        """Class labels (classifiers only)."""
        if self.classes is None:
            raise AttributeError("a regressor has no classes_")
        return np.asarray(self.classes)

    def session(self) -> Any:
        """The onnxruntime session (built once, with external data inlined from our files)."""
        if self._session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                inline_external_data(self.model_bytes, self.external), options,
                providers=["CPUExecutionProvider"])
        return self._session

    def predict_proba(self, X: FrameLike | np.ndarray) -> np.ndarray:
        """Class probabilities in ``classes_`` order."""
        if self.classes is None:
            raise AttributeError("a regressor has no predict_proba")
        outputs = self._run(X)
        probabilities = outputs[1] if len(outputs) > 1 else outputs[0]
        if isinstance(probabilities, list):  # ZipMap output: one {label: p} per row
            return np.array([[row[c] for c in self.classes] for row in probabilities])
        return np.asarray(probabilities, dtype=float)

    def predict(self, X: FrameLike | np.ndarray) -> np.ndarray:
        """Labels for a classifier (``classes_[argmax(proba)]``), values for a regressor."""
        if self.classes is None:
            return np.asarray(self._run(X)[0], dtype=float).reshape(-1)
        return self.classes_.take(self.predict_proba(X).argmax(axis=1))

    def _run(self, X: Any) -> list[Any]:
        session = self.session()
        return session.run(None, _feeds(session.get_inputs(), X))


def _feeds(inputs: list[Any], X: Any) -> dict[str, Any]:
    columns = list(getattr(X, "columns", []))
    if all(i.name in columns for i in inputs):  # one input per column
        return {i.name: _column(X[i.name], i.type) for i in inputs}
    if len(inputs) == 1:  # one matrix input
        values = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
        return {inputs[0].name: values.astype(_NUMPY.get(inputs[0].type, np.float32))}
    raise FlavorError(f"The ONNX model takes inputs {[i.name for i in inputs]}; the request "
                      f"has columns {columns}.")


def _column(values: Any, kind: str) -> np.ndarray:
    dtype = _NUMPY.get(kind, np.float32)
    if dtype is np.object_:
        return np.asarray(values.astype(str), dtype=object).reshape(-1, 1)
    return np.asarray(values, dtype=dtype).reshape(-1, 1)


def inline_external_data(model_bytes: bytes, external: Mapping[str, bytes]) -> bytes:
    """The model with every external tensor's bytes copied in from ``external``.

    Raises:
        FlavorError: a tensor names a location that is not one of the given flat files
            (a path, ``..``, an absolute name), or an offset/length outside the file.
    """
    import onnx

    model = onnx.load_model_from_string(model_bytes)
    changed = False
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        if location not in external or "/" in location or "\\" in location:
            raise FlavorError(
                f"ONNX tensor `{tensor.name}` keeps its data at {location!r}, which is not "
                f"one of the model's own files {sorted(external)}; external data must be a "
                "plain file name shipped beside the model.")
        data = external[location]
        offset, length = int(entries.get("offset", 0)), entries.get("length")
        end = len(data) if length is None else offset + int(length)
        if offset < 0 or end > len(data) or end < offset:
            raise FlavorError(f"ONNX tensor `{tensor.name}` reads bytes {offset}..{end} of "
                              f"`{location}`, which has {len(data)}.")
        tensor.raw_data = data[offset:end]
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
        changed = True
    return model.SerializeToString() if changed else model_bytes


def _tensors(model: Any) -> Iterator[Any]:
    """Every tensor of the model: initializers and attributes, subgraphs included."""
    graphs = [model.graph]
    graphs += [f for f in getattr(model, "functions", [])]
    while graphs:
        graph = graphs.pop()
        yield from getattr(graph, "initializer", [])
        for sparse in getattr(graph, "sparse_initializer", []):
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
