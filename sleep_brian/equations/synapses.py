"""STDP synapse models (Brian2 strings).

Nearest-spike pair STDP with exponential windows and hard bounds. Each synapse keeps two traces
that are *reset to 1* (not incremented) at a spike, so a pairing always uses the nearest earlier
spike of the partner. The same three strings implement both the causal rule and the authors'
anti-causal variant; :func:`stdp_constants` fills in which window and amplitude belong to which
side:

=============  =========================  =========================
rule           pre then post (dt > 0)     post then pre (dt < 0)
=============  =========================  =========================
causal         +eta A+ exp(-dt / tau+)    -eta A- exp(dt / tau-)
authors        -eta A- exp(-dt / tau-)    +eta A+ exp(dt / tau+)
=============  =========================  =========================

For inhibitory presynapses every change is multiplied by ``sgn = -1``: STDP acts on |w| (w < 0).
"""

#: Synapse state.
#:
#: - ``w`` (1): weight, dimensionless (paper's units), kept in [w_lo, w_hi].
#: (With a sleep rule, the builder adds ``last_sleep`` (1): the sleep clock at this synapse's
#: last decay update; see homeostasis.)
#: - ``xpre`` (1): presynaptic trace, 1 at a presynaptic spike, decays with ``tau_xpre``.
#: - ``xpost`` (1): postsynaptic trace, 1 at a postsynaptic spike, decays with ``tau_xpost``.
STDP_MODEL = """
w : 1
dxpre/dt = -xpre / tau_xpre : 1 (event-driven)
dxpost/dt = -xpost / tau_xpost : 1 (event-driven)
"""

#: (The sleep decay owed since the last update is prepended to both strings by the network
#: builder, so the weight used here is up to date.)
#:
#: On a presynaptic spike: deliver the current, pair with the last postsynaptic spike (``xpost``),
#: then mark this spike. Plasticity is gated by the postsynaptic ``plastic`` flag.
STDP_ON_PRE = """
I_syn_post += w * q_syn
w = clip(w + plastic_post * eta * sgn * amp_on_pre * xpost, w_lo, w_hi)
xpre = 1
"""

#: On a postsynaptic spike: pair with the last presynaptic spike (``xpre``), then mark this one.
#: Gated by the presynaptic ``plastic`` flag (same value as the postsynaptic one at all times).
STDP_ON_POST = """
w = clip(w + plastic_pre * eta * sgn * amp_on_post * xpre, w_lo, w_hi)
xpost = 1
"""


def stdp_constants(stdp) -> dict:
    """Namespace entries for the STDP strings, from :class:`~sleep_brian.params.STDPParams`.

    Returns ``tau_xpre``, ``tau_xpost``, ``amp_on_pre``, ``amp_on_post`` (signed) and ``eta``;
    the builder adds ``sgn``, ``w_lo`` and ``w_hi`` from the pathway.
    """
    if stdp.rule == "causal":
        tau_xpre, amp_on_post = stdp.tau_plus, +stdp.a_plus
        tau_xpost, amp_on_pre = stdp.tau_minus, -stdp.a_minus
    else:  # authors: the time difference reversed
        tau_xpre, amp_on_post = stdp.tau_minus, -stdp.a_minus
        tau_xpost, amp_on_pre = stdp.tau_plus, +stdp.a_plus
    return dict(tau_xpre=tau_xpre, tau_xpost=tau_xpost, amp_on_pre=amp_on_pre, amp_on_post=amp_on_post, eta=stdp.eta)


# ---- the same rule with the traces kept by the neurons -------------------------------------------
#
# A trace that is *set* to 1 at a spike and decays in between is exp(-(t - t_spike) / tau) of the
# neuron's last spike: the same for every synapse of that neuron, so the neuron can keep it (as a
# spike time) instead of every synapse keeping a copy (and the time of its last update). A
# synapse then holds only ``w``, and an event reads one neuron value instead of reading and
# writing three synapse values (xpre, xpost, lastupdate): at 6,400 neurons, three cache misses
# fewer per postsynaptic event.
#
# Which spike is "last" must be the one the per-synapse rule pairs with. Brian2 runs on_pre
# before on_post within a step, so for a pre and a post spike in the same step the per-synapse
# rule pairs on_pre with the *previous* post spike (xpost is reset later, in on_post) and on_post
# with *this* pre spike (xpre was just set to 1). Hence two times per neuron:
#
# - ``t_last_post`` in on_pre: the postsynaptic neuron's last spike before this step, set by its
#   reset (which runs after the synapses): :data:`~sleep_brian.equations.neurons.LIF_SPIKE_TIME`;
# - ``lastspike_pre`` in on_post: Brian2's own spike time, set at the threshold (before the
#   synapses), so it includes this step's spike (it exists when the group declares a refractory
#   period; 0 ms changes no spike).
#
# Numbers: with no event of the synapse in between, the per-synapse trace is 1 * exp(-(t -
# t_spike) / tau), the same expression, so the same bits. With k events in between (e.g. several
# presynaptic spikes between two postsynaptic ones), the per-synapse trace is a product of k + 1
# rounded exponentials of the pieces of that interval, the per-neuron trace one exponential of
# the whole: both within ~(k + 1) roundings of the exact value, a relative difference of a few
# 1e-16 per trace, which reaches a weight only through eta * A * x (<= 4e-4 * x), mostly below
# one rounding of w (tests/test_cheap_events.py measures it). The GeNN directions hold: on_pre
# reads only postsynaptic, on_post only presynaptic neuron variables.

#: Synapse state with per-neuron traces: the weight only.
STDP_NEURON_TRACES_MODEL = """
w : 1
"""

#: On a presynaptic spike: deliver, then pair with the postsynaptic neuron's last spike before
#: this step (``xpost`` is a temporary here: the postsynaptic trace, from the neuron's spike time).
STDP_NEURON_TRACES_ON_PRE = """
I_syn_post += w * q_syn
xpost = exp(-(t - t_last_post) / tau_xpost)
w = clip(w + plastic_post * eta * sgn * amp_on_pre * xpost, w_lo, w_hi)
"""

#: On a postsynaptic spike: pair with the presynaptic neuron's last spike, this step's included.
STDP_NEURON_TRACES_ON_POST = """
xpre = exp(-(t - lastspike_pre) / tau_xpre)
w = clip(w + plastic_pre * eta * sgn * amp_on_post * xpre, w_lo, w_hi)
"""

#: For a presynaptic group that keeps no spike times (the builder's input layer): the
#: presynaptic trace stays on the synapse (``xpre``, event-driven, exactly as in
#: :data:`STDP_MODEL`), the postsynaptic one comes from the neuron.
STDP_POST_NEURON_TRACE_MODEL = """
w : 1
dxpre/dt = -xpre / tau_xpre : 1 (event-driven)
"""

#: (See :data:`STDP_POST_NEURON_TRACE_MODEL`.)
STDP_POST_NEURON_TRACE_ON_PRE = STDP_NEURON_TRACES_ON_PRE + "xpre = 1\n"

#: (See :data:`STDP_POST_NEURON_TRACE_MODEL`.)
STDP_POST_NEURON_TRACE_ON_POST = """
w = clip(w + plastic_pre * eta * sgn * amp_on_post * xpre, w_lo, w_hi)
"""
