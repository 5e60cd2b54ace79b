"""Statistics of a sweep: per condition summaries and each sleep level against no sleep.

Works on the table of :func:`sleep_brian.store.load` (one row per run). Failed runs have no
results and are left out; flagged runs (silent, runaway weights) are real outcomes and stay in,
counted in the ``flagged`` column.

- :func:`summarize`: per condition ``n``, ``mean``, ``sd`` (over seeds, ddof=1) and a
  percentile bootstrap 95 % CI of the mean.
- :func:`compare_to_baseline`: every sleep level against sleep 0 within a dataset and variant,
  paired by seed (same data subset, connectivity and initial state): the mean difference, a
  paired t-test (or Wilcoxon signed-rank) and the ratio of seed-to-seed spreads (sd at the level
  / sd at 0; below 1 means sleep makes runs more alike).
- :func:`mixed_effects`: a linear mixed model (statsmodels) of the metric on sleep level with
  dataset as the grouping factor and seed as a variance component, pooling datasets.

Every output names the method that produced it.
"""

from __future__ import annotations

import warnings

import numpy as np

from sleep_brian.errors import ConfigError

__all__ = [
    "bootstrap_ci",
    "summarize",
    "compare_to_baseline",
    "mixed_effects",
    "format_table",
    "format_markdown",
    "METHODS",
]

METHODS = ("paired-t", "wilcoxon")
CONDITION = ("dataset", "variant", "sleep_fraction")


