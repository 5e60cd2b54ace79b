"""Synaptic-homeostasis (SHY) down-selection as a sleep rule, written as a user writes one.

The synaptic homeostasis hypothesis (Tononi & Cirelli 2003, Brain Res. Bull. 62:143; 2014,
Neuron 81:12) holds that wake potentiates synapses and that sleep renormalises their total
strength by down-selection: most synapses are scaled down in proportion to their size, the
strongest are spared. de Vivo et al. 2017 (Science 355:507, doi:10.1126/science.aah5982)
measured it in mouse cortex: the axon-spine interface is ~18 % smaller after sleep than after
wake, the decrease is proportional to size, and the largest synapses (about the strongest
~20 %) are spared.

The rule
--------
Per synapse, with ``n`` the ``dt_ref`` steps slept since its last update (``SLEEP_CLOCK -
last_sleep``) and ``w_floor``, ``w_spare`` two per-pathway constants of the weights' sign::

    if |w_floor| < |w| < |w_spare|:   w <- w_floor + (w - w_floor) * exp(-shy_rate * n)
    otherwise (spared, or at/below the floor):                       w unchanged

    shy_rate = -log(1 - shrink) * dt_ref / t_ref

- ``w_spare = sgn * spare_ratio * |w0|``: a synapse potentiated to ``spare_ratio`` times its
  pathway's initial weight or more is spared (de Vivo's large, stable synapses);
- ``w_floor = sgn * max(floor_ratio * |w0|, |bound nearest zero|)``: the weight that sleep
  scales toward; by default (``floor_ratio=0``) the pathway's bound nearest zero, the weakest a
  synapse can be in this model, so the scaling is proportional to the size above that zero
  (0.01 here, against w0 = 0.15 ... 0.5);
- ``t_ref`` and ``shrink``: a sleep of length ``t_ref`` scales every non-spared synapse's
  excess over the floor by exactly ``1 - shrink`` (defaults 3.5 s, the default schedule's sleep
  of 10 % of 35 s, and 0.18, de Vivo's 18 %); a sleep of length T by ``(1 - shrink) ** (T/t_ref)``.

The Brian2 code (:data:`SHY_DECAY`) writes this as ``w + (w_floor - w) * (-expm1(-shy_rate n))
* [non-spared]``, which leaves ``w`` bit-for-bit unchanged at every wake event (n = 0: expm1(0)
is exactly 0) and for a spared synapse, so millions of wake events add no rounding drift.

Why this form
-------------
"Scale the pathway's non-spared total to a target" needs, at each event, the current total and a
sort of all weights (which synapses are the strongest fraction); generated per-synapse code has
neither. This form keeps what is local and drops only what is global:

- it composes exactly, as the lazy builder requires (n steps at once = n single steps): between
  two events of a synapse only sleep acts on it, and one step maps the interval
  (|w_floor|, |w_spare|) into itself (the weight moves toward the floor and never reaches it),
  so a decaying synapse stays decaying and a spared one stays spared, and
  ``F + (F + (w - F) a - F) a = F + (w - F) a^2``. With the floor inside the bounds the clip
  never acts on a decaying weight, so clipping does not break the composition either. STDP,
  which is on during sleep in this model, acts only at events, before which the synapse is
  brought up to date: whether it is spared is decided on the weight it had in the whole interval;
- the scaling is proportional to size (above the floor), as measured, not a subtraction;
- the total is exact where it can be: over a sleep of ``t_ref`` with no STDP change, the
  non-spared synapses' summed excess over the floor, sum(|w| - |w_floor|), shrinks by exactly
  ``shrink`` (there is no clipping to spoil it), i.e. the non-spared total goes to the target
  ``N |w_floor| + (1 - shrink) (S - N |w_floor|)`` from S.

Limits (what is approximate relative to "scale the total to a target")
--------------------------------------------------------------------
- The target is relative (18 % less than the total at sleep onset), not an absolute total: a
  global normalisation would scale by S_target / S_wake, more after a wake that potentiated
  much and not at all after one that did not. Here every sleep removes the same fraction of the
  excess; repeated sleeps without potentiation drive the non-spared weights geometrically to
  the floor (its only fixed point), and the balance with wake potentiation is left to STDP.
- "The strongest fraction" is a fixed per-pathway threshold (``spare_ratio * |w0|``), not a
  quantile of the current weights: the spared fraction is whatever lies above it (none at the
  start, when every weight is w0), not de Vivo's ~20 %.
- STDP during sleep adds to and removes from the total; a synapse potentiated across
  ``w_spare`` during sleep is spared from its next event on, one depressed below it decays.
- For a sleep of other length T the shrink is ``1 - (1 - shrink) ** (T / t_ref)``; with the
  authors' 10 s cap, or other fractions, choose ``t_ref`` accordingly.
- With a floor above the lower bound, weights that STDP pushed below the floor are left alone
  (down-selection never potentiates).
- The rule acts on whichever pathways use it; the model below applies it, like the paper's
  rules, to every pathway, the inhibitory one included (on |w|), although de Vivo measured
  excitatory spine synapses only.

Measured in the paper network (``paper-shy``: cpp_standalone, default schedule, seed 1, digits
and fashion-mnist): with the defaults every non-spared weight ends near the floor (mean |w|
~0.011 in every pathway after the 28 sleeps) and the network is silent at test, like the
paper's power law: its STDP potentiates far too little during wake to balance 18 % per sleep,
and no synapse reaches 2 w0 to be spared. With ``floor_ratio=1`` (sleep removes only potentiation
above w0) the weights stay within ~5 % of w0, the network fires (~0.03-0.05 Hz) and reads out
below its untrained control (PCA+QDA 0.62 vs 0.88 on digits, 0.42 vs 0.65 on fashion-mnist).
"""

