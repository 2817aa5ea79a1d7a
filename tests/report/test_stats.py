"""pada.stats: bootstrap replicates, percentile intervals, paired and stratified differences."""

from __future__ import annotations

import numpy as np
import pytest

from pada.stats import (
    Interval,
    bootstrap_mean,
    bootstrap_means,
    paired_difference,
    percentile_interval,
    pooled_paired_difference,
    stratified_bootstrap,
)


def test_constant_vector_has_a_zero_width_interval() -> None:
    iv = bootstrap_mean([0.7] * 25, n_boot=500)
    assert iv.low == iv.high == pytest.approx(0.7)
    assert iv.estimate == pytest.approx(0.7)
    assert iv.contains(0.7) and iv.excludes_zero


def test_known_mean_lies_inside_its_interval() -> None:
    values = [1.0] * 30 + [0.0] * 70
    iv = bootstrap_mean(values, n_boot=2000)
    assert iv.estimate == 0.3
    assert iv.low < 0.3 < iv.high
    # The binomial standard error is about 0.046: the 95% interval spans roughly ± 0.09.
    assert 0.15 < iv.high - iv.low < 0.22


def test_same_seed_same_interval_and_another_seed_differs() -> None:
    values = np.r_[np.ones(40), np.zeros(60)]
    assert bootstrap_mean(values, n_boot=1000, seed=0) == bootstrap_mean(values, n_boot=1000, seed=0)
    assert bootstrap_mean(values, n_boot=1000, seed=0) != bootstrap_mean(values, n_boot=1000, seed=1)


def test_count_resampling_matches_index_resampling() -> None:
    # The multinomial shortcut must have the same distribution as resampling item indices.
    values = np.r_[np.ones(12), np.zeros(20), -np.ones(8)]
    fast = bootstrap_means(values, 20000, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    slow = values[rng.integers(0, values.size, size=(20000, values.size))].mean(axis=1)
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.003)
    assert fast.std() == pytest.approx(slow.std(), rel=0.03)
    assert fast.std() == pytest.approx(values.std() / np.sqrt(values.size), rel=0.03)


def test_percentile_interval_takes_the_central_share() -> None:
    low, high = percentile_interval(np.arange(101.0), level=0.9)
    assert (low, high) == pytest.approx((5.0, 95.0))


def test_paired_difference_of_identical_runs_is_zero() -> None:
    a = [1, 0, 1, 1, 0, 0, 1]
    iv = paired_difference(a, a, n_boot=300)
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert iv.contains(0.0) and not iv.excludes_zero


def test_paired_difference_resamples_the_same_items_for_both() -> None:
    # b is a shifted copy of a: every item differs by exactly 1, so every replicate is exactly 1.
    a = np.linspace(0.0, 1.0, 50) + 1.0
    b = a - 1.0
    iv = paired_difference(a, b, n_boot=300)
    assert iv.low == pytest.approx(1.0) and iv.high == pytest.approx(1.0)


def test_pooled_difference_is_the_mean_of_per_pair_differences() -> None:
    n = 32
    base = np.zeros(n)
    pairs = []
    for k in (4, 8, 12):
        better = base.copy()
        better[:k] = 1.0
        pairs.append((better, base))
    iv = pooled_paired_difference(pairs, n_boot=2000)
    assert iv.estimate == 0.25  # (4 + 8 + 12) / 3 / 32
    assert iv.contains(0.25) and iv.excludes_zero


def test_stratified_estimate_weighs_every_stratum_the_same() -> None:
    iv = stratified_bootstrap([[1.0] * 10, [0.0] * 30], n_boot=100)
    assert iv.estimate == 0.5  # not 10 / 40
    assert iv.low == iv.high == 0.5


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        bootstrap_mean([])
    with pytest.raises(ValueError):
        stratified_bootstrap([])
    with pytest.raises(ValueError):
        paired_difference([1, 0], [1, 0, 1])
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, 0.0], n_boot=0)
    with pytest.raises(ValueError):
        bootstrap_mean([1.0, float("nan")])


def test_interval_helpers() -> None:
    iv = Interval(0.1, -0.02, 0.2)
    assert iv.contains(0.0) and not iv.excludes_zero
    assert Interval(0.1, 0.01, 0.2).excludes_zero
