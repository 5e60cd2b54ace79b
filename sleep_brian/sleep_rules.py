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

from sleep_brian.equations import POWER_LAW_DECAY, STOCHASTIC_DECAY
from sleep_brian.errors import ModelError
from sleep_brian.model import Pathway, SleepRule
from sleep_brian.params import SleepParams

__all__ = ["power_law", "stochastic", "from_params", "RULES"]


def _power_settle(w, n, c, rng):
    return c["w_tar"] * (w / c["w_tar"]) ** (c["lam"] ** n)


def _stochastic_settle(w, n, c, rng):
    e = c["lam"] ** n
    x = np.log(w / c["w_base"]) * e + c["sigma_log"] * np.sqrt(1 - e**2) * rng.standard_normal(w.shape)
    return c["w_base"] * np.exp(x)


def power_law(lam: float = 0.99997, w_tar_exc: float = 0.01, w_tar_inh: float = -0.01, dt_ref=1 * b2.ms) -> SleepRule:
    """The paper's rule: every ``dt_ref`` of sleep, |w| <- |w_tar| (|w| / |w_tar|) ** lam, toward
    ``w_tar_exc`` (excitatory pathways) or ``w_tar_inh`` (inhibitory ones)."""
    p = SleepParams(rule="power", lam=lam, w_tar_exc=w_tar_exc, w_tar_inh=w_tar_inh, dt_ref=dt_ref)

    def w_tar(pw: Pathway) -> float:
        return p.w_tar_inh if pw.inhibitory else p.w_tar_exc

    return SleepRule(
        "power", POWER_LAW_DECAY, params={"lam": p.lam, "w_tar": w_tar}, dt_ref=p.dt_ref, settle=_power_settle,
        description="|w| <- w_tar (|w|/w_tar)^lam per dt_ref of sleep (Massey et al. 2026)",
    )  # fmt: skip


def stochastic(lam: float = 0.99997, sigma_log: float = 0.5, baseline: str = "initial", w_tar_exc: float = 0.01,
               w_tar_inh: float = -0.01, dt_ref=1 * b2.ms) -> SleepRule:  # fmt: skip
    """An exact Ornstein-Uhlenbeck process in x = log(w / w_base): x <- lam x + noise, stationary
    sd ``sigma_log``. ``baseline='initial'``: w_base is the pathway's initial weight;
    ``'target'``: ``w_tar_exc`` / ``w_tar_inh``."""
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

    return SleepRule(
        "stochastic", STOCHASTIC_DECAY, params={"lam": p.lam, "w_base": w_base, "sigma_log": p.sigma_log},
        dt_ref=p.dt_ref, settle=_stochastic_settle,
        description="Ornstein-Uhlenbeck relaxation of log|w| toward the baseline, stationary sd sigma_log",
    )  # fmt: skip


def from_params(s: SleepParams) -> SleepRule:
    """The rule a :class:`~sleep_brian.params.SleepParams` describes."""
    if s.rule == "power":
        return power_law(s.lam, s.w_tar_exc, s.w_tar_inh, s.dt_ref)
    return stochastic(s.lam, s.sigma_log, s.baseline, s.w_tar_exc, s.w_tar_inh, s.dt_ref)


#: Built-in rules by name (with their default parameters).
RULES = {"power": power_law, "stochastic": stochastic}