def bootstrap_ci(values, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (resampling with replacement).

    Deterministic for a given ``seed``. One value gives (v, v); none gives (nan, nan).
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not 0 < level < 1:
        raise ConfigError(f"level = {level!r}; expected a number in (0, 1) such as 0.95.")
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def _usable(df, metric):
    if metric not in df.columns:
        raise ConfigError(f"no column {metric!r} in the results; columns: {', '.join(map(str, df.columns))}.")
    if "status" in df.columns:
        df = df[df["status"] != "failed"]
    return df[np.isfinite(df[metric].astype(float))]


def summarize(df, metric: str = "trained_pca_qda", by=CONDITION):
    """Per condition: n, mean, sd (ddof=1), bootstrap 95 % CI, flagged runs. A pandas DataFrame."""
    import pandas as pd

    df = _usable(df, metric)
    rows = []
    for key, g in df.groupby(list(by), sort=True):
        v = g[metric].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(v)
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row.update(
            metric=metric,
            n=len(v),
            mean=float(v.mean()),
            sd=float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
            ci_lo=lo,
            ci_hi=hi,
            flagged=int((g["status"] == "flagged").sum()) if "status" in g else 0,
            method="mean, sd over seeds; percentile bootstrap 95% CI (10,000 resamples)",
        )
        rows.append(row)
    return pd.DataFrame(rows)


def compare_to_baseline(df, metric: str = "trained_pca_qda", *, method: str = "paired-t", baseline: float = 0.0):
    """Every sleep level against ``baseline`` within each dataset and variant, paired by seed.

    Returns a DataFrame with ``n_pairs``, ``diff_mean`` (level - baseline), ``diff_sd``, ``t`` or
    ``w`` (the statistic), ``p`` (two-sided), ``sd_ratio`` (seed spread at the level / at
    baseline) and ``method``.
    """
    import pandas as pd
    from scipy import stats

    if method not in METHODS:
        raise ConfigError(f"method = {method!r}; expected one of {', '.join(METHODS)}.")
    df = _usable(df, metric)
    rows = []
    for (ds, var), g in df.groupby(["dataset", "variant"], sort=True):
        base = g[np.isclose(g["sleep_fraction"].astype(float), baseline)].set_index("seed")[metric]
        for r, gl in g.groupby("sleep_fraction", sort=True):
            if np.isclose(float(r), baseline):
                continue
            lvl = gl.set_index("seed")[metric]
            seeds = sorted(set(base.index) & set(lvl.index))
            a = lvl.loc[seeds].to_numpy(dtype=float)
            b = base.loc[seeds].to_numpy(dtype=float)
            d = a - b
            row = {"dataset": ds, "variant": var, "sleep_fraction": float(r), "metric": metric, "n_pairs": len(seeds)}
            row["diff_mean"] = float(d.mean()) if len(d) else float("nan")
            row["diff_sd"] = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
            stat = p = float("nan")
            if len(d) > 1 and np.any(d != 0):
                if method == "paired-t":
                    if d.std(ddof=1) > 0:
                        res = stats.ttest_rel(a, b)
                        stat, p = float(res[0]), float(res[1])
                    else:  # every pair differs by the same amount: no spread to test against
                        stat, p = float("inf") * np.sign(d.mean()), 0.0
                else:
                    res = stats.wilcoxon(a, b)
                    stat, p = float(res[0]), float(res[1])
            row["t" if method == "paired-t" else "w"] = stat
            row["p"] = p
            sa = a.std(ddof=1) if len(a) > 1 else float("nan")
            sb = b.std(ddof=1) if len(b) > 1 else float("nan")
            row["sd_ratio"] = float(sa / sb) if sb > 0 else float("nan")
            row["method"] = f"{method} over seeds vs sleep {baseline:g} (two-sided)"
            rows.append(row)
    return pd.DataFrame(rows)


def mixed_effects(df, metric: str = "trained_pca_qda", *, variant: str | None = None):
    """Linear mixed model ``metric ~ C(sleep_fraction)``: dataset as groups, seed as a variance
    component (statsmodels MixedLM, REML). Returns a DataFrame of fixed effects (each level
    against sleep 0) with estimate, standard error, z, p, and ``fit``: "converged" or the
    optimiser's warnings (common with few datasets; prefer the paired test then)."""
    try:
        import statsmodels.formula.api as smf
    except ImportError as exc:
        raise ConfigError("mixed_effects needs statsmodels: pip install 'sleep-brian[sweep]'.") from exc
    import pandas as pd

    df = _usable(df, metric)
    if variant is not None:
        df = df[df["variant"] == variant]
    d = df[["dataset", "seed", "sleep_fraction", metric]].copy()
    d["y"] = d[metric].astype(float)
    d["level"] = d["sleep_fraction"].map(lambda r: f"{float(r):.2f}")
    d["seed"] = d["seed"].astype(str)
    model = smf.mixedlm("y ~ C(level, Treatment('0.00'))", d, groups="dataset", vc_formula={"seed": "0 + C(seed)"})
    # With two or three datasets the dataset variance is poorly identified and the optimiser
    # often warns; the warnings are kept as a note on every row instead of being printed.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=True)
    issues = sorted({str(w.message).split(".")[0] for w in caught})
    note = "converged" if fit.converged and not issues else "; ".join(issues) or "did not converge"
    rows = []
    for name in fit.fe_params.index:
        if "T." not in name:
            continue
        level = float(name.split("T.")[1].rstrip("]"))
        rows.append(
            {
                "variant": variant,
                "sleep_fraction": level,
                "metric": metric,
                "estimate": float(fit.fe_params[name]),
                "se": float(fit.bse[name]),
                "z": float(fit.tvalues[name]),
                "p": float(fit.pvalues[name]),
                "method": "linear mixed model (statsmodels MixedLM, REML): dataset groups, seed variance component",
                "fit": note,
            }
        )
    return pd.DataFrame(rows)


def _comparison_row(comparison, r):
    """The row of ``comparison`` for the condition of summary row ``r`` (or None)."""
    if comparison is None or not len(comparison):
        return None
    m = comparison[
        (comparison["dataset"] == r["dataset"])
        & (comparison["variant"] == r["variant"])
        & np.isclose(comparison["sleep_fraction"], float(r["sleep_fraction"]))
    ]
    return m.iloc[0] if len(m) else None


def format_markdown(summary, comparison=None, untrained=None) -> str:
    """The same table in Markdown (for a README); ``untrained``: a :func:`summarize` of the
    untrained control, shown as its own column per dataset and variant."""
    head = "| dataset | variant | sleep | n | mean ± sd | 95 % CI |"
    sep = "|---|---|---|---|---|---|"
    if comparison is not None:
        head += " diff vs 0 | p | sd ratio |"
        sep += "---|---|---|"
    if untrained is not None:
        head += " untrained |"
        sep += "---|"
    lines = [head, sep]
    for _, r in summary.iterrows():
        cells = [
            str(r["dataset"]), str(r["variant"]), f"{r['sleep_fraction']:g}", str(r["n"]),
            f"{r['mean']:.3f} ± {r['sd']:.3f}", f"[{r['ci_lo']:.3f}, {r['ci_hi']:.3f}]",
        ]  # fmt: skip
        if comparison is not None:
            c = _comparison_row(comparison, r)
            cells += [f"{c['diff_mean']:+.3f}", f"{c['p']:.2g}", f"{c['sd_ratio']:.2f}"] if c is not None else ["", "", ""]
        if untrained is not None:
            u = untrained[(untrained["dataset"] == r["dataset"]) & (untrained["variant"] == r["variant"])]
            cells.append(f"{u.iloc[0]['mean']:.3f} ± {u.iloc[0]['sd']:.3f}" if len(u) and float(r["sleep_fraction"]) == 0 else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(summary, comparison=None) -> str:
    """Text table: per condition mean +- sd [CI], and the comparison with sleep 0 when given."""
    lines = [
        f"{'dataset':<14}{'variant':<18}{'sleep':>6}{'n':>4}{'mean':>8}{'sd':>7}{'95% CI':>16}"
        + (f"{'diff':>8}{'p':>8}{'sd ratio':>9}" if comparison is not None else "")
    ]
    for _, r in summary.iterrows():
        line = (
            f"{r['dataset']:<14}{r['variant']:<18}{r['sleep_fraction']:>6g}{r['n']:>4}{r['mean']:>8.3f}"
            f"{r['sd']:>7.3f}{'[' + format(r['ci_lo'], '.3f') + ', ' + format(r['ci_hi'], '.3f') + ']':>16}"
        )
        c = _comparison_row(comparison, r)
        if c is not None:
            line += f"{c['diff_mean']:>+8.3f}{c['p']:>8.3f}{c['sd_ratio']:>9.2f}"
        lines.append(line)
    if len(summary):
        lines.append(f"\n{summary.iloc[0]['metric']}: {summary.iloc[0]['method']}")
    if comparison is not None and len(comparison):
        lines.append(f"diff, p, sd ratio: {comparison.iloc[0]['method']}; sd ratio = sd at the level / sd at sleep 0")
    return "\n".join(lines)
