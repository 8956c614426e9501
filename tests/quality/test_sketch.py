"""The quantile and distinct sketches: error bounds, merging, serialisation."""

from __future__ import annotations

import numpy as np

from lockgate.quality import DistinctSketch, QuantileSketch
from lockgate.quality.sketch import splitmix64


def test_small_inputs_are_kept_exactly() -> None:
    data = np.sort(np.array([3.0, 1.0, 1.0, 2.0, 3.0, 3.0]))
    sketch = QuantileSketch.from_sorted(data, k=16)
    assert sketch.exact and sketch.rank_error == 0
    assert sketch.values.tolist() == [1.0, 2.0, 3.0]
    assert sketch.weights.tolist() == [2.0, 1.0, 3.0]
    assert sketch.cdf(2.0)[0] == 0.5
    assert sketch.quantile(0.5)[0] == 2.0


def test_compacted_sketch_stays_within_its_rank_error() -> None:
    rng = np.random.default_rng(0)
    data = np.sort(rng.normal(size=200_000))
    sketch = QuantileSketch.from_sorted(data, k=256)
    assert not sketch.exact
    probes = np.quantile(data, np.linspace(0.01, 0.99, 50))
    true_cdf = np.searchsorted(data, probes, side="right") / data.size
    assert np.max(np.abs(sketch.cdf(probes) - true_cdf)) <= sketch.relative_rank_error + 1e-9


def test_merge_bounds_error_and_keeps_k_points() -> None:
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.normal(size=50_000)), np.sort(rng.exponential(size=70_000))
    merged = QuantileSketch.from_sorted(a, 128).merge(QuantileSketch.from_sorted(b, 128))
    both = np.sort(np.concatenate((a, b)))
    assert merged.values.size <= 128 and merged.count == both.size
    probes = np.quantile(both, np.linspace(0.01, 0.99, 99))
    true_cdf = np.searchsorted(both, probes, side="right") / both.size
    assert np.max(np.abs(merged.cdf(probes) - true_cdf)) <= merged.relative_rank_error


def test_sketch_round_trips_through_dict() -> None:
    sketch = QuantileSketch.from_sorted(np.sort(np.random.default_rng(2).random(5000)), 64)
    again = QuantileSketch.from_dict(sketch.to_dict())
    assert np.array_equal(again.values, sketch.values) and again.rank_error == sketch.rank_error


def test_distinct_sketch_is_exact_when_small_and_close_when_large() -> None:
    small = DistinctSketch.from_hashes(splitmix64(np.arange(500.0)), scheme="splitmix64")
    assert small.estimate == 500
    big = DistinctSketch.from_hashes(splitmix64(np.arange(200_000.0)), scheme="splitmix64")
    assert abs(big.estimate - 200_000) / 200_000 < 0.1


def test_distinct_sketch_merge_counts_overlap_once() -> None:
    a = DistinctSketch.from_hashes(splitmix64(np.arange(0.0, 60_000)), scheme="splitmix64")
    b = DistinctSketch.from_hashes(splitmix64(np.arange(30_000.0, 90_000)), scheme="splitmix64")
    assert abs(a.merge(b).estimate - 90_000) / 90_000 < 0.1
    again = DistinctSketch.from_dict(a.merge(b).to_dict())
    assert again.estimate == a.merge(b).estimate


def test_incompatible_hash_schemes_merge_to_a_lower_bound() -> None:
    a = DistinctSketch.from_hashes(splitmix64(np.arange(100.0)), scheme="splitmix64")
    b = DistinctSketch.from_hashes(splitmix64(np.arange(300.0)), scheme="other")
    assert a.merge(b).estimate == 300


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=300)


@settings(max_examples=60, deadline=None)
@given(_values, _values)
def test_merge_of_any_two_sketches_respects_the_tracked_error(a: list[float],
                                                               b: list[float]) -> None:
    left = QuantileSketch.from_sorted(np.sort(np.array(a, dtype=float)), k=32)
    right = QuantileSketch.from_sorted(np.sort(np.array(b, dtype=float)), k=32)
    merged = left.merge(right)
    both = np.sort(np.array(a + b, dtype=float))
    assert merged.count == both.size
    if both.size:
        true_cdf = np.searchsorted(both, both, side="right") / both.size
        assert np.max(np.abs(merged.cdf(both) - true_cdf)) <= merged.relative_rank_error + 1e-9


def test_rank_error_covers_blocks_rounded_up() -> None:
    # 33 distinct values in 32 points: one block holds 2 rows, so a CDF query can be
    # off by one row (1/33), more than n/k/2 rows would claim.
    data = np.concatenate(([0.0, 0.125, 0.25, 0.5], np.arange(1.0, 30.0)))
    sketch = QuantileSketch.from_sorted(data, k=32)
    true_cdf = np.arange(1, data.size + 1) / data.size
    assert np.max(np.abs(sketch.cdf(data) - true_cdf)) <= sketch.relative_rank_error + 1e-9
