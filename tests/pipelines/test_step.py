"""@step leaves plain functions plain and checks its options."""

from __future__ import annotations

import pytest

from lockgate.pipelines import PipelineError, StepSpec, step
from lockgate.pipelines.step import spec_of


@step(retries=2, retry_delay=0.5, timeout=10, cache=False, cpus=2)
def scale(values: list, factor: float = 2.0) -> list:
    return [v * factor for v in values]


@step
def double(x: int) -> int:
    return 2 * x


def plain(x: int) -> int:
    return x


def test_step_function_stays_directly_callable() -> None:
    assert scale([1, 2], factor=3) == [3, 6]
    assert double(4) == 8
    assert scale.__name__ == "scale"


def test_options_are_attached_and_defaults_apply_to_plain_functions() -> None:
    spec = spec_of(scale)
    assert spec == StepSpec(retries=2, retry_delay=0.5, timeout=10, cache=False, cpus=2)
    assert spec_of(plain) == StepSpec()
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0)]:  # full jitter under the ceiling
        assert 0.0 <= spec.backoff(attempt) <= ceiling


def test_bad_options_are_refused() -> None:
    with pytest.raises(PipelineError, match=r"retries=-1 must be an int >= 0; "
                                            r"timeout=0 must be > 0 seconds or None"):
        step(retries=-1, timeout=0)
    with pytest.raises(PipelineError, match="@step decorates functions; got int"):
        step(3)  # type: ignore[call-overload]
