"""The trust boundary of every flavor's loader: a package is data. A hostile file with a
valid manifest (the attacker rebuilt it), a pickle renamed to a flavor's extension, ONNX
external data pointing outside the package, a flavor or file name the manifest made up:
all refused with the reason, nothing executed."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import onnx
import pytest
from lightgbm import LGBMClassifier
from lockgate_model_cases import CONTRACT, FEATURES, PROFILE, make_frame
from onnx import TensorProto, helper
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from xgboost import XGBClassifier

from lockgate.artifacts import FlavorError, OnnxModel, load_model
from lockgate.data.contract import Contract
from lockgate.registry import PackageContents, PackageError, load_package, write_package


class _Boom:
    """Unpickling this creates a file: proof that a loader executed the payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


def _package(tmp_path: Path, model: object) -> Path:
    contents = PackageContents(model, Contract.from_dict(CONTRACT), PROFILE,
                               {"problem_type": "binary"},
                               {"run_id": "abc"}, "# card")
    return write_package(contents, tmp_path / "pkg")


def _replace(folder: Path, name: str, data: bytes, *, reseal: bool = True) -> None:
    """Swap a file; with ``reseal`` rewrite the manifest hash as an attacker would."""
    (folder / name).write_bytes(data)
    if reseal:
        manifest = json.loads((folder / "MANIFEST.json").read_text())
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(),
                                   "size": len(data)}
        (folder / "MANIFEST.json").write_text(json.dumps(manifest))


def _edit_manifest(folder: Path, change: object) -> None:
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    change(manifest)
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))


def _xy() -> tuple[object, np.ndarray]:
    frame = make_frame(200)
    return frame.select(FEATURES).to_pandas(), frame["churned"].to_numpy()


def _booster_model(kind: str) -> object:
    x, y = _xy()
    final = (LGBMClassifier(n_estimators=5, verbose=-1) if kind == "lightgbm"
             else XGBClassifier(n_estimators=5, max_depth=2))
    return make_pipeline(SimpleImputer(), final).fit(x, y)


BOOSTER_FILES = {"lightgbm": "booster.lgb.txt", "xgboost": "booster.xgb.json"}


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_altered_booster_file_is_refused_by_the_manifest(tmp_path: Path, kind: str) -> None:
    folder = _package(tmp_path, _booster_model(kind))
    name = BOOSTER_FILES[kind]
    _replace(folder, name, (folder / name).read_bytes().replace(b"1", b"2", 1), reseal=False)
    with pytest.raises(PackageError, match=rf"`{name}` hashes to .* the manifest says"):
        load_package(folder)


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost", "sklearn"])
def test_pickle_renamed_to_the_flavor_extension_is_never_unpickled(tmp_path: Path,
                                                                   kind: str) -> None:
    x, y = _xy()
    model = (make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(x, y)
             if kind == "sklearn" else _booster_model(kind))
    folder = _package(tmp_path, model)
    marker = tmp_path / "executed"
    name = {"sklearn": "model.skops", **BOOSTER_FILES}[kind]
    _replace(folder, name, pickle.dumps(_Boom(marker)))
    with pytest.raises(PackageError, match=rf"Refusing the {kind} model"):
        load_package(folder)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost"])
def test_hostile_booster_text_is_refused_with_the_parsers_reason(tmp_path: Path,
                                                                 kind: str) -> None:
    folder = _package(tmp_path, _booster_model(kind))
    hostile = (b"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n"
               b"max_feature_idx=99999999999\nTree=0\nnum_leaves=-3\n"
               if kind == "lightgbm" else b'{"learner": {"gradient_booster": 7}, "version": [9]}')
    _replace(folder, BOOSTER_FILES[kind], hostile)
    with pytest.raises(PackageError, match=rf"Refusing the {kind} model .* cannot be loaded"):
        load_package(folder)


def test_untrusted_type_in_the_preprocessing_is_refused_on_load(tmp_path: Path) -> None:
    import skops.io as sio

    folder = _package(tmp_path, _booster_model("lightgbm"))
    hostile = sio.dumps(make_pipeline(FunctionTransformer(json.dumps)))
    _replace(folder, "preprocess.skops", hostile)
    with pytest.raises(PackageError, match=r"outside lockgate's allowlist: `json.dumps`"):
        load_package(folder)


def test_manifest_naming_an_unknown_flavor_or_a_path_is_refused(tmp_path: Path) -> None:
    folder = _package(tmp_path, _booster_model("lightgbm"))

    def unknown(manifest: dict) -> None:
        manifest["flavor"]["name"] = "pickle"

    _edit_manifest(folder, unknown)
    with pytest.raises(PackageError, match=r"Unknown model flavor `pickle`.*Flavors: sklearn, "
                       "lightgbm, xgboost, onnx"):
        load_package(folder)
    with pytest.raises(FlavorError, match=r"names file '\.\./\.\./etc/passwd'"):
        load_model("lightgbm", {"booster.lgb.txt": b"tree\n"},
                   {"booster_file": "../../etc/passwd"})
    with pytest.raises(FlavorError, match=r"model files must be plain names"):
        load_model("lightgbm", {"../x.txt": b"tree\n"}, {"booster_file": "../x.txt"})


def _external_onnx(tmp_path: Path, location: str) -> tuple[bytes, dict[str, bytes]]:
    """y = x @ W with W stored as external data at ``location``."""
    weights = np.arange(3, dtype=np.float32).reshape(3, 1)
    tensor = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[3, 1])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"),
                       ("length", str(weights.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])], [tensor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(), {"weights.bin": weights.tobytes()}


def test_onnx_external_data_inside_the_package_loads(tmp_path: Path) -> None:
    data, external = _external_onnx(tmp_path, "weights.bin")
    folder = _package(tmp_path, OnnxModel(data, external=external))
    loaded = load_package(folder)
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded.pipeline.predict(x), [3.0, 3.0])
    assert {"model.onnx", "weights.bin"} <= set(loaded.manifest["files"])


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/weights.bin",
                                      "missing.bin"])
def test_onnx_external_data_outside_the_package_is_refused(tmp_path: Path,
                                                           location: str) -> None:
    secret = tmp_path / "outside.bin"
    secret.write_bytes(np.ones(3, dtype=np.float32).tobytes())
    data, external = _external_onnx(tmp_path, location)
    with pytest.raises(FlavorError, match=r"keeps its data at .* not one of the model's own"):
        OnnxModel(data, external=external).session()
    # a package built elsewhere with the reference: refused at load, before onnxruntime
    good, external = _external_onnx(tmp_path, "weights.bin")
    folder = _package(tmp_path, OnnxModel(good, external=external))
    _replace(folder, "model.onnx", data)
    with pytest.raises(PackageError, match=r"Refusing the onnx model .* keeps its data at"):
        load_package(folder)


def test_pickle_renamed_to_onnx_is_refused(tmp_path: Path) -> None:
    x, y = _xy()
    model = OnnxModel.from_sklearn(LogisticRegression(max_iter=500).fit(x, y), x)
    folder = _package(tmp_path, model)
    marker = tmp_path / "executed"
    _replace(folder, "model.onnx", pickle.dumps(_Boom(marker)))
    with pytest.raises(PackageError, match="Refusing the onnx model"):
        load_package(folder)
    assert not marker.exists()
    assert onnx  # the graph builder above comes from the onnx package
