"""STDP synapse models (Brian2 strings).

Nearest-spike pair STDP with exponential windows and hard bounds. Each side's trace is *reset
to 1* (not incremented) at a spike, so a pairing always uses the nearest earlier spike of the
partner; such a trace is a property of the neuron, not of the synapse, and the strings read it
from the neuron (``xpre_pre``, ``xpost_post``, declared by :data:`STDP_TRACES`; the builder keeps
it once per neuron, or per synapse where it must: :class:`sleep_brian.model.NeuronTrace`). The
same strings implement both the causal rule and the authors' anti-causal variant;
:func:`stdp_constants` fills in which window and amplitude belong to which side:

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
STDP_MODEL = """
w : 1
"""

#: The traces the strings read (name -> (side, time constant)), as the builder takes them
#: (:class:`sleep_brian.model.NeuronTrace`):
#:
#: - ``xpre`` (1): the presynaptic neuron's trace, 1 at its spike, decays with ``tau_xpre``;
#: - ``xpost`` (1): the postsynaptic neuron's trace, 1 at its spike, decays with ``tau_xpost``.
STDP_TRACES = {"xpre": ("pre", "tau_xpre"), "xpost": ("post", "tau_xpost")}

#: (The sleep decay owed since the last update reaches the weight before this code runs, so
#: the weight used here is up to date.)
#:
#: On a presynaptic spike: deliver the current, then pair with the last postsynaptic spike
#: (``xpost_post``). Plasticity is gated by the postsynaptic ``plastic`` flag.
STDP_ON_PRE = """
I_syn_post += w * q_syn
w = clip(w + plastic_post * eta * sgn * amp_on_pre * xpost_post, w_lo, w_hi)
"""

#: On a postsynaptic spike: pair with the last presynaptic spike (``xpre_pre``, 1 if it spiked
#: in this step). Gated by the presynaptic ``plastic`` flag (same value as the postsynaptic one
#: at all times).
STDP_ON_POST = """
w = clip(w + plastic_pre * eta * sgn * amp_on_post * xpre_pre, w_lo, w_hi)
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
