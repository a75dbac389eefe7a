"""Bootstrap and sampled-prediction CIs on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from rllr.eval.bootstrap import (
    CI,
    bootstrap_ci,
    bootstrap_metric_ci,
    percentile_interval,
    sampled_predictions_ci,
)


def test_constant_values_give_zero_width_ci():
    # every resample of [1,1,1,1] has mean 1
    assert bootstrap_ci([1.0, 1.0, 1.0, 1.0]) == CI(1.0, 1.0, 1.0)
    assert bootstrap_ci([0, 0, 0]) == CI(0.0, 0.0, 0.0)


def test_constant_metric_function_gives_zero_width_ci():
    ci = bootstrap_ci(lambda idx: 0.7, n=10)
    assert ci == CI(0.7, 0.7, 0.7)


def test_point_is_full_sample_statistic_and_ci_brackets_it():
    values = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], dtype=float)  # mean 0.7
    ci = bootstrap_ci(values, n_resamples=2000, seed=0)
    assert ci.point == pytest.approx(0.7)
    assert ci.low < 0.7 < ci.high
    # normal approximation: se = sqrt(0.7*0.3/10) = 0.145; 95% CI ~ 0.7 +- 0.28
    assert ci.low == pytest.approx(0.4, abs=0.11)
    assert ci.high == pytest.approx(1.0, abs=0.11)


def test_seeded_and_deterministic():
    values = np.random.default_rng(1).random(50)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_function_path_matches_vectorised_mean_path():
    values = np.random.default_rng(2).integers(0, 2, size=40).astype(float)
    fast = bootstrap_ci(values, n_resamples=300, seed=5)
    slow = bootstrap_ci(lambda idx: float(values[idx].mean()), n_resamples=300, seed=5, n=40)
    assert fast == pytest.approx(slow)


def test_metric_ci_resamples_pairs_together():
    preds = ["a", "b", "a", "a"]
    golds = ["a", "b", "a", "a"]  # all correct: every resample has accuracy 1

    def acc(p, g):
        return sum(x == y for x, y in zip(p, g)) / len(p)

    assert bootstrap_metric_ci(acc, preds, golds) == CI(1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_metric_ci(acc, preds, golds[:2])


def test_percentile_interval_known_values():
    # 0..100: the 2.5th and 97.5th percentiles are exactly 2.5 and 97.5 (linear interpolation)
    assert percentile_interval(np.arange(101)) == (2.5, 97.5)
    # 0..10 with alpha = 0.2: 10th and 90th percentiles = 1 and 9
    assert percentile_interval(np.arange(11), alpha=0.2) == (1.0, 9.0)


def test_sampled_predictions_ci_table3_method():
    # 101 prediction sets whose accuracies are 0.50, 0.51, ..., 1.50 (shifted for easy sums)
    per_set = [0.5 + i / 100 for i in range(101)]
    ci = sampled_predictions_ci(per_set)
    assert ci.point == pytest.approx(1.0)  # mean of 0.5..1.5
    assert ci.low == pytest.approx(0.525)  # 0.5 + 2.5/100
    assert ci.high == pytest.approx(1.475)  # 0.5 + 97.5/100
    assert sampled_predictions_ci([0.8] * 5) == CI(0.8, 0.8, 0.8)


def test_errors():
    with pytest.raises(ValueError):
        bootstrap_ci([])
    with pytest.raises(ValueError):
        bootstrap_ci(lambda idx: 1.0)  # n missing
    with pytest.raises(ValueError):
        sampled_predictions_ci([])
    with pytest.raises(ValueError):
        percentile_interval([1.0], alpha=1.5)
