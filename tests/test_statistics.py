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


# ---- the beta GLMM (the paper's model of accuracy) ----

GLMM_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
GLMM_VARIANTS = ("a", "b", "c")
# Known truth on the logit scale: intercept, sleep effects of the reference variant "a",
# variant offsets, two interactions; the precision phi and the seed sd.
TRUE_SLEEP = {0.0: 0.0, 0.1: 0.8, 0.2: 1.0, 0.3: 0.9, 0.5: 0.6, 1.0: 0.2}
TRUE_VARIANT = {"a": 0.0, "b": -0.4, "c": 0.3}
TRUE_INTER = {("b", 0.1): 0.3, ("c", 1.0): -0.5}
TRUE_INTERCEPT, TRUE_PHI, TRUE_SD = 0.2, 60.0, 0.3


def _true_terms():
    out = {"Intercept": TRUE_INTERCEPT}
    out.update({f"sleep[{r:g}]": e for r, e in TRUE_SLEEP.items() if r})
    for v in ("b", "c"):
        out[f"variant[{v}]"] = TRUE_VARIANT[v]
        out.update({f"sleep[{r:g}]:variant[{v}]": TRUE_INTER.get((v, r), 0.0) for r in GLMM_LEVELS if r})
    return out


def simulate_beta_glmm(rng, *, sd=TRUE_SD, phi=TRUE_PHI, n_seeds=8, dataset="digits", slope=None):
    """3 variants x 6 sleep levels x ``n_seeds`` seeds from the known beta GLMM (``slope``: a
    numeric sleep effect per unit of sleep fraction instead of the per-level effects)."""
    from scipy.special import expit

    seed_effect = rng.normal(0, sd, n_seeds)
    rows = []
    for s in range(n_seeds):
        for v in GLMM_VARIANTS:
            for r in GLMM_LEVELS:
                sleep = TRUE_SLEEP[r] + TRUE_INTER.get((v, r), 0.0) if slope is None else slope * r
                mu = expit(TRUE_INTERCEPT + sleep + TRUE_VARIANT[v] + seed_effect[s])
                rows.append((dataset, v, r, s + 1, rng.beta(mu * phi, (1 - mu) * phi), "ok"))
    return _df(rows)


def _fixed(fit):
    return fit[fit["kind"] == "fixed"].set_index("term")


def test_beta_glmm_recovers_known_coefficients():
    fit = statistics.beta_glmm(simulate_beta_glmm(np.random.default_rng(0)))
    assert (fit["fit"] == "converged").all() and (fit["transform"] == "none").all()
    fx = _fixed(fit)
    truth = _true_terms()
    assert set(fx.index) == set(truth)
    z = np.array([(fx.loc[t, "estimate"] - truth[t]) / fx.loc[t, "se"] for t in truth])
    # 18 coefficients: if the SEs are right, P(max |z| > 3.5) is about 18 * 4.7e-4 < 1 %.
    assert np.max(np.abs(z)) < 3.5, dict(zip(truth, z.round(2)))
    # Nominal 95 % intervals: about 17 of 18 should cover (binomial: at least 14 with 99.5 %).
    covered = sum(fx.loc[t, "ci_lo"] <= truth[t] <= fx.loc[t, "ci_hi"] for t in truth)
    assert covered >= 14
    # phi and the seed sd: within 3 SEs on the log scale (their CIs are built there).
    extra = fit.set_index("term")
    for name, true in (("phi", TRUE_PHI), ("sd(seed)", TRUE_SD)):
        est, se = extra.loc[name, "estimate"], extra.loc[name, "se"]
        assert abs(np.log(est) - np.log(true)) < 3 * se / est, (name, est, se)
        assert extra.loc[name, "ci_lo"] < est < extra.loc[name, "ci_hi"]
    # The sleep effect within variant b at 10 % is the main effect plus the interaction.
    eff = fit[(fit["kind"] == "sleep effect") & (fit["term"] == "sleep[0.1] | variant=b")].iloc[0]
    assert eff["estimate"] == pytest.approx(fx.loc["sleep[0.1]", "estimate"] + fx.loc["sleep[0.1]:variant[b]", "estimate"])
    assert abs(eff["estimate"] - 1.1) < 3.5 * eff["se"]
    assert "adaptive Gauss-Hermite" in fit["method"].iloc[0]
    assert fit.attrs["loglik"]["digits"] > 0  # beta densities above 1: a positive log-likelihood


