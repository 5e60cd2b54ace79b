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
- :func:`beta_glmm`: the paper's analysis of accuracy, a beta generalized linear mixed model
  ``accuracy ~ sleep * variant + (1 | seed)`` (logit mean, common precision, normal random
  intercept per seed), fitted by maximum likelihood with adaptive Gauss-Hermite quadrature.
- :func:`paper_questions`: plain answers, with the numbers, to "is 10-20 % sleep best?" and
  "does sleep narrow the spread across seeds?".

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
    "beta_glmm",
    "paper_questions",
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


def compare_to_baseline(df, metric: str = "trained_pca_qda", *, method: str = "paired-t", baseline: float = 0.0,
                        level: float = 0.95):
    """Every sleep level against ``baseline`` within each dataset and variant, paired by seed.

    Returns a DataFrame with ``n_pairs``, ``diff_mean`` (level - baseline), ``diff_sd``, ``t`` or
    ``w`` (the statistic), ``p`` (two-sided), ``ci_lo``, ``ci_hi`` (a ``level`` CI of
    ``diff_mean``: the paired t interval for ``paired-t``, a percentile bootstrap of the paired
    differences for ``wilcoxon``), ``sd_ratio`` (seed spread at the level / at baseline) and
    ``method``.
    """
    import pandas as pd
    from scipy import stats

    if method not in METHODS:
        raise ConfigError(f"method = {method!r}; expected one of {', '.join(METHODS)}.")
    if not 0 < level < 1:
        raise ConfigError(f"level = {level!r}; expected a number in (0, 1) such as 0.95.")
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
            row["ci_lo"], row["ci_hi"] = _diff_ci(d, method, level)
            sa = a.std(ddof=1) if len(a) > 1 else float("nan")
            sb = b.std(ddof=1) if len(b) > 1 else float("nan")
            row["sd_ratio"] = float(sa / sb) if sb > 0 else float("nan")
            ci = "t interval" if method == "paired-t" else "percentile bootstrap"
            row["method"] = f"{method} over seeds vs sleep {baseline:g} (two-sided); {level:.0%} CI of diff: {ci}"
            rows.append(row)
    return pd.DataFrame(rows)


def _diff_ci(d, method: str, level: float) -> tuple[float, float]:
    """CI of the mean of the paired differences ``d``: t interval, or bootstrap for Wilcoxon."""
    from scipy import stats

    if len(d) == 0:
        return float("nan"), float("nan")
    if method != "paired-t":
        # The Wilcoxon test assumes no normality, so its interval should not either.
        return bootstrap_ci(d, level=level)
    if len(d) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, df=len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean() - half), float(d.mean() + half)


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


# ---------------------------------------------------------------------------------------------
# Beta generalized linear mixed model (the paper's analysis of accuracy)
# ---------------------------------------------------------------------------------------------

SLEEP_CODINGS = ("categorical", "numeric")
# Unconstrained parameters are clipped to these ranges inside the likelihood: outside them the
# likelihood is flat for all practical purposes (sd below e^-20, precision beyond e^20), and
# a line search that wanders there would otherwise hit 0 or inf.
_LOG_SD_RANGE = (-20.0, 5.0)
_LOG_PHI_RANGE = (-10.0, 20.0)


def _squeeze(y: np.ndarray) -> tuple[np.ndarray, str]:
    """Smithson-Verkuilen squeeze when some values are exactly 0 or 1 (the beta density is 0 or
    infinite there); the note says whether it was applied and why."""
    n = len(y)
    k = int(np.sum((y == 0) | (y == 1)))
    if k == 0:
        return y, "none"
    # Applied to every value, not only to the 0s and 1s, so that the order of the data is kept
    # (Smithson & Verkuilen 2006, Psychological Methods 11:54).
    return (y * (n - 1) + 0.5) / n, (
        f"Smithson-Verkuilen squeeze y' = (y(n-1) + 0.5)/n with n = {n}, applied to every value "
        f"because {k} of them are exactly 0 or 1"
    )


def _beta_parts(eta, phi, ly, l1y):
    """Mean, shape parameters and log density of Beta(mu phi, (1 - mu) phi) at logit-mean ``eta``."""
    from scipy.special import betaln, expit

    mu = np.clip(expit(eta), 1e-12, 1 - 1e-12)
    a, b = mu * phi, (1 - mu) * phi
    return mu, a, b, -betaln(a, b) + (a - 1) * ly + (b - 1) * l1y


