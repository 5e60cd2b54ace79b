"""Sleep-phase homeostasis: weight decay rules (Brian2 code strings).

The membrane noise of sleep is composed onto a neuron model by the network builder from its
declared :class:`~sleep_brian.model.Noise`; the rules here become
:class:`~sleep_brian.model.SleepRule` objects in :mod:`sleep_brian.sleep_rules`.

Event-driven decay
------------------
The paper applies its decay to every weight after every sleep step. Done literally that is one
``pow`` per synapse per time step, which cost ~90 % of a C++ run. Both rules here are instead
applied *lazily and exactly*: every neuron counts its sleep steps in ``sleep_clock`` (the number
of ``dt_ref`` steps spent asleep so far), every synapse remembers the count at its last update in
``last_sleep``, and the accumulated decay of the ``n = sleep_clock - last_sleep`` steps since then
is applied in one go right before the synapse is used (a spike) or read (a weight snapshot).
Between two events only the decay acts on a weight, and ``n`` steps of either rule compose into
one step of the same rule with ``lam ** n``, so this equals the step-by-step process:

- power law: ``|w| <- w_tar (|w|/w_tar)^(lam^n)``, exactly;
- stochastic (exact Ornstein-Uhlenbeck in ``x = log(w/w_base)``): ``x <- lam^n x + sigma_log
  sqrt(1 - lam^(2n)) N(0, 1)``, equal in distribution (clipping to the bounds happens at the
  update, not at every step).

Clipping is a statement of its own: brian2 2.5.4's Cython target silently skipped the whole
``on_pre`` block when ``clip()`` wrapped the power expression (checked; 2.9 is fine).

The strings use ``SLEEP_CLOCK``; :func:`for_side` names the neuron whose clock a pathway reads
(``sleep_clock_post`` in ``on_pre``, ``sleep_clock_pre`` in ``on_post``: the clocks of all groups
are equal, and GeNN only allows these directions).
"""

#: The paper's deterministic power law toward ``w_tar`` (same sign as w), for the ``n`` sleep
#: steps since this synapse's last update: |w| <- |w_tar| (|w| / |w_tar|) ** (lam ** n).
#: It holds for both signs, since w / w_tar > 0. Written as ``w * (w / w_tar) ** (e - 1)``
#: (equal to ``w_tar * (w / w_tar) ** e``) because during wake n = 0 at every event: both powers
#: then have exponent 0, which libm answers on its special-case path and which leaves w exactly
#: unchanged; this cut a C++ run of the paper job by ~20 % (docs/benchmarks.md).
POWER_LAW_DECAY = """
decay_exponent = lam ** (SLEEP_CLOCK - last_sleep)
w = w * (w / w_tar) ** (decay_exponent - 1)
w = clip(w, w_lo, w_hi)
last_sleep = SLEEP_CLOCK
"""

#: Stochastic relaxation toward the homeostatic baseline ``w_base``: an exact Ornstein-Uhlenbeck
#: step in x = log(w / w_base) over the ``n`` sleep steps since the last update,
#:     x <- lam**n * x + sigma_log * sqrt(1 - lam**(2 n)) * N(0, 1),
#: so E[x] = lam**n x_0 and Var[x] = sigma_log**2 (1 - lam**(2 n)) after n steps from x_0.
#: Its deterministic part is the paper's power law (toward w_base instead of w_tar). As above,
#: ``w * exp(x (e - 1) + ...)`` equals ``w_base * exp(x e + ...)`` and leaves w exactly unchanged
#: at a wake event (n = 0).
STOCHASTIC_DECAY = """
decay_exponent = lam ** (SLEEP_CLOCK - last_sleep)
w = w * exp(log(w / w_base) * (decay_exponent - 1) + sigma_log * sqrt(1 - decay_exponent ** 2) * randn())
w = clip(w, w_lo, w_hi)
last_sleep = SLEEP_CLOCK
"""


def for_side(code: str, side: str) -> str:
    """Return ``code`` reading the sleep clock of the ``'pre'`` or ``'post'`` neuron."""
    if side not in ("pre", "post"):
        raise ValueError(f"side must be 'pre' or 'post', not {side!r}")
    return code.replace("SLEEP_CLOCK", f"sleep_clock_{side}")
