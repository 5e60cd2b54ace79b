"""The built-in sleep rules: the paper's power law and the stochastic (Ornstein-Uhlenbeck) rule.

Each is a :class:`~sleep_brian.model.SleepRule`: a Brian2 string from
:mod:`sleep_brian.equations.homeostasis`, its constants (per pathway where they depend on the
weights' sign or start), and its numpy twin for the decay still owed at the end of a run. A user
writes a rule the same way in their own file (see ``models/shy.py`` for one that no peer has)::

    from sleep_brian.model import SleepRule
    halve = SleepRule("halve", '''
    w = clip(w * 0.5 ** ((SLEEP_CLOCK - last_sleep) / n_half), w_lo, w_hi)
    last_sleep = SLEEP_CLOCK
    ''', params={"n_half": 5000})
"""

from __future__ import annotations

import brian2 as b2
import numpy as np

from brian2.core.functions import DEFAULT_FUNCTIONS

from sleep_brian.equations import POWER_LAW_DECAY, STOCHASTIC_DECAY
from sleep_brian.equations.homeostasis import (
    POWER_LAW_DECAY_SKIP_IDLE,
    STOCHASTIC_DECAY_DRAW_OWED,
    STOCHASTIC_DECAY_SKIP_IDLE,
)
from sleep_brian.errors import ModelError
from sleep_brian.model import Pathway, SleepRule
from sleep_brian.params import SleepParams

__all__ = ["power_law", "stochastic", "from_params", "RULES", "FACTOR_OWED", "RANDN_WHERE"]


# ---- two Brian2 functions that let generated code skip the work of an event that owes nothing ----


def _factor_owed(n, factor):
    return np.where(np.asarray(n) == 0, 1.0, factor)


#: ``factor_owed(n, f)``: ``f``, or 1 where ``n == 0``. In C++ (cpp_standalone, and the untested
#: genn and cuda entries) it is a macro, ``(((n) == 0) ? 1.0 : (f))``, so ``f`` is not evaluated
#: where n = 0; numpy and Cython evaluate ``f`` and select. Used only where ``f`` is exactly 1 at
#: n = 0 (the decay rules of :mod:`~sleep_brian.equations.homeostasis`), so it changes what is
#: computed, not the result (up to the compiler's FMA choices: see :func:`stochastic`).
FACTOR_OWED = b2.Function(_factor_owed, arg_units=[1, 1], return_unit=1, arg_types=["float", "float"],
                          return_type="float")  # fmt: skip
_FACTOR_OWED_MACRO = {"hashdefine_code": "#define factor_owed(n, f) (((n) == 0) ? 1.0 : (f))"}
for _target in ("cpp", "genn", "cuda"):
    FACTOR_OWED.implementations.add_implementation(_target, code=_FACTOR_OWED_MACRO, name="factor_owed")
FACTOR_OWED.implementations.add_implementation(
    "cython", code="cdef double factor_owed(double n, double f):\n    return 1.0 if n == 0 else f\n", name="factor_owed"
)
FACTOR_OWED.__qualname__ = "sleep_brian.sleep_rules.FACTOR_OWED"  # a stable name in records and model keys


def _randn_where(flag, _vectorisation_idx):
    if not np.ndim(_vectorisation_idx):
        return np.random.randn() if np.asarray(flag) != 0 else 0.0
    size = np.size(_vectorisation_idx)
    drawn = np.broadcast_to(np.asarray(flag) != 0, (size,))
    out = np.zeros(size)
    out[drawn] = np.random.randn(int(drawn.sum()))  # in index order, as the C++ loop draws them
    return out


#: ``randn_where(flag)``: a standard normal number where ``flag != 0``, drawn from Brian2's stream
#: only there, and 0 elsewhere (no draw). numpy and C++ draw the same numbers in the same order
#: (the numpy draws of one call are those of ``randn()`` at the flagged indices, in index order).
#: Not available on genn or cuda_standalone.
RANDN_WHERE = b2.Function(_randn_where, arg_units=[1], return_unit=1, arg_types=["float"], return_type="float",
                          stateless=False, auto_vectorise=True)  # fmt: skip