def test_beta_glmm_ses_match_the_spread_over_replicates():
    # 12 replicate datasets (about 3 s). ML Wald SEs are expected ~10 % small here: the ML
    # estimate of phi is biased up by roughly (parameters / observations) = 20/144 (Ospina et
    # al. 2006), which shrinks the SEs by its square root; a 100-replicate run gave a median
    # ratio of 0.91. With 12 replicates one term's empirical sd is uncertain by ~20 %, so each
    # ratio must lie within a factor of 2 and the median over the 18 terms within 0.75..1.15.
    truth = _true_terms()
    est, se = [], []
    for k in range(12):
        fx = _fixed(statistics.beta_glmm(simulate_beta_glmm(np.random.default_rng(100 + k))))
        est.append([fx.loc[t, "estimate"] for t in truth])
        se.append([fx.loc[t, "se"] for t in truth])
    est, se = np.array(est), np.array(se)
    ratio = se.mean(axis=0) / est.std(axis=0, ddof=1)
    assert np.all((ratio > 0.5) & (ratio < 2)), dict(zip(truth, ratio.round(2)))
    assert 0.75 < np.median(ratio) < 1.15
    # and the estimates are unbiased for the fixed effects: the replicate means lie within
    # 4 standard errors of the mean of the truth (max over 18 terms)
    sem = est.std(axis=0, ddof=1) / np.sqrt(len(est))
    assert np.max(np.abs(est.mean(axis=0) - np.array(list(truth.values()))) / sem) < 4


def test_beta_glmm_without_seed_variance_is_statsmodels_beta_regression():
    from statsmodels.othermod.betareg import BetaModel

    df = simulate_beta_glmm(np.random.default_rng(1), sd=0.0)
    X, names, *_ = statistics._glmm_design(df, "variant", "categorical", 0.0, None)
    ref = BetaModel(df["trained_pca_qda"].to_numpy(), X).fit(disp=0)
    # sd held at 1e-6 still goes through the quadrature; sd = 0 is the closed form.
    for sd in (1e-6, 0.0):
        fit = statistics.beta_glmm(df, sd=sd)
        fx = _fixed(fit).loc[names]
        np.testing.assert_allclose(fx["estimate"], ref.params[:-1], atol=1e-4)
        np.testing.assert_allclose(fx["se"], ref.bse[:-1], rtol=1e-3)
        phi = fit.set_index("term").loc["phi", "estimate"]
        assert np.log(phi) == pytest.approx(ref.params[-1], abs=1e-4)  # BetaModel reports log phi
        assert fit.attrs["loglik"]["digits"] == pytest.approx(ref.llf, abs=1e-6)
        assert "held at" in fit["method"].iloc[0]
    # Estimated on the same data, the seed sd goes to its boundary and the fixed effects stay
    # close to the beta regression's (within a tenth of an SE).
    free = statistics.beta_glmm(df)
    assert free.set_index("term").loc["sd(seed)", "estimate"] < 0.05
    np.testing.assert_allclose(_fixed(free).loc[names, "estimate"], ref.params[:-1], atol=0.1 * ref.bse[:-1].min())


def test_beta_glmm_quadrature_matches_direct_integration():
    from scipy import integrate
    from scipy.special import expit

    df = simulate_beta_glmm(np.random.default_rng(2), sd=0.8, n_seeds=3)
    X, *_ = statistics._glmm_design(df, "variant", "categorical", 0.0, None)
    y = df["trained_pca_qda"].to_numpy()
    groups = df["seed"].to_numpy() - 1
    rng = np.random.default_rng(3)
    beta, phi, sd = rng.normal(0, 0.5, X.shape[1]), 40.0, 0.8
    model = statistics._BetaGLMM(y, X, groups, 15, None)
    theta = np.concatenate([beta, [np.log(phi), np.log(sd)]])
    eta = X @ beta

    def integrand(b, g):
        mu = expit(eta[groups == g] + b)
        return np.exp(np.sum(sps.beta.logpdf(y[groups == g], mu * phi, (1 - mu) * phi))) * sps.norm.pdf(b, 0, sd)

    direct = sum(np.log(integrate.quad(integrand, -8 * sd, 8 * sd, args=(g,), epsabs=0, epsrel=1e-12, limit=200)[0])
                 for g in range(3))  # fmt: skip
    assert model.loglik(theta) == pytest.approx(direct, abs=1e-7)
    # the analytic gradient against central differences of the log-likelihood
    _, grad = model.loglik(theta, grad=True)
    h = 1e-6
    num = [(model.loglik(theta + h * e) - model.loglik(theta - h * e)) / (2 * h) for e in np.eye(len(theta))]
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-5)