class _BetaGLMM:
    """Marginal log-likelihood of a beta GLMM with one random intercept per group, and its
    gradient; parameters ``theta = (beta..., log phi[, log sd])``.

    The random intercept is integrated out per group by adaptive Gauss-Hermite quadrature: the
    nodes are centred on the mode of the group's integrand and scaled by its curvature (Fisher
    information), found by scoring iterations. The gradient is that of the quadrature sum with
    the nodes held where they are; the nodes' own dependence on theta contributes only the
    quadrature error, since the exact integral does not depend on where the nodes are put (with
    1 or 2 nodes that error is not small, hence at least 3).
    """

    def __init__(self, y, X, groups, n_quad: int, sd: float | None):
        from scipy.special import logit

        self.y, self.X = y, X
        self.ly, self.l1y, self.ystar = np.log(y), np.log1p(-y), logit(y)
        self.g = groups
        self.n_groups = int(groups.max()) + 1
        self.Z = np.eye(self.n_groups)[groups]  # one-hot: observation -> its group
        self.nodes, w = np.polynomial.hermite.hermgauss(n_quad)
        self.log_w = np.log(w) + self.nodes**2
        self.sd = sd  # None: estimated (last parameter); a number: held fixed

    def unpack(self, theta):
        p = self.X.shape[1]
        beta = theta[:p]
        phi = float(np.exp(np.clip(theta[p], *_LOG_PHI_RANGE)))
        sd = self.sd if self.sd is not None else float(np.exp(np.clip(theta[p + 1], *_LOG_SD_RANGE)))
        return beta, phi, sd

    def _modes(self, eta0, phi, sd):
        """Mode of each group's integrand in the random intercept b, and the curvature there."""
        from scipy.special import digamma, polygamma

        b = np.zeros(self.n_groups)
        for _ in range(100):
            mu, a, c, _ = _beta_parts(eta0 + b[self.g], phi, self.ly, self.l1y)
            m = mu * (1 - mu)
            score = np.bincount(self.g, phi * m * (self.ystar - digamma(a) + digamma(c)), self.n_groups) - b / sd**2
            info = np.bincount(self.g, (phi * m) ** 2 * (polygamma(1, a) + polygamma(1, c)), self.n_groups) + 1 / sd**2
            step = score / info
            b = b + step
            if np.max(np.abs(step)) < 1e-10 * max(1.0, sd):
                break
        mu, a, c, _ = _beta_parts(eta0 + b[self.g], phi, self.ly, self.l1y)
        info = np.bincount(self.g, (phi * mu * (1 - mu)) ** 2 * (polygamma(1, a) + polygamma(1, c)), self.n_groups)
        return b, info + 1 / sd**2

    def loglik(self, theta, grad: bool = False):
        """Marginal log-likelihood (and its gradient in theta when ``grad``)."""
        from scipy.special import digamma, logsumexp

        beta, phi, sd = self.unpack(theta)
        eta0 = self.X @ beta
        if sd == 0:  # a plain beta regression: nothing to integrate
            mu, a, c, ll = _beta_parts(eta0, phi, self.ly, self.l1y)
            if not grad:
                return float(ll.sum())
            r = phi * mu * (1 - mu) * (self.ystar - digamma(a) + digamma(c))
            dphi = phi * (digamma(phi) - mu * digamma(a) - (1 - mu) * digamma(c) + mu * self.ly + (1 - mu) * self.l1y)
            return float(ll.sum()), np.concatenate([self.X.T @ r, [dphi.sum()]])
        mode, info = self._modes(eta0, phi, sd)
        scale = 1 / np.sqrt(info)
        B = mode[:, None] + np.sqrt(2) * scale[:, None] * self.nodes[None, :]  # (groups, nodes)
        eta = eta0[:, None] + B[self.g]  # (observations, nodes)
        mu, a, c, ll = _beta_parts(eta, phi, self.ly[:, None], self.l1y[:, None])
        log_prior = -0.5 * np.log(2 * np.pi) - np.log(sd) - B**2 / (2 * sd**2)
        A = self.log_w[None, :] + self.Z.T @ ll + log_prior
        lse = logsumexp(A, axis=1)
        total = float(np.sum(np.log(np.sqrt(2) * scale) + lse))
        if not grad:
            return total
        omega = np.exp(A - lse[:, None])[self.g]  # each observation's weight on its group's nodes
        r = phi * mu * (1 - mu) * (self.ystar[:, None] - digamma(a) + digamma(c))
        dphi = phi * (digamma(phi) - mu * digamma(a) - (1 - mu) * digamma(c)
                      + mu * self.ly[:, None] + (1 - mu) * self.l1y[:, None])  # fmt: skip
        g = [self.X.T @ (omega * r).sum(axis=1), [(omega * dphi).sum()]]
        if self.sd is None:
            w_group = np.exp(A - lse[:, None])
            g.append([(w_group * (B**2 / sd**2 - 1)).sum()])
        return total, np.concatenate(g)

    def start(self):
        """Starting values: least squares on the logit scale, moment estimates of phi and sd."""
        from scipy.special import expit

        beta = np.linalg.lstsq(self.X, self.ystar, rcond=None)[0]
        mu = expit(self.X @ beta)
        # Var(y) = mu (1 - mu) / (1 + phi) for a beta variable.
        phi = max(1.0, float(np.mean(mu * (1 - mu)) / max(np.mean((self.y - mu) ** 2), 1e-12)) - 1)
        theta = [*beta, np.log(phi)]
        if self.sd is None:
            resid = self.ystar - self.X @ beta
            group_means = np.bincount(self.g, resid, self.n_groups) / np.bincount(self.g, minlength=self.n_groups)
            theta.append(np.log(max(float(np.std(group_means)), 0.05)))
        return np.asarray(theta, dtype=float)

    def hessian(self, theta, h: float = 1e-4):
        """Hessian of the log-likelihood by central differences of the analytic gradient."""
        H = np.empty((len(theta), len(theta)))
        for j in range(len(theta)):
            e = np.zeros(len(theta))
            e[j] = h * max(1.0, abs(theta[j]))
            H[:, j] = (self.loglik(theta + e, True)[1] - self.loglik(theta - e, True)[1]) / (2 * e[j])
        return (H + H.T) / 2


