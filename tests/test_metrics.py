"""Tests of sleep_brian.metrics against hand-computed values."""

import math
import warnings

import numpy as np
import pytest

from sleep_brian.errors import ConfigError
from sleep_brian.metrics import forgetting_metrics, rank_correlation, rate_stats, weight_stats

# --- weight_stats ----------------------------------------------------------------------------


def test_weight_stats_uniform():
    s = weight_stats(np.full(8, 0.5), 0.0, 1.0)
    assert s["n"] == 8
    assert s["entropy"] == pytest.approx(1.0)
    assert s["n_effective"] == pytest.approx(8.0)
    assert s["mean"] == pytest.approx(0.5)
    assert s["sd"] == pytest.approx(0.0)
    assert s["abs_sum"] == pytest.approx(4.0)
    assert s["saturation"] == 0.0


def test_weight_stats_one_nonzero():
    w = np.zeros(5)
    w[2] = 0.7
    s = weight_stats(w, 0.0, 1.0)
    assert s["n_effective"] == pytest.approx(1.0)
    assert s["entropy"] == pytest.approx(0.0, abs=1e-12)
    assert s["frac_at_min"] == pytest.approx(0.8)
    assert s["frac_at_max"] == 0.0
    assert s["abs_min"] == 0.0
    assert s["abs_max"] == pytest.approx(0.7)


def test_weight_stats_hand_values():
    w = np.array([0.0, 0.25, 0.25, 1.0, 1.0 - 1e-9, 0.5])
    s = weight_stats(w, 0.0, 1.0, bound_tol=1e-6)
    a = np.abs(w)
    p = a / a.sum()
    nz = p[p > 0]
    assert s["frac_at_min"] == pytest.approx(1 / 6)
    assert s["frac_at_max"] == pytest.approx(2 / 6)  # 1 - 1e-9 is within tolerance
    assert s["saturation"] == pytest.approx(3 / 6)
    assert s["mean"] == pytest.approx(w.mean())
    assert s["sd"] == pytest.approx(np.sqrt(np.mean((w - w.mean()) ** 2)))
    assert s["entropy"] == pytest.approx(-np.sum(nz * np.log(nz)) / np.log(6))
    assert s["n_effective"] == pytest.approx(1 / np.sum(p**2))
    # p = [0, 1/12, 1/12, 1/3, ~1/3, 1/6] -> sum p^2 = 2/144 + 2/9 + 1/36 = 19/72
    assert s["n_effective"] == pytest.approx(72 / 19, rel=1e-6)


def test_weight_stats_tolerance_is_relative_to_range():
    w = np.array([0.0, 0.05, 10.0])
    # range 10, bound_tol 0.01 -> 0.1 absolute: 0.05 counts as at the lower bound
    s = weight_stats(w, 0.0, 10.0, bound_tol=0.01)
    assert s["frac_at_min"] == pytest.approx(2 / 3)
    s = weight_stats(w, 0.0, 10.0, bound_tol=0.001)
    assert s["frac_at_min"] == pytest.approx(1 / 3)


def test_weight_stats_inhibitory_negative_weights():
    w = np.array([-1.0, -1.0, -0.5, 0.0])
    s = weight_stats(w, -1.0, 0.0)
    assert s["mean"] == pytest.approx(-0.625)
    assert s["abs_mean"] == pytest.approx(0.625)
    assert s["abs_sum"] == pytest.approx(2.5)
    assert s["abs_min"] == 0.0
    assert s["abs_max"] == 1.0
    assert s["frac_at_min"] == pytest.approx(0.5)  # w_min = -1 is the strongest inhibition
    assert s["frac_at_max"] == pytest.approx(0.25)
    assert s["saturation"] == pytest.approx(0.75)
    # p = [0.4, 0.4, 0.2, 0] -> sum p^2 = 0.36
    assert s["n_effective"] == pytest.approx(1 / 0.36)
    expected_h = -(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)) / np.log(4)
    assert s["entropy"] == pytest.approx(expected_h)


def test_weight_stats_beyond_bounds_count_as_at_bound():
    s = weight_stats(np.array([-0.1, 0.5, 1.2]), 0.0, 1.0)
    assert s["frac_at_min"] == pytest.approx(1 / 3)
    assert s["frac_at_max"] == pytest.approx(1 / 3)


def test_weight_stats_saturation_counts_each_weight_once():
    s = weight_stats(np.array([0.5, 0.5]), 0.0, 1.0, bound_tol=0.6)  # bands overlap
    assert s["frac_at_min"] == 1.0 and s["frac_at_max"] == 1.0
    assert s["saturation"] == 1.0


def test_weight_stats_empty_and_degenerate():
    s = weight_stats(np.array([]), 0.0, 1.0)
    assert s["n"] == 0
    assert all(math.isnan(v) for k, v in s.items() if k != "n")
    s = weight_stats(np.zeros(4), 0.0, 1.0)
    assert math.isnan(s["entropy"]) and math.isnan(s["n_effective"])
    assert s["frac_at_min"] == 1.0
    s = weight_stats(np.array([0.3]), 0.0, 1.0)
    assert math.isnan(s["entropy"]) and s["n_effective"] == 1.0


def test_weight_stats_returns_python_floats():
    s = weight_stats(np.array([0.1, 0.2]), 0.0, 1.0)
    assert all(type(v) is float for k, v in s.items() if k != "n")
    assert type(s["n"]) is int


@pytest.mark.parametrize(
    "kwargs",
    [
        {"w_min": 1.0, "w_max": 0.0},
        {"w_min": 0.5, "w_max": 0.5},
        {"w_min": float("nan"), "w_max": 1.0},
        {"w_min": 0.0, "w_max": 1.0, "bound_tol": -1e-3},
    ],
)
def test_weight_stats_bad_bounds(kwargs):
    w_min, w_max = kwargs.pop("w_min"), kwargs.pop("w_max")
    with pytest.raises(ConfigError):
        weight_stats(np.array([0.1, 0.2]), w_min, w_max, **kwargs)


