"""The retry policy: transient failures retried with jittered backoff, permanent ones
not; timeouts TIMED_OUT; the idempotency key a retried step uses for its side effects."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.data.errors import ContractError
from lockgate.pipelines import PipelineError, StepSpec, run_pipeline, step
from lockgate.pipelines.step_context import current_step
from lockgate.store import Store

from .conftest import ModuleWriter, load


@pytest.mark.parametrize(("error", "retried"), [
    (ConnectionResetError("reset"), True),
    (TimeoutError("slow"), True),
    (BrokenPipeError(), True),
    (OSError("I/O error"), True),
    (ValueError("bad row"), False),
    (TypeError("wrong type"), False),
    (ContractError("column `age` missing"), False),
    (FileNotFoundError("gone.csv"), False),
    (PermissionError("denied"), False),
    (RuntimeError("bug"), False),
    (KeyError("x"), False),
])
def test_default_policy_retries_transient_failures_only(error: Exception,
                                                        retried: bool) -> None:
    assert StepSpec().retries_on(error) is retried


def test_transient_client_errors_are_matched_by_name() -> None:
    httpx = pytest.importorskip("httpx")
    redis = pytest.importorskip("redis")
    assert StepSpec().retries_on(httpx.ConnectError("refused"))
    assert StepSpec().retries_on(redis.exceptions.ConnectionError("down"))
    assert not StepSpec().retries_on(httpx.HTTPStatusError("404", request=None,
                                                           response=None))  # type: ignore[arg-type]


def test_explicit_retry_on_is_used_as_given() -> None:
    spec = StepSpec(retry_on=(RuntimeError,))
    assert spec.retries_on(RuntimeError("flaky library")) and spec.retries_on(RecursionError())
    assert not spec.retries_on(ConnectionError())


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    spec = StepSpec(retry_delay=1.0, retry_max_delay=5.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = [spec.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread out
        assert len(set(delays)) == 200  # no two retries wait the same


def test_bad_options_are_refused() -> None:
    with pytest.raises(PipelineError, match="retry_on="):
        step(retry_on=("ValueError",))(lambda: 1)  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="retry_max_delay"):
        step(retry_delay=10, retry_max_delay=1)


POLICY = """
import json
from pathlib import Path

import lockgate as lg
from lockgate.pipelines import Pipeline, node, step


def _count(counter):
    path = Path(counter)
    seen = int(path.read_text()) if path.exists() else 0
    path.write_text(str(seen + 1))
    return seen + 1


@step(retries=4, retry_delay=0.01)
def validate(counter: str) -> int:
    _count(counter)
    raise ValueError("row 3: age is -1")


@step(retries=2, retry_delay=0.01, retry_on=(RuntimeError,))
def flaky_library(counter: str) -> int:
    if _count(counter) < 2:
        raise RuntimeError("the library hiccupped")
    return 1


@step(retries=2, retry_delay=0.01)
def pay(counter: str, ledger: str) -> int:
    attempt = _count(counter)
    key = lg.current_step().idempotency_key
    with open(ledger, "a") as out:
        out.write(json.dumps({"attempt": attempt, "key": key}) + "\\n")
    if attempt == 1:
        raise ConnectionError("the payment API dropped the connection")
    return attempt


@step
def fan(n: int = 2) -> list:
    return list(range(n))


@step(retries=1, retry_delay=0.01)
def per_item(x: int, ledger: str) -> str:
    key = lg.current_step().idempotency_key
    with open(ledger, "a") as out:
        out.write(json.dumps({"x": x, "key": key}) + "\\n")
    return key


permanent = Pipeline("permanent", [node(validate, outputs="n")])
custom = Pipeline("custom", [node(flaky_library, outputs="n")])
payment = Pipeline("payment", [node(pay, outputs="n")])
mapped = Pipeline("mapped", [node(fan, outputs="xs"),
                             node(per_item, inputs={"x": "xs"}, outputs="keys", map_over="x")])
"""


def test_a_permanent_error_is_not_retried(write_module: ModuleWriter, settings: Settings,
                                          tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result = run_pipeline(load(write_module(POLICY), "permanent"),
                          {"validate": {"counter": str(counter)}}, settings=settings,
                          max_workers=1)
    assert result.statuses() == {"validate": "FAILED"}
    assert counter.read_text() == "1"  # not 5
    assert result.step("validate").attempts == 1
    console = Store.open(settings).console(result.step("validate").run_id)
    assert "not retried: ValueError: row 3: age is -1 is not transient" in console


def test_retry_on_names_what_is_transient_for_this_step(
        write_module: ModuleWriter, settings: Settings, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result = run_pipeline(load(write_module(POLICY), "custom"),
                          {"flaky_library": {"counter": str(counter)}}, settings=settings,
                          max_workers=1)
    assert result.ok and result.step("flaky_library").attempts == 2


def test_idempotency_key_is_stable_across_attempts(write_module: ModuleWriter,
                                                   settings: Settings, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    result = run_pipeline(load(write_module(POLICY), "payment"),
                          {"pay": {"counter": str(tmp_path / "count"), "ledger": str(ledger)}},
                          settings=settings, max_workers=1)
    assert result.ok and result.step("pay").attempts == 2
    writes = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [w["attempt"] for w in writes] == [1, 2]
    assert {w["key"] for w in writes} == {f"{result.run_id}/pay"}  # one key: dedupe works


def test_fan_out_items_get_distinct_keys(write_module: ModuleWriter, settings: Settings,
                                         tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    result = run_pipeline(load(write_module(POLICY), "mapped"),
                          {"per_item": {"ledger": str(ledger)}}, settings=settings,
                          max_workers=1)
    assert result.ok
    assert result.load("keys", settings) == [f"{result.run_id}/per_item/0",
                                             f"{result.run_id}/per_item/1"]


def test_current_step_outside_a_step_says_so() -> None:
    with pytest.raises(PipelineError, match="only available while a pipeline step runs"):
        current_step()