def _fit_beta_glmm(y, X, groups, *, n_quad: int, sd: float | None):
    """Maximum likelihood fit; returns theta, its covariance, the log-likelihood and a note."""
    from scipy import optimize

    model = _BetaGLMM(y, X, groups, n_quad, sd)
    notes = []

    def objective(theta):
        ll, g = model.loglik(theta, grad=True)
        return -ll, -g

    res = optimize.minimize(objective, model.start(), jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 2000})
    theta = res.x
    p = X.shape[1]
    at_boundary = sd is None and theta[p + 1] < np.log(1e-3)
    H = -model.hessian(theta)  # observed information
    keep = np.arange(len(theta))
    if at_boundary:
        # The likelihood is flat in log sd as sd -> 0, so its information vanishes and the full
        # matrix cannot be inverted; the other parameters' SEs are then conditional on sd ~ 0.
        keep = keep[:-1]
        notes.append("random-effect sd at its boundary (~0): the seeds differ no more than the noise; "
                     "its SE is undefined and the other SEs are conditional on it")  # fmt: skip
    cov = np.full((len(theta), len(theta)), np.nan)
    gain = float("nan")
    try:
        np.linalg.cholesky(H[np.ix_(keep, keep)])
        cov[np.ix_(keep, keep)] = np.linalg.inv(H[np.ix_(keep, keep)])
        # Half the Newton decrement g' H^-1 g: how much more log-likelihood a Newton step would
        # still gain. BFGS often stops on "precision loss" with the optimum reached (the
        # gradient holds the nodes fixed, so with few nodes it is off by the quadrature error).
        grad = model.loglik(theta, grad=True)[1][keep]
        gain = float(grad @ cov[np.ix_(keep, keep)] @ grad) / 2
    except np.linalg.LinAlgError:
        notes.append("information matrix not positive definite at the optimum: SEs are not valid")
    if res.success:
        notes.insert(0, "converged")
    elif gain < 1e-6:
        notes.insert(0, f"converged (BFGS: {res.message}; a Newton step would gain {gain:.1g} in log-likelihood)")
    else:
        notes.insert(0, f"did not converge: {res.message}")
    return {"theta": theta, "cov": cov, "loglik": -float(res.fun), "note": "; ".join(notes), "model": model}


