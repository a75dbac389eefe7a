"""Confidence intervals and paired tests for evaluation metrics (numpy and math only).

Three methods, all percentile intervals returned as `CI(point, low, high)`:

- `bootstrap_ci` / `bootstrap_metric_ci`: the usual nonparametric bootstrap over
  examples (Efron & Tibshirani 1993, percentile method). Resample the n example
  indices with replacement `n_resamples` times, recompute the metric on each resample,
  take the alpha/2 and 1 - alpha/2 percentiles. Used for greedy (one prediction per
  example) evaluation, and by RL-for-NLU section 5.5 ("percentiles of the bootstrap
  distribution").
- `paired_bootstrap_ci`: the CI of metric(B) - metric(A) for two systems scored on the same
  examples (Koehn 2004; Berg-Kirkpatrick et al. 2012): each resample's indices are applied to
  both systems, so the row-to-row correlation cancels. Two runs on the same test rows can
  have overlapping separate CIs while B beats A in nearly every paired resample.
  `mcnemar_exact_p` is the exact two-sided McNemar test on the discordant counts.
- `sampled_predictions_ci`: RL-for-NLU Table 3 / section 5.4. Sample N predictions per
  example, which gives N complete prediction sets; compute the metric over the whole
  dataset for each set; the 95% CI is the 2.5th and 97.5th percentiles of those N
  values. This measures sampling (decoding) variability only, not the variability of
  the test set, so it is narrower than the example bootstrap for a fixed model.

The point estimate of `sampled_predictions_ci` is the mean over the prediction sets
(the paper does not say which summary it reports; the mean is the natural one).
Percentiles use numpy's default linear interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

P = TypeVar("P")
G = TypeVar("G")


class CI(NamedTuple):
    """A point estimate and its (low, high) confidence bounds."""

    point: float
    low: float
    high: float


def percentile_interval(stats: npt.ArrayLike, alpha: float = 0.05) -> tuple[float, float]:
    """The (alpha/2, 1 - alpha/2) percentiles of `stats` [R]."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    arr = np.asarray(stats, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no statistics to take percentiles of")
    low, high = np.percentile(arr, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)


def bootstrap_ci(
    values_or_fn: npt.ArrayLike | Callable[[npt.NDArray[np.int64]], float],
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    n: int | None = None,
) -> CI:
    """Example-resampling percentile bootstrap.

    `values_or_fn` is either per-example values [n] (the statistic is their mean, e.g.
    0/1 correctness for accuracy) or a function of an index array [n] -> float that
    computes the metric on the examples at those indices (then `n` is required).
    The point estimate is the statistic on the full sample (indices 0..n-1).
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if callable(values_or_fn):
        if n is None:
            raise ValueError("n (the number of examples) is required with a metric function")
        fn = values_or_fn
    else:
        values = np.asarray(values_or_fn, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"values must be 1-D, got shape {values.shape}")
        n = values.shape[0]

        def fn(idx: npt.NDArray[np.int64]) -> float:
            return float(values[idx].mean())

    if n < 1:
        raise ValueError("cannot bootstrap an empty sample")
    rng = np.random.default_rng(seed)
    # [R, n]: row r holds the example indices of resample r
    resamples = rng.integers(0, n, size=(n_resamples, n))
    if not callable(values_or_fn):
        stats = values[resamples].mean(axis=1)  # vectorised fast path for means
    else:
        stats = np.array([fn(row) for row in resamples], dtype=np.float64)
    point = fn(np.arange(n))
    low, high = percentile_interval(stats, alpha)
    return CI(float(point), low, high)


def bootstrap_metric_ci(
    metric: Callable[[list[P], list[G]], float],
    preds: Sequence[P],
    golds: Sequence[G],
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> CI:
    """`bootstrap_ci` of `metric(preds, golds)`, resampling (pred, gold) pairs together."""
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} gold items")

    def fn(idx: npt.NDArray[np.int64]) -> float:
        return float(metric([preds[i] for i in idx], [golds[i] for i in idx]))

    return bootstrap_ci(fn, n_resamples, alpha, seed, n=len(preds))


def paired_bootstrap_ci(
    metric_a: Callable[[npt.NDArray[np.int64]], float],
    metric_b: Callable[[npt.NDArray[np.int64]], float],
    n: int,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[CI, float]:
    """(CI of metric_b - metric_a, share of resamples where B is not better than A).

    Both functions take an index array [n] into the same n examples. The share is the usual
    one-sided paired-bootstrap p-value for "B is better" (Koehn 2004).
    """
    if n < 1:
        raise ValueError("cannot bootstrap an empty sample")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n, size=(n_resamples, n))  # [R, n], shared by A and B
    diffs = np.array([metric_b(row) - metric_a(row) for row in resamples], dtype=np.float64)
    everything = np.arange(n)
    low, high = percentile_interval(diffs, alpha)
    point = float(metric_b(everything) - metric_a(everything))
    return CI(point, low, high), float((diffs <= 0).mean())


def mcnemar_exact_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts (binomial, p = 1/2).

    `a_only`: examples only system A gets right; `b_only`: only B. No discordant pairs -> 1.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"counts must be non-negative, got {a_only}, {b_only}")
    m = a_only + b_only
    if m == 0:
        return 1.0
    k = min(a_only, b_only)
    # P(X <= k), X ~ Binomial(m, 1/2), in log space: 2**m overflows a float past m = 1023
    logs = [math.lgamma(m + 1) - math.lgamma(i + 1) - math.lgamma(m - i + 1) - m * math.log(2.0)
            for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2.0 * tail)


def sampled_predictions_ci(metric_per_set: Sequence[float] | npt.ArrayLike, alpha: float = 0.05) -> CI:
    """RL-for-NLU Table 3: percentiles of the metric over N sampled prediction sets [N].

    point = mean over sets; (low, high) = (alpha/2, 1 - alpha/2) percentiles.
    """
    values = np.asarray(metric_per_set, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("metric_per_set must be a non-empty 1-D sequence")
    low, high = percentile_interval(values, alpha)
    return CI(float(values.mean()), low, high)