_RANDN = {"_randn": DEFAULT_FUNCTIONS["randn"]}
RANDN_WHERE.implementations.add_implementation(
    "cpp", name="randn_where", dependencies=_RANDN,
    code="static inline double randn_where(const double flag, const int _vectorisation_idx)\n"
         "{\n    return flag == 0 ? 0.0 : _randn(_vectorisation_idx);\n}\n",
)  # fmt: skip
RANDN_WHERE.implementations.add_implementation(
    "cython", name="randn_where", dependencies=_RANDN,
    code="cdef double randn_where(double flag, int _vectorisation_idx):\n"
         "    return 0.0 if flag == 0 else _randn(_vectorisation_idx)\n",
)  # fmt: skip
RANDN_WHERE.__qualname__ = "sleep_brian.sleep_rules.RANDN_WHERE"


def _helper(function: b2.Function):
    """A rule parameter that puts ``function`` into the synapses' namespace (a rule's callable
    parameters are functions of the pathway, :meth:`SleepRule.constants`)."""

    def of_pathway(pw: Pathway) -> b2.Function:
        return function

    of_pathway.__qualname__ = function.__qualname__
    return of_pathway


def _power_settle(w, n, c, rng):
    return c["w_tar"] * (w / c["w_tar"]) ** (c["lam"] ** n)


def _stochastic_settle(w, n, c, rng):
    e = c["lam"] ** n
    x = np.log(w / c["w_base"]) * e + c["sigma_log"] * np.sqrt(1 - e**2) * rng.standard_normal(w.shape)
    return c["w_base"] * np.exp(x)


def power_law(lam: float = 0.99997, w_tar_exc: float = 0.01, w_tar_inh: float = -0.01, dt_ref=1 * b2.ms,
              skip_idle: bool = True) -> SleepRule:  # fmt: skip
    """The paper's rule: every ``dt_ref`` of sleep, |w| <- |w_tar| (|w| / |w_tar|) ** lam, toward
    ``w_tar_exc`` (excitatory pathways) or ``w_tar_inh`` (inhibitory ones).

    ``skip_idle`` (default): skip the two powers at an event that owes no decay (every event
    while awake), with bit-identical results on numpy and C++
    (:data:`~sleep_brian.equations.homeostasis.POWER_LAW_DECAY_SKIP_IDLE`; tests/test_paper_regression.py).
    False: the plain string (:data:`~sleep_brian.equations.homeostasis.POWER_LAW_DECAY`), which
    needs no helper function (for a target without one)."""
    p = SleepParams(rule="power", lam=lam, w_tar_exc=w_tar_exc, w_tar_inh=w_tar_inh, dt_ref=dt_ref)

    def w_tar(pw: Pathway) -> float:
        return p.w_tar_inh if pw.inhibitory else p.w_tar_exc

    code, helpers = (POWER_LAW_DECAY_SKIP_IDLE, {"factor_owed": _helper(FACTOR_OWED)}) if skip_idle else (POWER_LAW_DECAY, {})
    return SleepRule(
        "power", code, params={"lam": p.lam, "w_tar": w_tar, **helpers}, dt_ref=p.dt_ref, settle=_power_settle,
        description="|w| <- w_tar (|w|/w_tar)^lam per dt_ref of sleep (Massey et al. 2026)",
    )  # fmt: skip


