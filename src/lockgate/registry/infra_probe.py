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
    import skops.io as sio

    started = time.perf_counter()
    pipeline = sio.loads((root / "model.skops").read_bytes(), trusted=config["trusted"])
    load_ms = (time.perf_counter() - started) * 1000
    contract = json.loads((root / "contract.json").read_text())
    examples = json.loads((root / "examples.json").read_text())
    features = config["features"]
    latencies, outputs = [], []
    for _round in range(config.get("rounds", 5)):
        for record in examples:
            started = time.perf_counter()
            output = pipeline.predict(_frame([record], contract, features))
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