def test_beta_glmm_numeric_sleep_and_squeeze():
    df = simulate_beta_glmm(np.random.default_rng(4), slope=1.5)
    fit = statistics.beta_glmm(df, sleep="numeric", by=None)
    slope = _fixed(fit).loc["sleep"]
    assert abs(slope["estimate"] - 1.5) < 3 * slope["se"] and slope["p"] < 1e-10
    # Exact 0s and 1s: the squeeze is applied (and said), and the fit equals one on data
    # squeezed by hand.
    df.loc[df.index[:3], "trained_pca_qda"] = [1.0, 0.0, 1.0]
    fit = statistics.beta_glmm(df, sleep="numeric", by=None)
    assert fit["transform"].str.contains("Smithson-Verkuilen").all() and "3 of them" in fit["transform"].iloc[0]
    n = len(df)
    by_hand = df.assign(trained_pca_qda=(df["trained_pca_qda"] * (n - 1) + 0.5) / n)
    again = statistics.beta_glmm(by_hand, sleep="numeric", by=None)
    np.testing.assert_allclose(fit["estimate"], again["estimate"], rtol=1e-8)
    assert (again["transform"] == "none").all()


def test_beta_glmm_fits_each_dataset():
    # simulated accuracies labelled with a second dataset's name: no data is loaded
    df = pd.concat([simulate_beta_glmm(np.random.default_rng(5), dataset="digits"),
                    simulate_beta_glmm(np.random.default_rng(6), dataset="kmnist")])  # fmt: skip
    fit = statistics.beta_glmm(df)
    assert set(fit["dataset"]) == {"digits", "kmnist"} and set(fit.attrs["loglik"]) == {"digits", "kmnist"}
    one = statistics.beta_glmm(df, dataset="kmnist")
    np.testing.assert_allclose(one["estimate"], fit[fit["dataset"] == "kmnist"]["estimate"], rtol=1e-10)
    assert (one["n_seeds"] == 8).all() and (one["n"] == 144).all()


def test_beta_glmm_bad_input():
    df = simulate_beta_glmm(np.random.default_rng(7), n_seeds=3)
    with pytest.raises(ConfigError, match="no column 'accuracy'"):
        statistics.beta_glmm(df, "accuracy")
    with pytest.raises(ConfigError, match="at least 2"):
        statistics.beta_glmm(df[df["seed"] == 1])
    with pytest.raises(ConfigError, match=r"outside \[0, 1\]"):
        statistics.beta_glmm(df.assign(trained_pca_qda=df["trained_pca_qda"] * 100))
    with pytest.raises(ConfigError, match="column.*variant.*by=None"):
        statistics.beta_glmm(df.drop(columns="variant"))
    with pytest.raises(ConfigError, match="baseline sleep 0"):
        statistics.beta_glmm(df[df["sleep_fraction"] > 0])
    with pytest.raises(ConfigError, match="not estimable"):
        statistics.beta_glmm(df[~((df["variant"] == "b") & (df["sleep_fraction"] == 0.5))])
    with pytest.raises(ConfigError, match="n_quad"):
        statistics.beta_glmm(df, n_quad=1)
    with pytest.raises(ConfigError, match="sleep ="):
        statistics.beta_glmm(df, sleep="ordinal")
    with pytest.raises(ConfigError, match="reference"):
        statistics.beta_glmm(df, reference="z")


# ---- paired CIs and the paper's two questions ----


def test_paired_ci_by_hand():
    c = statistics.compare_to_baseline(TABLE).set_index("sleep_fraction")
    # diffs 0.1, 0.2, 0.3: mean 0.2 +- t(0.975, 2) * 0.1 / sqrt(3)
    half = sps.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert (c.loc[0.1, "ci_lo"], c.loc[0.1, "ci_hi"]) == pytest.approx((0.2 - half, 0.2 + half))
    assert (c.loc[0.2, "ci_lo"], c.loc[0.2, "ci_hi"]) == pytest.approx((0.05, 0.05))  # no spread
    w = statistics.compare_to_baseline(TABLE, method="wilcoxon").set_index("sleep_fraction")
    assert 0.1 - 1e-12 <= w.loc[0.1, "ci_lo"] <= 0.2 <= w.loc[0.1, "ci_hi"] <= 0.3 + 1e-12  # within the diffs' range
    assert "t interval" in c.loc[0.1, "method"] and "bootstrap" in w.loc[0.1, "method"]


