"""Bootstrap percentile intervals for accuracies and paired accuracy differences.

Everything here resamples *items*: a run's test items are drawn with replacement, as many as it has.
When several runs (seeds) are combined, each run is resampled on its own (stratified by run) and a
replicate is the mean of the per-run means, so every seed weighs the same whatever its item count.

A resample's mean depends only on how often each distinct value was drawn, and those counts follow a
multinomial law with the values' shares as probabilities. Drawing the counts instead of ``n`` indices
gives exactly the same bootstrap distribution as resampling indices, at a cost that grows with the
number of distinct values (two for correct/wrong, three for a paired difference) rather than with
``n``. For a paired difference the per-item vector ``a - b`` is resampled, which is the same as
drawing the same indices for both runs.

Every function takes a ``seed`` and starts its own ``numpy.random.default_rng(seed)``, so a result
does not depend on what was computed before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_BOOT = 10_000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    estimate: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL
    n_boot: int = DEFAULT_BOOT

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (bounds included)."""
        return self.low <= value <= self.high

    @property
    def excludes_zero(self) -> bool:
        """Whether 0 lies outside the interval (the difference is distinguishable from none)."""
        return not self.contains(0.0)


def _vector(values: ArrayLike) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("cannot bootstrap an empty vector")
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot bootstrap non-finite values")
    return x


def _check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def bootstrap_means(values: ArrayLike, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement, same size) of ``values``.

    Args:
        values: One number per item (e.g. 1.0 correct, 0.0 wrong).
        n_boot: How many resamples.
        rng: The random generator to draw from.

    Returns:
        An array of ``n_boot`` resample means.
    """
    x = _vector(values)
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size == 1:  # every resample is the vector itself
        return np.full(n_boot, float(distinct[0]))
    draws = rng.multinomial(x.size, counts / x.size, size=n_boot)
    return (draws @ distinct) / x.size


def percentile_interval(replicates: ArrayLike, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The central ``level`` share of bootstrap replicates: its lower and upper percentiles.

    Args:
        replicates: Bootstrap replicates of a statistic.
        level: Coverage, e.g. 0.95 for the 2.5th and 97.5th percentiles.

    Returns:
        ``(low, high)``.
    """
    reps = _vector(replicates)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [tail, 1.0 - tail])
    return float(low), float(high)


def stratified_bootstrap(
    strata: Sequence[ArrayLike],
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Mean of per-stratum means, with a bootstrap interval that resamples within each stratum.

    Args:
        strata: One vector per stratum (e.g. per run / seed), one value per item.
        n_boot: How many replicates.
        seed: Seed of the generator (``numpy.random.default_rng(seed)``).
        level: Coverage of the percentile interval.

    Returns:
        The estimate (mean over strata of each stratum's mean) and its interval; each replicate
        resamples every stratum independently and averages the resampled means the same way.
    """
    _check(n_boot, level)
    vectors = [_vector(s) for s in strata]
    if not vectors:
        raise ValueError("need at least one stratum")
    rng = np.random.default_rng(seed)
    estimate = float(np.mean([v.mean() for v in vectors]))
    replicates = np.mean([bootstrap_means(v, n_boot, rng) for v in vectors], axis=0)
    low, high = percentile_interval(replicates, level)
    return Interval(estimate, low, high, level, n_boot)


def bootstrap_mean(
    values: ArrayLike, n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = DEFAULT_LEVEL
) -> Interval:
    """Mean of one vector with its bootstrap percentile interval (a single stratum).

    Args:
        values: One number per item.
        n_boot: How many replicates.
        seed: Seed of the generator.
        level: Coverage of the percentile interval.

    Returns:
        The mean and its interval.
    """
    return stratified_bootstrap([values], n_boot, seed, level)


def paired_difference(
    a: ArrayLike, b: ArrayLike, n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = DEFAULT_LEVEL
) -> Interval:
    """Mean of ``a - b`` over the same items, with a paired bootstrap interval.

    Args:
        a: One outcome per item (e.g. the method's 1/0 correctness).
        b: The other run's outcomes on the same items, in the same order.
        n_boot: How many replicates.
        seed: Seed of the generator.
        level: Coverage of the percentile interval.

    Returns:
        The mean difference and its interval (both runs resampled at the same items).
    """
    return pooled_paired_difference([(a, b)], n_boot, seed, level)


def pooled_paired_difference(
    pairs: Sequence[tuple[ArrayLike, ArrayLike]],
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Mean over pairs (e.g. seeds) of each pair's mean item difference, with a stratified interval.

    Args:
        pairs: ``(a, b)`` per pair: two runs' outcomes on the same items, in the same order.
        n_boot: How many replicates.
        seed: Seed of the generator.
        level: Coverage of the percentile interval.

    Returns:
        The pooled difference and its interval; each replicate resamples the items of every pair
        independently (the same items for both runs of a pair).
    """
    diffs = []
    for a, b in pairs:
        x, y = _vector(a), _vector(b)
        if x.shape != y.shape:
            raise ValueError(f"paired vectors differ in length: {x.size} vs {y.size}")
        diffs.append(x - y)
    return stratified_bootstrap(diffs, n_boot, seed, level)