def _glmm_design(d, by, sleep, baseline, reference):
    """Design matrix, term names and what each term refers to (sleep level, variant level)."""
    levels = sorted(d["sleep_fraction"].unique())
    if not any(np.isclose(levels, baseline)):
        raise ConfigError(
            f"no runs at the baseline sleep {baseline:g} (levels: {', '.join(f'{r:g}' for r in levels)}); "
            "the sleep effects are estimated against it: pass baseline= one of the levels."
        )
    if len(levels) < 2:
        raise ConfigError(f"only one sleep level ({levels[0]:g}) in the data: there is no sleep effect to estimate.")
    base = levels[int(np.argmin(np.abs(np.asarray(levels) - baseline)))]
    r = d["sleep_fraction"].to_numpy(dtype=float)
    cols, names, refs = [np.ones(len(d))], ["Intercept"], [(None, None)]
    if sleep == "categorical":
        sleep_cols = [((r == lv).astype(float), f"sleep[{lv:g}]", lv) for lv in levels if lv != base]
    else:
        sleep_cols = [(r - base, "sleep", float("nan"))]
    for col, name, lv in sleep_cols:
        cols.append(col), names.append(name), refs.append((lv, None))
    variants = [] if by is None else sorted(d[by].astype(str).unique())
    if by is not None and len(variants) > 1:
        ref = variants[0] if reference is None else str(reference)
        if ref not in variants:
            raise ConfigError(f"reference = {reference!r} is not a level of {by!r}: {', '.join(variants)}.")
        v = d[by].astype(str).to_numpy()
        for lvl in variants:
            if lvl == ref:
                continue
            cols.append((v == lvl).astype(float)), names.append(f"{by}[{lvl}]"), refs.append((None, lvl))
            for col, name, s_lv in sleep_cols:
                cols.append(col * (v == lvl)), names.append(f"{name}:{by}[{lvl}]"), refs.append((s_lv, lvl))
    else:
        ref = variants[0] if variants else None
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        cells = d.groupby(["sleep_fraction"] + ([by] if by else [])).size()
        full = len(levels) * max(1, len(variants))
        raise ConfigError(
            f"the design sleep{' * ' + by if by else ''} is not estimable: {len(cells)} of {full} sleep x "
            f"{by or 'level'} cells have runs. Give every {by or 'level'} every sleep level, or fit "
            "subsets separately, or use sleep='numeric'."
        )
    return X, names, refs, ref, base