def test_weight_stats_nan_weights():
    with pytest.raises(ConfigError, match="NaN"):
        weight_stats(np.array([0.1, np.nan]), 0.0, 1.0)


# --- rank_correlation ------------------------------------------------------------------------


def test_rank_correlation_values():
    w = np.array([0.1, 0.4, 0.2, 0.9])
    assert rank_correlation(w, w * 3 + 1) == pytest.approx(1.0)
    assert rank_correlation(w, -w) == pytest.approx(-1.0)
    # ranks [1,3,2,4] vs [1,2,3,4]: d^2 sum 2 -> rho = 1 - 6*2/(4*15) = 0.8
    assert rank_correlation(w, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.8)


def test_rank_correlation_constant_is_nan_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(rank_correlation(np.ones(5), np.arange(5.0)))
        assert math.isnan(rank_correlation(np.arange(5.0), np.zeros(5)))
        assert math.isnan(rank_correlation([1.0], [2.0]))
        assert math.isnan(rank_correlation([1.0, np.nan], [2.0, 3.0]))


def test_rank_correlation_size_mismatch():
    with pytest.raises(ConfigError, match="same synapses"):
        rank_correlation(np.ones(3), np.ones(4))


# --- rate_stats ------------------------------------------------------------------------------


def test_rate_stats_hand_matrix():
    counts = np.array(
        [
            [0, 2, 1, 0],
            [0, 4, 0, 0],
            [0, 6, 1, 3],
        ]
    )
    s = rate_stats(counts, duration_s=0.5)
    rates = np.array([0.0, 8.0, 4 / 3, 2.0])  # mean count / 0.5 s
    assert s["rate_mean_hz"] == pytest.approx(rates.mean())
    assert s["rate_sd_hz"] == pytest.approx(rates.std())
    assert s["rate_max_hz"] == pytest.approx(8.0)
    assert s["frac_silent"] == pytest.approx(0.25)
    assert s["frac_always_on"] == pytest.approx(0.25)
    assert s["mean_active_per_sample"] == pytest.approx((2 / 4 + 1 / 4 + 3 / 4) / 3)


def test_rate_stats_empty_is_nan():
    s = rate_stats(np.zeros((0, 5)), 0.35)
    assert all(math.isnan(v) for v in s.values())


@pytest.mark.parametrize(
    ("counts", "duration"),
    [
        (np.ones((2, 2)), 0.0),
        (np.ones((2, 2)), -1.0),
        (np.ones((2, 2)), "0.35 s"),
        (np.ones(4), 0.35),
        (-np.ones((2, 2)), 0.35),
    ],
)
def test_rate_stats_config_errors(counts, duration):
    with pytest.raises(ConfigError):
        rate_stats(counts, duration)


# --- forgetting_metrics ----------------------------------------------------------------------


def test_forgetting_metrics_hand_3x3():
    nan = np.nan
    A = np.array(
        [
            [0.90, nan, nan],
            [0.70, 0.80, nan],
            [0.60, 0.85, 0.95],
        ]
    )
    m = forgetting_metrics(A)
    assert m["average_accuracy"] == pytest.approx((0.60 + 0.85 + 0.95) / 3)
    # BWT: (0.60 - 0.90 + 0.85 - 0.80) / 2 = -0.125
    assert m["backward_transfer"] == pytest.approx(-0.125)
    # forgetting: task 0 best 0.90 -> 0.30; task 1 best 0.80 -> -0.05; mean 0.125
    assert m["forgetting"] == pytest.approx(0.125)


def test_forgetting_uses_best_earlier_accuracy_and_ignores_untrained_entries():
    A = np.array(
        [
            [0.5, 0.99, 0.99],  # upper-triangle values (before training) must be ignored
            [0.9, 0.6, 0.99],
            [0.4, 0.5, 0.7],
        ]
    )
    m = forgetting_metrics(A)
    # task 0: max(0.5, 0.9) - 0.4 = 0.5; task 1: 0.6 - 0.5 = 0.1 -> 0.3
    assert m["forgetting"] == pytest.approx(0.3)
    # BWT: (0.4 - 0.5 + 0.5 - 0.6) / 2 = -0.1
    assert m["backward_transfer"] == pytest.approx(-0.1)


def test_forgetting_single_task():
    m = forgetting_metrics([[0.8]])
    assert m["average_accuracy"] == pytest.approx(0.8)
    assert math.isnan(m["backward_transfer"]) and math.isnan(m["forgetting"])


@pytest.mark.parametrize(
    "A",
    [
        np.ones((2, 3)),
        np.ones(3),
        np.ones((0, 0)),
        np.array([[0.9, np.nan], [np.nan, 0.8]]),  # missing below the diagonal
    ],
)
def test_forgetting_config_errors(A):
    with pytest.raises(ConfigError):
        forgetting_metrics(A)


def test_weight_stats_without_bounds_reports_no_saturation():
    """Unbounded weights (the SG-SNN's): every statistic but the fractions at the bounds."""
    w = np.array([-0.5, 0.25, 1.0, 0.0])
    st = weight_stats(w, None, None)
    assert math.isnan(st["frac_at_min"]) and math.isnan(st["frac_at_max"]) and math.isnan(st["saturation"])
    assert st["abs_mean"] == pytest.approx(0.4375) and st["mean"] == pytest.approx(0.1875)
    assert st["n_effective"] == pytest.approx(1.75**2 / (0.25 + 0.0625 + 1.0))
