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
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

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


class _Predictor:
    """A model as the timing loop calls it: ``predict(frame)``."""

    def __init__(self, predict):
        self.predict = predict


def _load_sklearn(root, meta, trusted):
    return _skops(root, meta.get("model_file", "model.skops"), trusted)


def _preprocess(root, meta, trusted):
    if not meta.get("preprocess_file"):
        return lambda frame: frame
    return _skops(root, meta["preprocess_file"], trusted).transform


def _load_lightgbm(root, meta, trusted):
    import lightgbm

    booster = lightgbm.Booster(model_str=(root / meta["booster_file"]).read_text())
    transform = _preprocess(root, meta, trusted)
    return _Predictor(lambda frame: booster.predict(transform(frame)))


def _load_xgboost(root, meta, trusted):
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray((root / meta["booster_file"]).read_bytes()))
    window = tuple(meta.get("iteration_range") or (0, 0))
    transform = _preprocess(root, meta, trusted)
    return _Predictor(lambda frame: booster.inplace_predict(
        transform(frame), iteration_range=window, validate_features=False))


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
            feeds: dict[str, Any]
            feeds = {i.name: np.asarray(frame[i.name].astype(str) if types.get(i.type) is object
                                        else frame[i.name], dtype=types.get(i.type, np.float32)
                                        ).reshape(-1, 1) for i in inputs}
        else:
            feeds = {inputs[0].name: frame.to_numpy().astype(types.get(inputs[0].type,
                                                                        np.float32))}
        return session.run(None, feeds)[0].reshape(-1)

    return _Predictor(predict)


LOADERS = {"sklearn": _load_sklearn, "lightgbm": _load_lightgbm, "xgboost": _load_xgboost,
           "onnx": _load_onnx}


def _time_requests(pipeline, examples, contract, features, config):
    """Time single-record predictions: a warm-up that is not counted, then ``requests``
    timed calls (fewer, but at least 10, past ``budget_s``), each with its wall and its
    CPU time.

    CPU time (this process's, ``time.process_time``) does not grow when other processes
    load the machine, so the gate judges it; wall time is reported beside it. Each p99
    comes with a distribution-free 95% interval from the order statistics.
    """
    warmup, wanted = int(config.get("warmup", 10)), int(config.get("requests", 100))
    budget = float(config.get("budget_s", 10.0))
    frames = [_frame([r], contract, features) for r in examples]
    outputs = []
    for i in range(max(warmup, len(frames))):
        output = pipeline.predict(frames[i % len(frames)])
        if i < len(frames):
            outputs.append(output[0].item() if hasattr(output[0], "item") else output[0])
    wall: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + budget
    while len(wall) < wanted and (time.perf_counter() < deadline or len(wall) < 10):
        frame = frames[len(wall) % len(frames)]
        started, started_cpu = time.perf_counter(), time.process_time()
        pipeline.predict(frame)
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    wall_p99, wall_ci = _quantile_ci(wall, 0.99)
    cpu_p99, cpu_ci = _quantile_ci(cpu, 0.99)
    return {"latency_ms_p99": wall_p99, "latency_ms_p99_ci": wall_ci,
            "latency_ms_max": max(wall), "cpu_ms_p99": cpu_p99, "cpu_ms_p99_ci": cpu_ci,
            "cpu_ms_median": sorted(cpu)[len(cpu) // 2], "requests": len(wall),
            "warmup": max(warmup, len(frames)), "outputs": outputs}


def _quantile_ci(values, q, level=0.95):
    """The ``q`` quantile of ``values`` and a distribution-free ``level`` interval: the
    order statistics whose ranks bound a Binomial(n, q) count (exact, no assumption about
    the latency distribution). With few values the upper end is the maximum."""
    ordered = sorted(values)
    n = len(ordered)
    point = ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]
    tail = (1 - level) / 2
    cdf, low, high = 0.0, 0, n - 1
    for k in range(n + 1):
        cdf += math.comb(n, k) * q ** k * (1 - q) ** (n - k)
        if cdf < tail:
            low = min(n - 1, k + 1)
        if cdf >= 1 - tail:
            high = min(n - 1, k)
            break
    return point, [ordered[low], ordered[high]]


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
    pipeline = LOADERS[flavor["name"]](root, flavor.get("meta") or {}, config["trusted"])
    load_ms = (time.perf_counter() - started) * 1000
    contract = json.loads((root / "contract.json").read_text())
    examples = json.loads((root / "examples.json").read_text())
    features = config["features"]
    timing = _time_requests(pipeline, examples, contract, features, config)
    outputs = timing.pop("outputs")
    print(json.dumps({
        "ok": True, "python": sys.version.split()[0], "load_ms": load_ms, **timing,
        "predictions": [str(o) for o in outputs[: len(examples)]],
        "mismatches": mismatches, "blocked_imports": sorted(set(blocker.blocked)),
        "lockgate_imported": any(m.startswith("lockgate") for m in sys.modules),
        "allowed_distributions": sorted(distributions),
    }))


if __name__ == "__main__":
    main()