def beta_glmm(df, metric: str = "trained_pca_qda", *, by: str | None = "variant", sleep: str = "categorical",
              baseline: float = 0.0, reference: str | None = None, dataset: str | None = None, n_quad: int = 15,
              sd: float | None = None, level: float = 0.95):  # fmt: skip
    """Beta generalized linear mixed model ``metric ~ sleep * by + (1 | seed)``, per dataset.

    The paper's model of accuracy: each run's accuracy ``y`` is Beta distributed with mean
    ``mu`` and precision ``phi`` (variance ``mu (1 - mu) / (1 + phi)``, common to all runs),

    ``logit(mu) = X beta + b_seed``,  ``b_seed ~ Normal(0, sd^2)``,

    so a seed (the same data subset, connectivity and initial state across sleep levels and
    variants) shifts all its runs alike on the logit scale. Fitted by maximum likelihood with
    ``b`` integrated out by adaptive Gauss-Hermite quadrature, BFGS on ``(beta, log phi, log
    sd)``, Wald standard errors from the numerically differentiated analytic gradient. Each
    dataset is fitted on its own (its seeds are its groups).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run (:func:`sleep_brian.store.load`): ``dataset`` (optional), ``seed``,
        ``sleep_fraction``, the ``by`` column and ``metric``. Failed runs are left out.
    metric : str
        A proportion in ``[0, 1]`` (an accuracy). Values exactly 0 or 1 are squeezed with
        the Smithson-Verkuilen transform ``(y (n - 1) + 0.5) / n`` (the ``transform`` column
        says when).
    by : str or None
        Column of the network variant (the paper's "model"), crossed with sleep; None fits
        ``metric ~ sleep`` alone. With one variant in the data the ``by`` terms are dropped.
    sleep : {"categorical", "numeric"}
        ``categorical``: one coefficient per sleep level, against ``baseline``; ``numeric``:
        a slope per unit of sleep fraction (logit scale), measured from ``baseline``.
    baseline : float
        The reference sleep level (0: no sleep).
    reference : str, optional
        The reference variant (default: the first in sorted order).
    dataset : str, optional
        Fit this dataset only (default: each dataset in turn).
    n_quad : int
        Quadrature nodes per seed, at least 3. With the default 15 the log-likelihood agrees
        with 40 nodes to 1e-9 on sweeps of 8 seeds x 18 runs.
    sd : float, optional
        Hold the random-intercept sd at this value instead of estimating it (0: a plain beta
        regression, as statsmodels' ``BetaModel``).
    level : float
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per term and dataset. ``kind`` is ``fixed`` (the coefficients on the logit
        scale: ``Intercept``, ``sleep[r]`` = log odds ratio of level ``r`` against ``baseline``
        for the reference variant, ``variant[v]``, ``sleep[r]:variant[v]`` = how much more the
        sleep effect is in variant ``v``), ``sleep effect`` (sleep at level ``r`` against
        ``baseline`` within each variant: the sum of the main effect and the interaction, with
        its SE), ``random sd`` (the seed sd, logit scale) and ``precision`` (phi). Columns:
        ``dataset``, ``term``, ``kind``, ``sleep_fraction`` and the ``by`` column (what the term
        refers to), ``estimate``, ``se``, ``z``, ``p`` (two-sided Wald; none for the sd and
        phi, whose intervals come from the log scale), ``ci_lo``, ``ci_hi``, ``n``,
        ``n_seeds``, ``metric``, ``method``, ``transform`` and ``fit`` ("converged", or the
        optimiser's message and any caveat). ``attrs["loglik"]`` maps each dataset to its
        maximised log-likelihood.

    Raises
    ------
    ConfigError
        A column is missing, values lie outside ``[0, 1]``, a dataset has fewer than 2 seeds
        or one sleep level, the baseline level is absent, or the design is not estimable.
    """
    import pandas as pd
    from scipy import stats

    if sleep not in SLEEP_CODINGS:
        raise ConfigError(f"sleep = {sleep!r}; expected one of {', '.join(SLEEP_CODINGS)}.")
    if isinstance(n_quad, bool) or not isinstance(n_quad, (int, np.integer)) or n_quad < 3:
        # With 1 node (Laplace) or 2 the integral depends on where the nodes sit, which the
        # gradient ignores, so BFGS stops short of the optimum.
        raise ConfigError(f"n_quad = {n_quad!r}; expected an integer >= 3 quadrature nodes per seed, such as 15.")
    if sd is not None and not (np.isfinite(sd) and sd >= 0):
        raise ConfigError(f"sd = {sd!r}; expected None (estimate it) or a number >= 0.")
    if not 0 < level < 1:
        raise ConfigError(f"level = {level!r}; expected a number in (0, 1) such as 0.95.")
    d = _usable(df, metric)
    needed = ["seed", "sleep_fraction"] + ([by] if by is not None else [])
    missing = [c for c in needed if c not in d.columns]
    if missing:
        raise ConfigError(
            f"beta_glmm needs the column(s) {', '.join(missing)}; the table has {', '.join(map(str, df.columns))}. "
            + (f"Pass by=None to fit without a {by!r} factor." if by in missing else "Load the table with sleep_brian.store.load.")
        )
    y_all = d[metric].to_numpy(dtype=float)
    bad = (y_all < 0) | (y_all > 1)
    if bad.any():
        raise ConfigError(
            f"{int(bad.sum())} value(s) of {metric!r} lie outside [0, 1] (e.g. {y_all[bad][0]:g}); a beta model is for "
            "proportions such as accuracies. Pick an accuracy column, or rescale the metric to [0, 1]."
        )
    d = d.copy()
    if "dataset" not in d.columns:
        d["dataset"] = None
    if dataset is not None:
        if dataset not in set(d["dataset"]):
            raise ConfigError(f"dataset {dataset!r} is not in the table; it has {', '.join(map(str, d['dataset'].unique()))}.")
        d = d[d["dataset"] == dataset]
    d["sleep_fraction"] = d["sleep_fraction"].astype(float)
    by_col = by or "variant"
    zq = stats.norm.ppf((1 + level) / 2)
    rows, logliks = [], {}
    for ds, g in d.groupby("dataset", sort=True, dropna=False):
        seeds = sorted(g["seed"].unique())
        if len(seeds) < 2:
            raise ConfigError(
                f"dataset {ds!r} has runs of {len(seeds)} seed ({', '.join(map(str, seeds))}); a random intercept per seed "
                "needs at least 2 (the paper used 5+). Run more seeds, or pass sd=0 for a plain beta regression."
            )
        y, transform = _squeeze(g[metric].to_numpy(dtype=float))
        X, names, refs, ref, base = _glmm_design(g, by, sleep, baseline, reference)
        groups = np.searchsorted(seeds, g["seed"].to_numpy())
        fit = _fit_beta_glmm(y, X, groups, n_quad=int(n_quad), sd=sd)
        theta, cov, p = fit["theta"], fit["cov"], X.shape[1]
        logliks[ds] = fit["loglik"]
        method = (
            f"beta GLMM (logit mean, common precision phi, normal random intercept per seed): maximum likelihood, "
            f"adaptive Gauss-Hermite quadrature with {n_quad} nodes, BFGS; Wald {level:.0%} CIs from the numerical Hessian"
            + (f"; seed sd held at {sd:g}" if sd is not None else "")
        )
        common = {"dataset": ds, "n": len(y), "n_seeds": len(seeds), "metric": metric, "method": method,
                  "transform": transform, "fit": fit["note"]}  # fmt: skip

        def wald(est, se):
            z = est / se if se > 0 else float("nan")
            return {"estimate": float(est), "se": float(se), "z": float(z), "p": float(2 * stats.norm.sf(abs(z))),
                    "ci_lo": float(est - zq * se), "ci_hi": float(est + zq * se)}  # fmt: skip

        for j, (name, (lv, var)) in enumerate(zip(names, refs)):
            rows.append({**common, "term": name, "kind": "fixed", "sleep_fraction": lv, by_col: var,
                         **wald(theta[j], np.sqrt(cov[j, j]))})  # fmt: skip
        # Sleep effects within each variant: main effect + interaction, a linear combination c beta.
        variants = [ref] + sorted({var for _, var in refs if var is not None}) if by is not None else [None]
        for j, (name, (lv, var)) in enumerate(zip(names, refs)):
            if var is not None or not name.startswith("sleep"):
                continue
            for v in variants:
                c = np.zeros(len(theta))
                c[j] = 1
                if v != ref:
                    c[names.index(f"{name}:{by}[{v}]")] = 1
                se = float(np.sqrt(c @ cov @ c))
                rows.append({**common, "term": f"{name} | {by}={v}" if by is not None else name, "kind": "sleep effect",
                             "sleep_fraction": lv, by_col: v, **wald(c @ theta, se)})  # fmt: skip
        extras = [("phi", "precision", p)] + ([("sd(seed)", "random sd", p + 1)] if sd is None else [])
        for name, kind, j in extras:
            log_est, log_se = theta[j], np.sqrt(cov[j, j])
            # Intervals on the log scale (then exponentiated) stay positive; no Wald test of
            # sd = 0: that null lies on the boundary of the parameter space.
            rows.append({**common, "term": name, "kind": kind, "sleep_fraction": float("nan"), by_col: None,
                         "estimate": float(np.exp(log_est)), "se": float(np.exp(log_est) * log_se),
                         "z": float("nan"), "p": float("nan"), "ci_lo": float(np.exp(log_est - zq * log_se)),
                         "ci_hi": float(np.exp(log_est + zq * log_se))})  # fmt: skip
        if sd is not None:
            rows.append({**common, "term": "sd(seed)", "kind": "random sd", "sleep_fraction": float("nan"), by_col: None,
                         "estimate": float(sd), "se": 0.0, "z": float("nan"), "p": float("nan"),
                         "ci_lo": float(sd), "ci_hi": float(sd)})  # fmt: skip
    order = ["dataset", "term", "kind", "sleep_fraction", by_col, "estimate", "se", "z", "p", "ci_lo", "ci_hi",
             "n", "n_seeds", "metric", "method", "transform", "fit"]  # fmt: skip
    out = pd.DataFrame(rows, columns=order)
    out.attrs["loglik"] = logliks
    return out


