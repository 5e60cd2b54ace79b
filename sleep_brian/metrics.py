"""Summary statistics of weights, firing and forgetting, computed from plain numpy arrays.

These are the numbers logged after each training or sleep phase: how a pathway's weights are
spread and how many sit at a bound (:func:`weight_stats`), how much their order changed
(:func:`rank_correlation`), how the excitatory population fires (:func:`rate_stats`), and how
much earlier tasks were forgotten (:func:`forgetting_metrics`).

Functions that summarise data return NaN rather than raise when the data are too few to
define a statistic (no synapses, a single task), because they run inside long simulations
where a missing number is better than a lost run. Malformed arguments still raise
:class:`~sleep_brian.errors.ConfigError`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr

from sleep_brian.errors import ConfigError

__all__ = [
    "forgetting_metrics",
    "rank_correlation",
    "rate_stats",
    "weight_stats",
    "receptive_field_correlation",
    "participation_ratio",
    "class_selectivity",
    "calinski_harabasz",
    "response_stats",
]

_WEIGHT_KEYS = (
    "mean",
    "sd",
    "abs_mean",
    "abs_min",
    "abs_max",
    "abs_sum",
    "frac_at_min",
    "frac_at_max",
    "saturation",
    "entropy",
    "n_effective",
)

_RATE_KEYS = (
    "rate_mean_hz",
    "rate_sd_hz",
    "rate_max_hz",
    "frac_silent",
    "frac_always_on",
    "mean_active_per_sample",
)


def _finite_real(value, name: str, hint: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not a number; expected {hint}.") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}={value!r} is not finite; expected {hint}.")
    return out


def weight_stats(w, w_min, w_max, *, bound_tol: float = 1e-6) -> dict:
    """Summarise the weights of one synaptic pathway.

    Parameters
    ----------
    w : array-like
        The pathway's weights (flattened if not 1-D). Inhibitory pathways may be all negative.
    w_min, w_max : float or None
        Signed bounds of the weights, ``w_min < w_max`` (e.g. ``-1, 0`` for inhibition). Both
        None: unbounded weights (the SG-SNN's); the fractions at the bounds are then NaN.
    bound_tol : float, default=1e-6
        A weight counts as at a bound when within ``bound_tol * (w_max - w_min)`` of it.
        Weights beyond a bound count as at it.

    Returns
    -------
    dict
        Floats ``mean`` and ``sd`` (population, ddof=0) of the signed weights; ``abs_mean``,
        ``abs_min``, ``abs_max``, ``abs_sum`` of ``|w|``; ``frac_at_min``, ``frac_at_max`` and
        ``saturation`` (fraction at either bound); ``entropy``, the Shannon entropy
        of ``p = |w| / sum |w|`` divided by ``log n`` (1: all equal, towards 0: one synapse
        holds everything); ``n_effective = 1 / sum p**2`` (participation number, from 1 to n);
        and the int ``n``. With no weights everything but ``n = 0`` is NaN; ``entropy`` is NaN
        for ``n = 1`` (0 / 0), and ``entropy`` and ``n_effective`` are NaN when every weight is
        zero (``p`` undefined).

    Raises
    ------
    ConfigError
        If the bounds are not finite with ``w_min < w_max``, ``bound_tol`` is negative, or
        ``w`` has NaN or infinite entries.
    """
    unbounded = w_min is None and w_max is None
    lo = -1.0 if unbounded else _finite_real(w_min, "w_min", "the lower weight bound")
    hi = 1.0 if unbounded else _finite_real(w_max, "w_max", "the upper weight bound")
    if not lo < hi:
        raise ConfigError(
            f"w_min={w_min!r} is not below w_max={w_max!r}; expected the signed interval "
            "[w_min, w_max] of the pathway (e.g. w_min=-1, w_max=0 for inhibition). Pass the "
            "bounds in increasing order."
        )
    tol = _finite_real(bound_tol, "bound_tol", "a non-negative fraction of w_max - w_min")
    if tol < 0:
        raise ConfigError(
            f"bound_tol={bound_tol!r} is negative; expected a non-negative fraction of "
            "w_max - w_min (default 1e-6)."
        )
    w = np.asarray(w, dtype=np.float64).ravel()
    n = w.size
    if n == 0:
        return {**{key: math.nan for key in _WEIGHT_KEYS}, "n": 0}
    if not np.all(np.isfinite(w)):
        raise ConfigError(
            f"w has {int(np.sum(~np.isfinite(w)))} NaN or infinite entries of {n}; expected "
            "finite weights. The simulation probably diverged: check the learning rates and "
            "the clipping of the weights."
        )

    atol = tol * (hi - lo)
    low_mask = np.zeros(n, bool) if unbounded else w <= lo + atol
    high_mask = np.zeros(n, bool) if unbounded else w >= hi - atol
    a = np.abs(w)
    total = float(a.sum())
    if total > 0:
        p = a / total
        nz = p[p > 0]  # 0 * log 0 = 0
        entropy = float(-np.sum(nz * np.log(nz)) / math.log(n)) if n > 1 else math.nan
        n_effective = float(1.0 / np.sum(p * p))
    else:
        entropy = n_effective = math.nan
    return {
        "mean": float(w.mean()),
        "sd": float(w.std()),
        "abs_mean": float(a.mean()),
        "abs_min": float(a.min()),
        "abs_max": float(a.max()),
        "abs_sum": total,
        "frac_at_min": math.nan if unbounded else float(low_mask.mean()),
        "frac_at_max": math.nan if unbounded else float(high_mask.mean()),
        # A union, not a sum: with a huge bound_tol the two bands overlap and a weight in both
        # must count once.
        "saturation": math.nan if unbounded else float(np.mean(low_mask | high_mask)),
        "entropy": entropy,
        "n_effective": n_effective,
        "n": int(n),
    }


def rank_correlation(w_before, w_after) -> float:
    """Spearman rank correlation between two snapshots of the same weights.

    Parameters
    ----------
    w_before, w_after : array-like
        The same synapses' weights at two times (flattened), equal sizes.

    Returns
    -------
    float
        Spearman's rho. NaN, without a warning, when it is undefined: fewer than two
        synapses, a constant snapshot, or NaN/infinite entries.

    Raises
    ------
    ConfigError
        If the two snapshots have different sizes.
    """
    a = np.asarray(w_before, dtype=np.float64).ravel()
    b = np.asarray(w_after, dtype=np.float64).ravel()
    if a.size != b.size:
        raise ConfigError(
            f"w_before has {a.size} weights but w_after {b.size}; expected two snapshots of "
            "the same synapses. Record both from the same Synapses object, without pruning "
            "in between."
        )
    # Checked here because scipy warns (ConstantInputWarning) for each such call, which
    # floods the log when a pathway is frozen for a whole phase.
    if a.size < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b)[0])  # [0], not .statistic: scipy < 1.10 has no such attribute


def rate_stats(counts, duration_s) -> dict:
    """Summarise the firing of a population over presented samples.

    Parameters
    ----------
    counts : array-like of shape (n_samples, n_neurons)
        Spike counts of each neuron during each sample's presentation.
    duration_s : float
        Presentation time of one sample, in seconds (> 0).

    Returns
    -------
    dict
        Floats ``rate_mean_hz``, ``rate_sd_hz`` (ddof=0) and ``rate_max_hz``: mean, spread and
        maximum over neurons of each neuron's mean rate across samples; ``frac_silent``
        (neurons with no spike in any sample); ``frac_always_on`` (neurons with a spike in
        every sample); ``mean_active_per_sample`` (fraction of neurons with >= 1 spike in a
        sample, averaged over samples). All NaN when there are no samples or no neurons.

    Raises
    ------
    ConfigError
        If ``counts`` is not 2-D with finite non-negative entries, or ``duration_s`` is not a
        positive number.
    """
    duration = _finite_real(duration_s, "duration_s", "the presentation time in seconds")
    if duration <= 0:
        raise ConfigError(
            f"duration_s={duration_s!r} is not positive; expected the presentation time of "
            "one sample in seconds (e.g. 0.35). Pass it as a plain float in seconds."
        )
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2:
        raise ConfigError(
            f"counts has shape {c.shape}; expected (n_samples, n_neurons) spike counts. "
            "Stack one row per presented sample."
        )
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ConfigError(
            "counts contains negative, NaN or infinite values; expected non-negative spike "
            "counts. Check how the counts were recorded."
        )
    if c.size == 0:
        return {key: math.nan for key in _RATE_KEYS}
    rates = c.mean(axis=0) / duration
    fired = c > 0
    return {
        "rate_mean_hz": float(rates.mean()),
        "rate_sd_hz": float(rates.std()),
        "rate_max_hz": float(rates.max()),
        "frac_silent": float(np.mean(~fired.any(axis=0))),
        "frac_always_on": float(np.mean(fired.all(axis=0))),
        "mean_active_per_sample": float(fired.mean(axis=1).mean()),
    }


def forgetting_metrics(acc_matrix) -> dict:
    """Continual-learning summary of a task-by-task accuracy matrix.

    Parameters
    ----------
    acc_matrix : array-like of shape (T, T)
        ``acc_matrix[i, j]`` is the accuracy on task ``j`` after training on task ``i``.
        Entries with ``j > i`` (tasks not yet trained) are ignored and may be NaN; the rest
        must be finite.

    Returns
    -------
    dict
        ``average_accuracy``: mean of the last row. ``backward_transfer``: mean over
        ``j < T-1`` of ``A[T-1, j] - A[j, j]`` (negative means forgetting).
        ``forgetting``: mean over ``j < T-1`` of ``max_{j <= i < T-1} A[i, j] - A[T-1, j]``,
        the drop from the best accuracy task ``j`` had once learned (Chaudhry et al. 2018).
        With ``T = 1`` the last two are NaN.

    Raises
    ------
    ConfigError
        If the matrix is not square and non-empty, or has a NaN/infinite entry on or below
        the diagonal.
    """
    A = np.asarray(acc_matrix, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ConfigError(
            f"acc_matrix has shape {A.shape}; expected a non-empty square (T, T) matrix with "
            "A[i, j] = accuracy on task j after training on task i. Fill untrained tasks "
            "(j > i) with NaN rather than leaving them out."
        )
    T = A.shape[0]
    lower = np.tril_indices(T)
    if not np.all(np.isfinite(A[lower])):
        raise ConfigError(
            "acc_matrix has NaN or infinite entries on or below the diagonal; expected the "
            "accuracy of every task already trained (j <= i). Evaluate all seen tasks after "
            "each training phase."
        )
    last = A[T - 1]
    if T == 1:
        return {
            "average_accuracy": float(last[0]),
            "backward_transfer": math.nan,
            "forgetting": math.nan,
        }
    earlier = np.arange(T - 1)
    bwt = float(np.mean(last[earlier] - A[earlier, earlier]))
    # Only rows j..T-2 count: before task j was trained its accuracy is not something to forget.
    best = np.array([A[j : T - 1, j].max() for j in earlier])
    return {
        "average_accuracy": float(last.mean()),
        "backward_transfer": bwt,
        "forgetting": float(np.mean(best - last[earlier])),
    }


def _responses(counts, labels=None):
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or not np.isfinite(c).all():
        raise ConfigError(f"responses have shape {c.shape}; expected finite (n_samples, n_neurons) spike counts.")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (c.shape[0],):
            raise ConfigError(f"labels have shape {labels.shape}; expected ({c.shape[0]},), one per sample.")
    return c, labels


def receptive_field_correlation(w_matrix) -> float:
    """Mean Pearson correlation between the receptive fields of all pairs of neurons.

    ``w_matrix`` is (n_inputs, n_neurons): column k is neuron k's receptive field (its input
    weights, 0 where there is no synapse). 1 means every neuron sees the same pattern (lost
    diversity); near 0, unrelated fields. Neurons with a constant field are left out; NaN with
    fewer than two others.
    """
    w = np.asarray(w_matrix, dtype=np.float64)
    if w.ndim != 2 or not np.isfinite(w).all():
        raise ConfigError(f"w_matrix has shape {w.shape}; expected a finite (n_inputs, n_neurons) array.")
    w = w[:, np.ptp(w, axis=0) > 0] if w.shape[0] else w[:, :0]
    if w.shape[1] < 2:
        return math.nan
    r = np.corrcoef(w, rowvar=False)
    n = r.shape[0]
    return float((r.sum() - n) / (n * (n - 1)))


def participation_ratio(counts) -> float:
    """Dimensionality of the responses: ``(sum lambda)^2 / sum lambda^2`` of their covariance.

    From 1 (all variance along one direction) to n_neurons (isotropic). NaN with fewer than two
    samples or no variance.
    """
    c, _ = _responses(counts)
    if c.shape[0] < 2 or c.shape[1] == 0:
        return math.nan
    cov = np.cov(c, rowvar=False).reshape(c.shape[1], c.shape[1])
    tr, tr2 = np.trace(cov), np.sum(cov * cov)  # trace(C^2) = sum of squared entries (C symmetric)
    return float(tr * tr / tr2) if tr2 > 0 else math.nan


def class_selectivity(counts, labels) -> float:
    """Mean selectivity index of the responsive neurons.

    For each neuron, with ``m_max`` its mean response to its preferred class and ``m_rest`` its
    mean over the class means of the other classes, ``(m_max - m_rest) / (m_max + m_rest)``:
    1 for a neuron that answers one class only, 0 for one that answers all alike. Neurons that
    never fire are left out. NaN with fewer than two classes or no responsive neuron.
    """
    c, y = _responses(counts, labels)
    classes = np.unique(y)
    if len(classes) < 2:
        return math.nan
    means = np.stack([c[y == k].mean(axis=0) for k in classes])  # (n_classes, n_neurons)
    m_max = means.max(axis=0)
    m_rest = (means.sum(axis=0) - m_max) / (len(classes) - 1)
    ok = m_max > 0
    if not ok.any():
        return math.nan
    return float(np.mean((m_max[ok] - m_rest[ok]) / (m_max[ok] + m_rest[ok])))


def calinski_harabasz(counts, labels) -> float:
    """Calinski-Harabasz score of the responses grouped by class (between / within dispersion,
    scaled by degrees of freedom); higher means classes are better separated. NaN when it is
    undefined (fewer than two classes, as many classes as samples, or no within-class spread).
    """
    c, y = _responses(counts, labels)
    classes, y_idx = np.unique(y, return_inverse=True)
    k, n = len(classes), len(y)
    if k < 2 or n <= k:
        return math.nan
    mean = c.mean(axis=0)
    between = within = 0.0
    for q in range(k):
        ck = c[y_idx == q]
        mk = ck.mean(axis=0)
        between += len(ck) * np.sum((mk - mean) ** 2)
        within += np.sum((ck - mk) ** 2)
    if within == 0:
        return math.nan
    return float(between * (n - k) / (within * (k - 1)))


def response_stats(counts, labels) -> dict:
    """The response metrics of one block of samples: participation ratio, class selectivity
    and Calinski-Harabasz score (see each function)."""
    return {
        "participation_ratio": participation_ratio(counts),
        "class_selectivity": class_selectivity(counts, labels),
        "calinski_harabasz": calinski_harabasz(counts, labels),
    }