def stochastic(lam: float = 0.99997, sigma_log: float = 0.5, baseline: str = "initial", w_tar_exc: float = 0.01,
               w_tar_inh: float = -0.01, dt_ref=1 * b2.ms, skip_idle: bool = False,
               draw_idle: bool = True) -> SleepRule:  # fmt: skip
    """An exact Ornstein-Uhlenbeck process in x = log(w / w_base): x <- lam x + noise, stationary
    sd ``sigma_log``. ``baseline='initial'``: w_base is the pathway's initial weight;
    ``'target'``: ``w_tar_exc`` / ``w_tar_inh``.

    ``skip_idle``: skip the arithmetic of an event that owes no decay
    (:data:`~sleep_brian.equations.homeostasis.STOCHASTIC_DECAY_SKIP_IDLE`). The arithmetic is
    the plain rule's and numpy gives bit-identical results, but C++ compiled with -ffast-math
    (Brian2's default flags) fuses ``a * b + c`` into FMAs differently once the expression sits in
    a conditional, so a decay step may differ by one rounding (measured: relative 1.3e-15, same
    spikes; tests/test_cheap_events.py). Off by default, so that the default model's numbers stay
    the golden ones (tests/test_paper_regression.py).
    ``draw_idle`` (default True): still draw the event's normal number where nothing is owed, so
    that the random stream is the plain rule's; False (needs ``skip_idle``): draw only where decay
    is owed (:data:`~sleep_brian.equations.homeostasis.STOCHASTIC_DECAY_DRAW_OWED`): the same
    process in distribution, not the same numbers for a seed; not on genn or cuda_standalone."""
    if not skip_idle and not draw_idle:
        raise ModelError("stochastic(draw_idle=False) needs skip_idle=True (the plain string draws at every event).")
    p = SleepParams(rule="stochastic", lam=lam, sigma_log=sigma_log, baseline=baseline, w_tar_exc=w_tar_exc,
                    w_tar_inh=w_tar_inh, dt_ref=dt_ref)  # fmt: skip

    def w_base(pw: Pathway) -> float:
        base = pw.w0 if p.baseline == "initial" else (p.w_tar_inh if pw.inhibitory else p.w_tar_exc)
        if base == 0 or np.sign(base) != pw.sign:
            raise ModelError(
                f"stochastic decay baseline for {pw.name} is {base}; it must be nonzero with the weights' sign "
                "(use baseline='target' or a nonzero initial weight)."
            )
        return base

    if not skip_idle:
        code, helpers = STOCHASTIC_DECAY, {}
    elif draw_idle:
        code, helpers = STOCHASTIC_DECAY_SKIP_IDLE, {"factor_owed": _helper(FACTOR_OWED)}
    else:
        code, helpers = STOCHASTIC_DECAY_DRAW_OWED, {"factor_owed": _helper(FACTOR_OWED), "randn_where": _helper(RANDN_WHERE)}
    return SleepRule(
        "stochastic", code, params={"lam": p.lam, "w_base": w_base, "sigma_log": p.sigma_log, **helpers},
        dt_ref=p.dt_ref, settle=_stochastic_settle,
        description="Ornstein-Uhlenbeck relaxation of log|w| toward the baseline, stationary sd sigma_log",
    )  # fmt: skip


def from_params(s: SleepParams, *, skip_idle: bool | None = None, draw_idle: bool = True) -> SleepRule:
    """The rule a :class:`~sleep_brian.params.SleepParams` describes. ``skip_idle`` (None: the
    rule's default) and ``draw_idle`` (stochastic rule only; False implies ``skip_idle``): see
    :func:`power_law`, :func:`stochastic`."""
    opts = {} if skip_idle is None else {"skip_idle": skip_idle}
    if s.rule == "power":
        return power_law(s.lam, s.w_tar_exc, s.w_tar_inh, s.dt_ref, **opts)
    if not draw_idle:
        opts["skip_idle"] = True
    return stochastic(s.lam, s.sigma_log, s.baseline, s.w_tar_exc, s.w_tar_inh, s.dt_ref, draw_idle=draw_idle, **opts)


#: Built-in rules by name (with their default parameters).
RULES = {"power": power_law, "stochastic": stochastic}