from __future__ import annotations

import math

import brian2 as b2
import numpy as np

from sleep_brian.errors import ModelError
from sleep_brian.model import Pathway, SleepRule

__all__ = ["SHY_DECAY", "shy", "shy_rate", "settle", "paper_shy"]

#: The SHY down-selection step for the ``SLEEP_CLOCK - last_sleep`` sleep steps owed: non-spared
#: weights relax toward ``w_floor`` by ``exp(-shy_rate n)``; spared ones (|w| >= |w_spare|) and
#: those at or below the floor are left unchanged.
SHY_DECAY = """
shy_owed = -expm1(-shy_rate * (SLEEP_CLOCK - last_sleep)) * int(abs(w) < abs(w_spare)) * int(abs(w) > abs(w_floor))
w = w + (w_floor - w) * shy_owed
w = clip(w, w_lo, w_hi)
last_sleep = SLEEP_CLOCK
"""


def shy_rate(shrink: float, t_ref, dt_ref) -> float:
    """The decay rate per ``dt_ref`` step such that a sleep of ``t_ref`` scales by ``1 - shrink``."""
    return float(-math.log1p(-shrink) * float(dt_ref / t_ref))


def settle(w, n, c, rng=None):
    """The numpy twin of :data:`SHY_DECAY` (before clipping): the decay owed after ``n`` steps."""
    w = np.asarray(w, dtype=float)
    owed = -np.expm1(-c["shy_rate"] * np.asarray(n, dtype=float))
    down = (np.abs(w) < abs(c["w_spare"])) & (np.abs(w) > abs(c["w_floor"]))
    return w + (c["w_floor"] - w) * (owed * down)


def shy(shrink: float = 0.18, t_ref=3.5 * b2.second, spare_ratio: float = 2.0, floor_ratio: float = 0.0,
        dt_ref=1 * b2.ms) -> SleepRule:  # fmt: skip
    """The SHY down-selection rule (see the module docstring for its exact form and limits).

    Parameters
    ----------
    shrink : float
        Fraction of a non-spared synapse's excess over the floor removed by a sleep of ``t_ref``
        (de Vivo et al. 2017: ~0.18), in [0, 1).
    t_ref : Quantity
        The reference sleep length (default 3.5 s: 10 % of the default 35 s wake block).
    spare_ratio : float
        Synapses with |w| >= spare_ratio * |w0| (their pathway's initial weight) are spared; > 0.
    floor_ratio : float
        The floor is max(floor_ratio * |w0|, |bound nearest zero|), with the weights' sign; >= 0.
    dt_ref : Quantity
        The sleep clock's step (the model's dt in the paper network).
    """
    if not (isinstance(shrink, (int, float)) and 0 <= shrink < 1):
        raise ModelError(f"shy: shrink = {shrink!r} is a fraction and must lie in [0, 1).")
    for name, v in (("t_ref", t_ref), ("dt_ref", dt_ref)):
        if not isinstance(v, b2.Quantity) or v.dim is not b2.second.dim or not float(v) > 0:
            raise ModelError(f"shy: {name} = {v!r} must be a positive time, e.g. 3.5 * brian2.second.")
    if not spare_ratio > 0:
        raise ModelError(f"shy: spare_ratio = {spare_ratio!r} must be > 0.")
    if not floor_ratio >= 0:
        raise ModelError(f"shy: floor_ratio = {floor_ratio!r} must be >= 0.")

    def _w0(pw: Pathway) -> float:
        if pw.w0 == 0 or pw.bounds is None:
            raise ModelError(f"shy: pathway {pw.name} needs a nonzero w0 and bounds (its thresholds scale with them).")
        return abs(pw.initial_weight())

    def w_floor(pw: Pathway) -> float:
        zero = min(abs(float(b)) for b in pw.bounds)  # the bound nearest zero
        return pw.sign * max(floor_ratio * _w0(pw), zero)

    def w_spare(pw: Pathway) -> float:
        spare = spare_ratio * _w0(pw)
        if spare <= abs(w_floor(pw)):
            raise ModelError(
                f"shy: pathway {pw.name}: the sparing threshold {spare:g} is not above the floor "
                f"{abs(w_floor(pw)):g}, so nothing would be scaled; raise spare_ratio or lower floor_ratio."
            )
        return pw.sign * spare

    return SleepRule(
        "shy", SHY_DECAY,
        params={"shy_rate": shy_rate(shrink, t_ref, dt_ref), "w_spare": w_spare, "w_floor": w_floor},
        dt_ref=dt_ref, settle=settle,
        description=(f"SHY down-selection: |w| - floor scaled by {1 - shrink:g} per {t_ref} of sleep, "
                     f"|w| >= {spare_ratio:g} |w0| spared (Tononi & Cirelli; de Vivo et al. 2017)"),
    )  # fmt: skip


def paper_shy(params=None, *, stdp: str | None = None, **rule_options):
    """The paper's network (:func:`sleep_brian.models.paper.declare`) with the SHY rule as its sleep rule.

    ``rule_options`` go to :func:`shy` (e.g. ``shrink=0.1``).
    """
    from sleep_brian.models import paper  # here, so that this file also loads on its own as a user's file

    p = params or paper.PaperParams()
    if stdp is not None:
        p = p.replace(stdp=p.stdp.replace(rule=stdp))
    model = paper.declare(p, name="paper-shy",
                          description="Massey et al. 2026's network with SHY down-selection sleep (de Vivo et al. 2017)")  # fmt: skip
    return model.with_sleep_rule(shy(**rule_options))
