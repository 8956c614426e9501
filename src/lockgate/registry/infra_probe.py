"""Infra check probe: run as ``python -I -c <this source> <package> <config json>``.

This file must not import lockgate: it proves that a package loads and answers its
example requests in a fresh interpreter that can import only the standard library and
the distributions the package records (plus what those require). An import hook refuses
every other top-level module. It prints one JSON object on stdout.
"""

import hashlib
import importlib.abc
import importlib.metadata
import json
import re
import sys
import time
from pathlib import Path

CORE = ("scikit-learn", "skops", "numpy")


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements):
    """Distributions reachable from the recorded requirements through Requires-Dist."""
    seen, todo = set(), [_norm(n) for n in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            if "extra ==" in line:
                continue
            match = re.match(r"^\s*([A-Za-z0-9_.\-]+)", line)
            if match:
                todo.append(_norm(match.group(1)))
    return seen


class _Blocker(importlib.abc.MetaPathFinder):
    def __init__(self, allowed):
        self.allowed = allowed
        self.blocked = []

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".", 1)[0]
        if top in self.allowed or top in sys.stdlib_module_names or top.startswith("_"):
            return None
        self.blocked.append(fullname)
        raise ModuleNotFoundError(f"{fullname} is not in the package's requirements")


def _verify(root):
    manifest = json.loads((root / "MANIFEST.json").read_text())
    bad = [n for n, e in manifest["files"].items()
           if hashlib.sha256((root / n).read_bytes()).hexdigest() != e["sha256"]]
    if bad:
        raise SystemExit(json.dumps({"ok": False, "error": f"files changed: {bad}"}))


def _frame(records, contract, features):
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=features)
    kinds = {c["name"]: c.get("type") for c in contract["columns"]}
    for name in features:
        if kinds.get(name) in ("date", "datetime"):
            frame[name] = pd.to_datetime(frame[name], utc=kinds[name] == "datetime")
    return frame


def _skops(root, name, trusted):
    import skops.io as sio

    return sio.loads((root / name).read_bytes(), trusted=trusted)


def _load_sklearn(root, meta, trusted):
    return _skops(root, meta.get("model_file", "model.skops"), trusted).predict


def _preprocess(root, meta, trusted):
    if not meta.get("preprocess_file"):
        return lambda frame: frame
    return _skops(root, meta["preprocess_file"], trusted).transform


def _load_lightgbm(root, meta, trusted):
    import lightgbm

    booster = lightgbm.Booster(model_str=(root / meta["booster_file"]).read_text())
    transform = _preprocess(root, meta, trusted)
    return lambda frame: booster.predict(transform(frame))


def _load_xgboost(root, meta, trusted):
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray((root / meta["booster_file"]).read_bytes()))
    window = tuple(meta.get("iteration_range") or (0, 0))
    transform = _preprocess(root, meta, trusted)
    return lambda frame: booster.inplace_predict(transform(frame), iteration_range=window,
                                                 validate_features=False)


def _load_onnx(root, meta, trusted):
    import numpy as np
    import onnxruntime

    # lockgate's loader checked that external data stays among the package's own files
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # as lockgate serves it; a thread pool per core spins
    session = onnxruntime.InferenceSession(str(root / meta.get("model_file", "model.onnx")),
                                           options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64,
             "tensor(int64)": np.int64, "tensor(string)": object, "tensor(bool)": np.bool_}

    def predict(frame):
        if all(i.name in frame.columns for i in inputs):
            feeds = {i.name: np.asarray(frame[i.name].astype(str) if types.get(i.type) is object
                                        else frame[i.name], dtype=types.get(i.type, np.float32)
                                        ).reshape(-1, 1) for i in inputs}
        else:
            feeds = {inputs[0].name: frame.to_numpy().astype(types.get(inputs[0].type,
                                                                        np.float32))}
        return session.run(None, feeds)[0].reshape(-1)

    return predict


LOADERS = {"sklearn": _load_sklearn, "lightgbm": _load_lightgbm, "xgboost": _load_xgboost,
           "onnx": _load_onnx}


def main():
    root = Path(sys.argv[1])
    config = json.loads(sys.argv[2])
    _verify(root)
    environment = json.loads((root / "environment.json").read_text())
    recorded = environment["requirements"]
    distributions = _closure(recorded)
    modules = {m for m, dists in importlib.metadata.packages_distributions().items()
               if any(_norm(d) in distributions for d in dists)}
    blocker = _Blocker(modules)
    sys.meta_path.insert(0, blocker)
    mismatches = {}
    for name, version in recorded.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            mismatches[name] = {"recorded": version, "installed": installed}
    started = time.perf_counter()
    import pandas  # noqa: F401  (part of loading: requests are frames; not the first request's cost)

    flavor = config.get("flavor") or {"name": "sklearn", "meta": {"model_file": "model.skops"}}
    predict = LOADERS[flavor["name"]](root, flavor.get("meta") or {}, config["trusted"])
    load_ms = (time.perf_counter() - started) * 1000
    contract = json.loads((root / "contract.json").read_text())
    examples = json.loads((root / "examples.json").read_text())
    features = config["features"]
    latencies, outputs = [], []
    for _round in range(config.get("rounds", 5)):
        for record in examples:
            started = time.perf_counter()
            output = predict(_frame([record], contract, features))
            latencies.append((time.perf_counter() - started) * 1000)
            outputs.append(output[0].item() if hasattr(output[0], "item") else output[0])
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(json.dumps({
        "ok": True, "python": sys.version.split()[0], "load_ms": load_ms,
        "latency_ms_p99": p99, "latency_ms_max": latencies[-1], "requests": len(latencies),
        "predictions": [str(o) for o in outputs[: len(examples)]],
        "mismatches": mismatches, "blocked_imports": sorted(set(blocker.blocked)),
        "lockgate_imported": any(m.startswith("lockgate") for m in sys.modules),
        "allowed_distributions": sorted(distributions),
    }))


if __name__ == "__main__":
    main()
