"""Pipeline wiring is checked before anything runs, and can be drawn."""

from __future__ import annotations

import pytest

from lockgate.pipelines import Pipeline, PipelineError, node, step


@step
def load(n: int = 3) -> list:
    return list(range(n))


@step
def split(frame: list, ratio: float = 0.5) -> tuple:
    cut = int(len(frame) * ratio)
    return frame[:cut], frame[cut:]


@step
def fit(train: list, alpha: float) -> dict:
    return {"alpha": alpha, "n": len(train)}


@step
def pick(models: list) -> dict:
    return models[0]


def good() -> Pipeline:
    return Pipeline("train", [
        node(pick, inputs="models", outputs="best"),
        node(load, outputs="raw"),
        node(split, inputs="raw", outputs=["train", "test"]),
        node(fit, inputs={"train": "train", "alpha": "alphas"}, outputs="models",
             map_over="alpha"),
    ])


def test_nodes_are_ordered_and_graph_is_known_before_running() -> None:
    pipeline = good()
    names = [n.name for n in pipeline.nodes]
    assert names.index("load") < names.index("split") < names.index("fit") < names.index("pick")
    assert pipeline.free_inputs == {"alphas"}
    assert pipeline.downstream("split") == {"fit", "pick"}
    assert pipeline.collections() == {"alphas", "models"}
    assert pipeline.node("split").inputs == {"frame": "raw"}
    assert set(pipeline.node("fit").parameters) == set()
    dot = pipeline.to_dot()
    assert '"d:raw" -> "n:split";' in dot and '"n:fit" -> "d:models";' in dot
    described = {d["name"]: d for d in pipeline.describe()}
    assert described["split"]["params"] == {"ratio": "0.5"}


def test_every_wiring_problem_is_reported_at_once() -> None:
    with pytest.raises(PipelineError) as info:
        Pipeline("bad", [
            node(load, outputs="raw"),
            node(split, inputs={"frme": "raw"}, outputs=["train", "train"]),
            node(fit, inputs={"train": "train"}, outputs="raw", map_over="alpha"),
            node(pick, inputs="models", outputs="best", name="load"),
        ])
    message = str(info.value)
    assert message.startswith("6 problem(s) in pipeline `bad`:")
    assert "step `split` wires input `frme`, which `split` does not take. Did you mean " \
           "`frame`?" in message
    assert "dataset `train` is produced by both `split` and `split`" in message
    assert "step `fit` maps over `alpha`, which is not one of its wired inputs" in message
    assert "dataset `raw` is produced by both `load` and `fit`" in message
    assert "two steps are named `load`" in message


def test_cycles_and_local_functions_are_refused() -> None:
    with pytest.raises(PipelineError, match=r"has a cycle: .*A step cannot depend on its own"):
        Pipeline("loop", [node(split, inputs="b", outputs=["a", "x"]),
                          node(pick, inputs="a", outputs="b")])

    def local(x: int) -> int:
        return x

    with pytest.raises(PipelineError, match="steps must be module-level functions"):
        Pipeline("nested", [node(local, outputs="y")])
    with pytest.raises(PipelineError, match=r"given 3 inputs \['a', 'b', 'c'\] but `pick` "
                                            r"takes only 1 arguments"):
        node(pick, inputs=["a", "b", "c"])
