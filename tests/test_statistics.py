"""Sweep statistics against hand-computed values, and the new response/weight metrics."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import calinski_harabasz_score

from sleep_brian import metrics, statistics, store
from sleep_brian.errors import ConfigError


def _df(rows):
    return pd.DataFrame(
        [
            {"dataset": d, "variant": v, "sleep_fraction": r, "seed": s, "trained_pca_qda": a, "status": st}
            for d, v, r, s, a, st in rows
        ]
    )


TABLE = _df(
    [
        ("digits", "paper", 0.0, 1, 0.50, "ok"),
        ("digits", "paper", 0.0, 2, 0.60, "ok"),
        ("digits", "paper", 0.0, 3, 0.70, "ok"),
        ("digits", "paper", 0.1, 1, 0.60, "ok"),
        ("digits", "paper", 0.1, 2, 0.80, "flagged"),
        ("digits", "paper", 0.1, 3, 1.00, "ok"),
        ("digits", "paper", 0.2, 1, 0.40, "failed"),  # no result: must be left out
        ("digits", "paper", 0.2, 2, 0.65, "ok"),
        ("digits", "paper", 0.2, 3, 0.75, "ok"),
    ]
)


def test_summarize_by_hand():
    s = statistics.summarize(TABLE).set_index("sleep_fraction")
    assert s.loc[0.0, "n"] == 3 and s.loc[0.0, "mean"] == pytest.approx(0.6)
    assert s.loc[0.0, "sd"] == pytest.approx(0.1)  # ddof=1 of 0.5, 0.6, 0.7
    assert s.loc[0.1, "mean"] == pytest.approx(0.8) and s.loc[0.1, "sd"] == pytest.approx(0.2)
    assert s.loc[0.1, "flagged"] == 1
    assert s.loc[0.2, "n"] == 2 and s.loc[0.2, "mean"] == pytest.approx(0.7)  # the failed run is out
    # a bootstrap CI of the mean lies within the sample's range and contains the mean
    for r in (0.0, 0.1):
        assert 0.5 - 1e-12 <= s.loc[r, "ci_lo"] <= s.loc[r, "mean"] <= s.loc[r, "ci_hi"] <= 1.0 + 1e-12
    assert "bootstrap" in s.loc[0.0, "method"]


def test_bootstrap_ci_properties():
    assert statistics.bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    assert all(math.isnan(x) for x in statistics.bootstrap_ci([]))
    # for 2 values the resampled means are a, (a+b)/2, b with weights 1/4, 1/2, 1/4
    lo, hi = statistics.bootstrap_ci([0.0, 1.0], level=0.9)
    assert (lo, hi) == (0.0, 1.0)
    lo, hi = statistics.bootstrap_ci([0.0, 1.0], level=0.4)
    assert (lo, hi) == (0.5, 0.5)
    # large normal sample: close to the normal-theory interval
    v = np.random.default_rng(1).normal(0, 1, 400)
    lo, hi = statistics.bootstrap_ci(v)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert lo == pytest.approx(v.mean() - half, abs=0.02) and hi == pytest.approx(v.mean() + half, abs=0.02)
    with pytest.raises(ConfigError, match="level"):
        statistics.bootstrap_ci([1.0], level=95)


def test_paired_t_by_hand():
    c = statistics.compare_to_baseline(TABLE).set_index("sleep_fraction")
    # level 0.1 - level 0 per seed: 0.1, 0.2, 0.3 -> mean 0.2, sd 0.1, t = 0.2 / (0.1 / sqrt 3)
    t = 0.2 / (0.1 / math.sqrt(3))
    assert c.loc[0.1, "n_pairs"] == 3
    assert c.loc[0.1, "diff_mean"] == pytest.approx(0.2)
    assert c.loc[0.1, "t"] == pytest.approx(t)
    assert c.loc[0.1, "p"] == pytest.approx(2 * sps.t.sf(t, df=2))
    assert c.loc[0.1, "sd_ratio"] == pytest.approx(2.0)  # sd 0.2 vs 0.1
    # level 0.2: only seeds 2 and 3 pair (seed 1 failed): diffs 0.05, 0.05 (no spread)
    assert c.loc[0.2, "n_pairs"] == 2 and c.loc[0.2, "diff_mean"] == pytest.approx(0.05)
    assert c.loc[0.2, "p"] == 0.0 and c.loc[0.2, "t"] == math.inf
    assert "paired-t" in c.loc[0.1, "method"]
    w = statistics.compare_to_baseline(TABLE, method="wilcoxon").set_index("sleep_fraction")
    assert w.loc[0.1, "p"] == pytest.approx(sps.wilcoxon([0.6, 0.8, 1.0], [0.5, 0.6, 0.7])[1])
    with pytest.raises(ConfigError, match="method"):
        statistics.compare_to_baseline(TABLE, method="anova")
    with pytest.raises(ConfigError, match="no column"):
        statistics.summarize(TABLE, "accuracy")


def test_mixed_model_recovers_a_known_effect():
    pytest.importorskip("statsmodels")
    rng = np.random.default_rng(0)
    rows = []
    for d, d_off in (("digits", 0.2), ("fashion", -0.1)):
        for s in range(1, 9):
            s_off = rng.normal(0, 0.05)
            for r, eff in ((0.0, 0.0), (0.1, 0.08), (0.5, -0.04)):
                rows.append((d, "paper", r, s, 0.6 + d_off + s_off + eff + rng.normal(0, 0.01), "ok"))
    m = statistics.mixed_effects(_df(rows)).set_index("sleep_fraction")
    assert m.loc[0.1, "estimate"] == pytest.approx(0.08, abs=0.015)
    assert m.loc[0.5, "estimate"] == pytest.approx(-0.04, abs=0.015)
    assert m.loc[0.1, "p"] < 1e-6
    assert "mixed model" in m.loc[0.1, "method"]


def test_format_table_lists_every_condition():
    text = statistics.format_table(statistics.summarize(TABLE), statistics.compare_to_baseline(TABLE))
    assert text.count("digits") == 3 and "+0.200" in text and "paired-t" in text


def test_flatten_failed_and_ok_records():
    ok = {
        "name": "a",
        "status": "ok",
        "config": {"dataset": "digits", "variant": "paper", "model": "paper", "schedule": {"sleep_fraction": 0.1}, "params": {}},
        "seed": 3,
        "accuracy": {"trained": {"accuracy_pca_qda": 0.9}},
        "flags": {"runaway": ["e_e"]},
    }
    row = store.flatten(ok)
    assert row["trained_pca_qda"] == 0.9 and row["flag_runaway"] and row["sleep_fraction"] == 0.1
    bad = store.flatten({"name": "b", "status": "failed", "error": "DataError: x", "config": {"dataset": "mnist"}})
    assert bad["status"] == "failed" and bad["error"] == "DataError: x" and "trained_pca_qda" not in bad


# ---- metrics of stability over time ----


def test_receptive_field_correlation():
    rng = np.random.default_rng(0)
    f = rng.random(50)
    assert metrics.receptive_field_correlation(np.stack([f, 2 * f, f + 1], axis=1)) == pytest.approx(1.0)
    assert metrics.receptive_field_correlation(np.stack([f, -f], axis=1)) == pytest.approx(-1.0)
    # independent fields: mean correlation ~ 0 within a few standard errors (1/sqrt(n_inputs))
    r = metrics.receptive_field_correlation(rng.random((400, 30)))
    assert abs(r) < 3 / np.sqrt(400)
    # a constant field is left out; with one neuron left there is no pair
    assert math.isnan(metrics.receptive_field_correlation(np.stack([f, np.ones(50)], axis=1)))


def test_participation_ratio():
    rng = np.random.default_rng(0)
    iso = rng.normal(size=(20000, 5))
    assert metrics.participation_ratio(iso) == pytest.approx(5, rel=0.02)
    line = np.outer(rng.normal(size=300), rng.normal(size=6))
    assert metrics.participation_ratio(line) == pytest.approx(1.0)
    # two directions with variances 4 and 1: (4 + 1)^2 / (16 + 1)
    two = np.stack([2 * rng.standard_normal(50000), rng.standard_normal(50000)], axis=1)
    assert metrics.participation_ratio(two) == pytest.approx(25 / 17, rel=0.02)
    assert math.isnan(metrics.participation_ratio(np.ones((4, 3))))


def test_class_selectivity_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    # neuron 0 answers class 0 only (1); neuron 1 answers all alike (0);
    # neuron 2: class means 3, 1, 1 -> (3 - 1) / (3 + 1) = 0.5; neuron 3 never fires (left out)
    counts = np.array([[2, 1, 3, 0], [4, 1, 3, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0]])
    assert metrics.class_selectivity(counts, y) == pytest.approx((1 + 0 + 0.5) / 3)
    assert math.isnan(metrics.class_selectivity(counts, np.zeros(6)))


def test_calinski_harabasz_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.poisson(3, (90, 7)).astype(float)
    y = rng.integers(0, 4, 90)
    x[y == 1] += 2
    assert metrics.calinski_harabasz(x, y) == pytest.approx(calinski_harabasz_score(x, y))
    assert math.isnan(metrics.calinski_harabasz(x[:3], y[:3] * 0))
    with pytest.raises(ConfigError, match="labels"):
        metrics.calinski_harabasz(x, y[:5])


def test_markdown_table_has_a_row_per_condition_and_the_untrained_control():
    df = TABLE.assign(untrained_pca_qda=[0.9, 0.8, 0.7] + [np.nan] * 6)
    md = statistics.format_markdown(
        statistics.summarize(df), statistics.compare_to_baseline(df), statistics.summarize(df, "untrained_pca_qda")
    )
    rows = [r for r in md.splitlines() if r.startswith("| digits")]
    assert len(rows) == 3
    assert rows[0].endswith("| 0.800 ± 0.100 |")  # the control, shown at sleep 0 only
    assert "+0.200" in rows[1] and rows[1].endswith("|  |")


def test_stats_command_reads_a_folder_of_records(tmp_path, capsys):
    pytest.importorskip("statsmodels")
    from sleep_brian.cli import main

    rng = np.random.default_rng(3)
    for ds in ("digits", "fashion-mnist"):
        for r in (0.0, 0.1):
            for seed in (1, 2, 3):
                name = f"{ds}_{r}_{seed}"
                rec = {
                    "name": name,
                    "status": "ok",
                    "seed": seed,
                    "config": {"dataset": ds, "variant": "paper", "schedule": {"sleep_fraction": r}, "params": {}},
                    "accuracy": {"trained": {"accuracy_pca_qda": 0.5 + r + rng.normal(0, 0.01)}},
                }
                store.save(tmp_path, name, rec)
    store.save(tmp_path, "broken", {"name": "broken", "status": "failed", "error": "DataError: gone", "config": {"dataset": "mnist"}})
    assert main(["stats", str(tmp_path), "--markdown", "--mixed"]) == 0
    out = capsys.readouterr().out
    assert "failed: broken: DataError: gone" in out
    assert out.count("| digits | paper |") == 2 and out.count("| fashion-mnist | paper |") == 2
    assert "sleep 0.1: +0.1" in out  # the mixed model's estimate of the +0.1 effect
    assert main(["stats", str(tmp_path / "nothing")]) == 2