def _sweep(means, sds, n_seeds=6, seed=0):
    """digits/paper runs: per level the given mean, seed effects shared across levels, and
    extra per-level noise of the given sd (so spreads differ by level)."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.005, n_seeds)
    rows = []
    for r, m in means.items():
        noise = rng.normal(0, 1, n_seeds)
        noise = (noise - noise.mean()) / noise.std(ddof=1) * sds[r]  # exactly this sd
        rows += [("digits", "paper", r, s + 1, m + shared[s] + noise[s], "ok") for s in range(n_seeds)]
    return _df(rows)


def test_paper_questions_known_answers():
    sds = {0.0: 0.05, 0.1: 0.005, 0.2: 0.005, 0.5: 0.005}
    # 10 % clearly best
    q = statistics.paper_questions(_sweep({0.0: 0.6, 0.1: 0.9, 0.2: 0.8, 0.5: 0.7}, sds))
    best = q["best"].iloc[0]
    assert best["best_level"] == 0.1 and best["answer"] == "yes"
    assert best["best_ci_lo"] < 0.9 < best["best_ci_hi"]
    cand = q["candidates"].set_index("sleep_fraction")
    assert cand.loc[0.2, "diff_vs_best"] == pytest.approx(0.1, abs=0.01) and cand.loc[0.2, "diff_ci_lo"] > 0
    # every sleep level has a tenth of the sd at 0: narrower everywhere, and significantly
    spread = q["spread"].set_index("sleep_fraction")
    assert spread.loc[0.1, "sd_ratio"] == pytest.approx(0.1, rel=0.3) and (spread["p"] < 0.05).all()
    assert q["spread_answer"].iloc[0]["answer"] == "yes"
    assert "*Is 10% or 20% sleep best?* Yes" in q["markdown"]
    assert q["best"].iloc[0]["tied_with"] == ""  # 0.9 at 10 % is clear of 0.7 at 50 %
    # 50 % best, clearly ahead of 10 and 20 %: no
    q = statistics.paper_questions(_sweep({0.0: 0.6, 0.1: 0.7, 0.2: 0.72, 0.5: 0.9}, sds))
    assert q["best"].iloc[0]["answer"] == "no" and q["best"].iloc[0]["best_level"] == 0.5
    # 10 % best, 50 % just behind it: yes, but not distinguishable from 50 %
    q = statistics.paper_questions(_sweep({0.0: 0.6, 0.1: 0.9, 0.2: 0.8, 0.5: 0.899}, {**sds, 0.5: 0.05}))
    assert q["best"].iloc[0]["answer"] == "yes" and q["best"].iloc[0]["tied_with"] == "0.5"
    assert "not distinguishable from the best (paired CI includes 0): 0.5" in q["markdown"]
    # 50 % best by a hair, with a noisy 20 %: the paired CI of the difference includes 0: tied
    q = statistics.paper_questions(_sweep({0.0: 0.6, 0.1: 0.7, 0.2: 0.899, 0.5: 0.9}, {**sds, 0.2: 0.05}))
    assert q["best"].iloc[0]["answer"] == "tied"
    # 10 % is 0.2 below the best: told apart; nothing outside the candidates ties either
    assert q["best"].iloc[0]["tied_with"] == ""
    c = q["candidates"].set_index("sleep_fraction").loc[0.2]
    assert c["diff_ci_lo"] < 0 < c["diff_ci_hi"] and c["in_best_ci"]
    # the same spread at every level: not narrower
    same = {r: 0.03 for r in sds}
    q = statistics.paper_questions(_sweep({0.0: 0.6, 0.1: 0.9, 0.2: 0.8, 0.5: 0.7}, same, seed=3))
    assert q["spread_answer"].iloc[0]["n_significant"] == 0 and q["spread_answer"].iloc[0]["answer"] != "yes"
    with pytest.raises(ConfigError, match="alpha"):
        statistics.paper_questions(TABLE, alpha=5)


def test_paper_questions_on_one_seed_say_they_cannot_answer():
    """One seed has no paired CI and no spread: "too few seeds", not a "yes" made of nan (the
    paper-size sweep's first seed of the authors model got one)."""
    one = _df([("digits", "paper", r, 1, m, "ok") for r, m in ((0.0, 0.6), (0.1, 0.9), (0.2, 0.8))])
    q = statistics.paper_questions(one)
    assert q["best"].iloc[0]["answer"] == "too few seeds" and q["spread_answer"].iloc[0]["answer"] == "too few seeds"
    assert "Cannot say yet" in q["markdown"] and "Yes" not in q["markdown"] and "nan" not in q["markdown"]
    # five seeds at every level but one at sleep 0: the best level is answered, the spread not
    two = pd.concat([_sweep({0.1: 0.9, 0.2: 0.8}, {0.1: 0.01, 0.2: 0.01}, n_seeds=5),
                     _df([("digits", "paper", 0.0, 1, 0.6, "ok")])])  # fmt: skip
    q = statistics.paper_questions(two)
    assert q["best"].iloc[0]["answer"] == "yes" and q["spread_answer"].iloc[0]["answer"] == "too few seeds"
