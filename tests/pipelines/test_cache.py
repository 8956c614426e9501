"""Cache keys: code (with user helpers), params and input hashes."""

from __future__ import annotations

import json

from lockgate.pipelines.cache import cache_key, code_hash, is_user_module

from .conftest import ModuleWriter, load

SOURCE = """
import json

from lockgate.pipelines import Pipeline, node, step

SCALE = 2


class Scaler:
    def apply(self, x):
        return x * SCALE


def helper(x):
    return Scaler().apply(x) + 1


@step
def main(xs: list) -> list:
    return [helper(x) for x in json.loads(json.dumps(xs))]


pipe = Pipeline("p", [node(main, inputs="xs", outputs="ys")])
"""


def _hash(write: ModuleWriter, source: str) -> str:
    return code_hash(load(write(source)).node("main").func)


def test_code_hash_follows_user_helpers_classes_and_constants(write_module: ModuleWriter
                                                              ) -> None:
    base = _hash(write_module, SOURCE)
    assert _hash(write_module, SOURCE) == base
    assert _hash(write_module, SOURCE.replace("+ 1", "+ 2")) != base
    assert _hash(write_module, SOURCE.replace("x * SCALE", "x * SCALE * 1")) != base
    assert _hash(write_module, SOURCE.replace("SCALE = 2", "SCALE = 3")) != base
    # Code the step does not reach does not matter.
    assert _hash(write_module, SOURCE + "\n\ndef unrelated():\n    return 1\n") == base


def test_libraries_are_not_user_code() -> None:
    import polars

    import lockgate.demo.pipelines as demo
    import lockgate.pipelines.runner as runner

    assert not is_user_module(json) and not is_user_module(polars)
    assert not is_user_module(runner)
    assert is_user_module(demo)


def test_key_changes_with_params_inputs_and_outputs() -> None:
    base = dict(code="c", params={"a": 1}, inputs={"x": "s1", "ys": ["s2", "s3"]},
                outputs=["out"])
    key = cache_key(**base)
    assert cache_key(**base) == key
    assert cache_key(**{**base, "params": {"a": 2}}) != key
    assert cache_key(**{**base, "inputs": {"x": "s9", "ys": ["s2", "s3"]}}) != key
    assert cache_key(**{**base, "inputs": {"x": "s1", "ys": ["s3", "s2"]}}) != key
    assert cache_key(**{**base, "outputs": ["renamed"]}) != key
    assert len(key) == 64