# ---------------------------------------------------------------------------------------------
# The paper's two questions, answered plainly
# ---------------------------------------------------------------------------------------------


def _paired(a_by_seed, b_by_seed, level):
    """Paired t over the seeds both have: mean of a - b, its t CI and two-sided p."""
    from scipy import stats

    seeds = sorted(set(a_by_seed.index) & set(b_by_seed.index))
    d = a_by_seed.loc[seeds].to_numpy(dtype=float) - b_by_seed.loc[seeds].to_numpy(dtype=float)
    lo, hi = _diff_ci(d, "paired-t", level)
    if len(d) < 2 or not np.any(d != 0):
        p = float("nan") if len(d) < 2 else 1.0
    elif d.std(ddof=1) == 0:
        p = 0.0  # every pair differs by the same amount
    else:
        p = float(stats.ttest_1samp(d, 0.0)[1])
    return (float(d.mean()) if len(d) else float("nan")), lo, hi, p, len(d)


def paper_questions(df, metric: str = "trained_pca_qda", *, levels=(0.1, 0.2), baseline: float = 0.0,
                    level: float = 0.95, alpha: float = 0.05) -> dict:  # fmt: skip
    """Answer "is 10-20 % sleep best?" and "does sleep narrow the spread across seeds?" per
    dataset and variant, with the numbers behind each answer.

    **Best level.** The level with the highest mean over seeds, with the percentile bootstrap
    CI of :func:`summarize`. Each candidate level in ``levels`` is compared with it paired by
    seed (t interval of best - candidate). The answer is ``yes`` when the best level is a
    candidate, ``tied`` when it is not but a candidate's paired CI includes 0 (the data cannot
    tell them apart), ``no`` when every candidate is worse than the best with the CI excluding 0.

    **Spread.** At every level, the sd over seeds against the sd at ``baseline``, with the
    Brown-Forsythe test of equal spread (scipy's ``levene(center="median")``, robust to
    non-normal accuracies; it ignores the pairing and has little power with 5 seeds). The answer
    is ``yes`` when the sd is below baseline's at every level and significantly (p < ``alpha``)
    at one or more, ``no`` when no level is significantly narrower and at most half are narrower
    at all, ``partly`` otherwise. Both answers are ``too few seeds`` where the best level (for
    the spread: the baseline) has fewer than 2 seeds: one run has no paired CI and no spread.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run (:func:`sleep_brian.store.load`).
    metric : str
        The column compared.
    levels : sequence of float
        The candidate "sweet spot" (the paper: 10 and 20 % sleep).
    baseline : float
        The no-sleep level that spreads are compared with.
    level : float
        Confidence level of the intervals.
    alpha : float
        Significance level of the spread test.

    Returns
    -------
    dict
        ``best``: a DataFrame per dataset and variant (``best_level``, ``best_mean``,
        ``best_ci_lo``, ``best_ci_hi``, ``answer``, ``tied_with``: the levels outside ``levels``
        whose paired CI against the best includes 0); ``candidates``: per candidate level its
        ``mean``, whether it lies in the best level's CI (``in_best_ci``), ``diff_vs_best``
        (best - candidate) with ``diff_ci_lo``, ``diff_ci_hi`` and ``p``; ``spread``: per level
        ``sd``, ``sd_baseline``, ``sd_ratio``, ``bf_stat``, ``p``; ``spread_answer``: per
        dataset and variant ``answer``, ``n_narrower``, ``n_significant``, ``n_levels``;
        ``markdown``: all of it in sentences.
    """
    import pandas as pd
    from scipy import stats

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha = {alpha!r}; expected a number in (0, 1) such as 0.05.")
    levels = tuple(float(r) for r in levels)
    if not levels:
        raise ConfigError("levels is empty; give the candidate sleep levels, e.g. levels=(0.1, 0.2).")
    summary = summarize(df, metric)
    if summary.empty:
        raise ConfigError(f"no usable runs with a value of {metric!r}.")
    d = _usable(df, metric)
    best_rows, cand_rows, spread_rows, sp_answers, text = [], [], [], [], []
    for (ds, var), s in summary.groupby(["dataset", "variant"], sort=True):
        g = d[(d["dataset"] == ds) & (d["variant"] == var)]
        by_level = {float(r): gl.set_index("seed")[metric].astype(float) for r, gl in g.groupby("sleep_fraction")}
        top = s.loc[s["mean"].idxmax()]
        best = float(top["sleep_fraction"])
        in_levels = any(np.isclose(best, r) for r in levels)
        if int(top["n"]) < 2:
            # One seed has no paired CI and no spread: an answer would be made of nan.
            best_rows.append({"dataset": ds, "variant": var, "metric": metric, "best_level": best,
                              "best_mean": float(top["mean"]), "best_ci_lo": float("nan"), "best_ci_hi": float("nan"),
                              "n": int(top["n"]), "answer": "too few seeds", "tied_with": ""})  # fmt: skip
            sp_answers.append({"dataset": ds, "variant": var, "answer": "too few seeds", "n_narrower": 0,
                               "n_significant": 0, "n_levels": 0})  # fmt: skip
            text.append(f"**{ds} / {var}** ({metric})\n")
            text.append(f"- *Is {' or '.join(f'{r:.0%}' for r in levels)} sleep best?* Cannot say yet: the highest mean, "
                        f"{top['mean']:.3f} at {best:g}, is of {int(top['n'])} seed; a paired comparison needs 2 or more.")
            text.append("- *Does sleep narrow the spread across seeds?* Cannot say yet: a spread needs 2 or more seeds "
                        "per level.\n")
            continue
        parts = []
        tied = []
        for r in levels:
            key = next((k for k in by_level if np.isclose(k, r)), None)
            if key is None:
                cand_rows.append({"dataset": ds, "variant": var, "sleep_fraction": r, "mean": float("nan"),
                                  "in_best_ci": False, "diff_vs_best": float("nan"), "diff_ci_lo": float("nan"),
                                  "diff_ci_hi": float("nan"), "p": float("nan"), "n_pairs": 0})  # fmt: skip
                parts.append(f"{r:g} was not run")
                continue
            mean = float(by_level[key].mean())
            diff, lo, hi, p, n = _paired(by_level[best], by_level[key], level)
            within = bool(top["ci_lo"] <= mean <= top["ci_hi"])
            cand_rows.append({"dataset": ds, "variant": var, "sleep_fraction": r, "mean": mean, "in_best_ci": within,
                              "diff_vs_best": diff, "diff_ci_lo": lo, "diff_ci_hi": hi, "p": p, "n_pairs": n})  # fmt: skip
            if np.isclose(key, best):
                continue
            if not (lo > 0 or hi < 0):  # the CI of best - candidate includes 0 (or is undefined)
                tied.append(r)
            parts.append(
                f"{r:g}: {mean:.3f}, {diff:.3f} below the best (paired {level:.0%} CI [{lo:.3f}, {hi:.3f}], p {p:.2g}"
                f"{'; inside' if within else '; outside'} the best's CI)"
            )
        # The other levels the best cannot be told apart from: a "yes" is weaker when, say,
        # 30 % does as well as the best 20 %.
        others = []
        for key in sorted(by_level):
            if np.isclose(key, best) or any(np.isclose(key, r) for r in levels):
                continue
            _, lo, hi, _, _ = _paired(by_level[best], by_level[key], level)
            if not (lo > 0 or hi < 0):
                others.append(key)
        answer = "yes" if in_levels else ("tied" if tied else "no")
        best_rows.append({"dataset": ds, "variant": var, "metric": metric, "best_level": best, "best_mean": float(top["mean"]),
                          "best_ci_lo": float(top["ci_lo"]), "best_ci_hi": float(top["ci_hi"]), "n": int(top["n"]),
                          "answer": answer, "tied_with": ", ".join(f"{r:g}" for r in others)})  # fmt: skip
        lead = {"yes": "Yes", "tied": "Not distinguishable", "no": "No"}[answer]
        text.append(f"**{ds} / {var}** ({metric})\n")
        text.append(
            f"- *Is {' or '.join(f'{r:.0%}' for r in levels)} sleep best?* {lead}: the best level is {best:g} with "
            f"{top['mean']:.3f} [{top['ci_lo']:.3f}, {top['ci_hi']:.3f}] ({level:.0%} bootstrap CI, {int(top['n'])} seeds)"
            + (f"; {'; '.join(parts)}" if parts else "")
            + (f"; other levels not distinguishable from the best (paired CI includes 0): {', '.join(f'{r:g}' for r in others)}"
               if others else "")
            + "."
        )
        # Spread across seeds, each level against the baseline.
        base_key = next((k for k in by_level if np.isclose(k, baseline)), None)
        if base_key is None:
            text.append(f"- *Does sleep narrow the spread across seeds?* Cannot say: no runs at sleep {baseline:g}.\n")
            continue
        x0 = by_level[base_key].to_numpy()
        if len(x0) < 2:
            sp_answers.append({"dataset": ds, "variant": var, "answer": "too few seeds", "n_narrower": 0,
                               "n_significant": 0, "n_levels": 0})  # fmt: skip
            text.append(f"- *Does sleep narrow the spread across seeds?* Cannot say yet: {len(x0)} seed at sleep "
                        f"{baseline:g}; a spread needs 2 or more.\n")
            continue
        sd0 = float(x0.std(ddof=1))
        lines = []
        n_lv = n_narrow = n_sig = 0
        for r, x in sorted(by_level.items()):
            if r == base_key:
                continue
            x = x.to_numpy()
            sd = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
            with warnings.catch_warnings():
                # Two constant groups give 0/0; that is a nan p, not a warning to print.
                warnings.simplefilter("ignore")
                stat, p = (stats.levene(x, x0, center="median") if len(x) > 1 and len(x0) > 1 else (np.nan, np.nan))
            stat, p = float(stat), float(p)
            ratio = sd / sd0 if sd0 > 0 else float("nan")
            spread_rows.append({"dataset": ds, "variant": var, "sleep_fraction": r, "sd": sd, "sd_baseline": sd0,
                                "sd_ratio": ratio, "bf_stat": stat, "p": p, "n": len(x), "n_baseline": len(x0),
                                "method": "Brown-Forsythe (scipy levene, center=median) vs sleep "
                                          f"{baseline:g}"})  # fmt: skip
            n_lv += 1
            n_narrow += sd < sd0
            n_sig += bool(sd < sd0 and p < alpha)
            # sd 0: every seed gave the same value (a network at chance, say): "narrower" then
            # means collapsed, which the reader should see.
            lines.append(f"{r:g}: {sd:.3f} ({ratio:.2f}x, p {p:.2g}{', every seed equal' if sd == 0 else ''})")
        if n_narrow == n_lv and n_sig >= 1:
            sp = "yes"
        elif n_sig == 0 and n_narrow <= n_lv / 2:
            sp = "no"
        else:
            sp = "partly"
        sp_answers.append({"dataset": ds, "variant": var, "answer": sp, "n_narrower": int(n_narrow),
                           "n_significant": int(n_sig), "n_levels": n_lv})  # fmt: skip
        text.append(
            f"- *Does sleep narrow the spread across seeds?* {sp.capitalize()}: narrower than at sleep {baseline:g} "
            f"at {n_narrow} of {n_lv} levels, significantly (Brown-Forsythe p < {alpha:g}) at {n_sig}. "
            f"sd over seeds at {baseline:g}: {sd0:.3f}; " + "; ".join(lines) + ".\n"
        )
    return {
        "best": pd.DataFrame(best_rows),
        "candidates": pd.DataFrame(cand_rows),
        "spread": pd.DataFrame(spread_rows),
        "spread_answer": pd.DataFrame(sp_answers),
        "markdown": "\n".join(text),
    }


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
