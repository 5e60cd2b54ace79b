"""Unsupervised learning of digit recognition with STDP (Diehl & Cook 2015), declared with the
public model layer (:mod:`sleep_brian.model`).

Diehl, P. U., & Cook, M. (2015). Unsupervised learning of digit recognition using
spike-timing-dependent plasticity. Frontiers in Computational Neuroscience, 9, 99.
doi:10.3389/fncom.2015.00099

Equations and constants follow Brian2's own port of the model (``examples/frompapers/
Diehl_Cook_2015.py``): Poisson-like inputs (rate = intensity x 63.75 Hz) onto conductance-based
LIF excitatory neurons with an adaptive threshold theta; each excitatory neuron drives its own
inhibitory partner (one-to-one), which inhibits every other excitatory neuron (a soft
winner-take-all). Only input -> E learns, with the trace rule of the paper (pre trace, two post
traces, learning rates nu_pre and nu_post, w_max = 1), and the incoming weights of every
excitatory neuron are rescaled to sum to 78 around every training image.

What the sleep_brian layer adds, as for every model: theta adapts and the weights learn only
while ``plastic`` (wake and sleep, not tests), and during sleep the input is off, the
excitatory membranes get noise and the model's sleep rule acts on the input weights.

Differences from the reference, all forced or chosen for this library's protocol:

- 15 x 15 inputs (the library resizes every dataset), not 28 x 28; the normalisation target stays
  78 (with 3.5x fewer, 3.5x larger pixels the summed drive is about the same);
- the input layer is Bernoulli per time step (probability rate x dt), dt = 0.5 ms as in
  Diehl & Cook's code (the Brian2 port uses 0.1 ms);
- images follow one another without the 150 ms rest, no image is repeated at a higher intensity
  when it evokes fewer than 5 spikes, and input synapses have no random delays (the library's
  schedule and pathways have neither);
- weights are bounded below by ``w_min`` = 1e-4 instead of 0, so that the stochastic sleep rule
  (which works on log w) stays defined.
"""

from __future__ import annotations

import brian2 as b2

from sleep_brian import sleep_rules
from sleep_brian.errors import ConfigError
from sleep_brian.model import (
    AllToAll,
    AllToAllButSame,
    InputLayer,
    Model,
    NeuronModel,
    Noise,
    OneToOne,
    Pathway,
    Population,
    SynapseModel,
    Uniform,
)
from sleep_brian.params import InputParams, ScheduleParams

__all__ = ["excitatory_neuron", "inhibitory_neuron", "stdp_synapse", "static_synapse", "diehl_cook"]

#: Input pixels per side (datasets are resized to side x side).
SIDE = 15

# ---- excitatory neurons: conductance-based LIF with an adaptive threshold -------------------

#: ``timer`` runs at a tenth of real time and spikes need timer > 5 ms, as in Diehl & Cook's
#: code and Brian2's port: in effect an excitatory neuron fires at most once per 50 ms.
#: ``theta`` grows by theta_plus per spike and decays with tc_theta, only while plastic.
#: ``v`` is held during the refractory period by the factor ``int(not_refractory)``: Brian2's
#: ``(unless refractory)`` flag would also gate the builder's per-step sleep-noise code, which
#: Brian2's numpy target cannot generate (an IndexError); the dynamics are the same.
EXC_EQUATIONS = """
dv/dt = int(not_refractory) * (v_rest_e - v + i_exc + i_inh) / tau_e : volt
i_exc = ge * (e_exc - v) : volt
i_inh = gi * (e_inh_e - v) : volt
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
dtheta/dt = -plastic * theta / tc_theta : volt
dtimer/dt = 0.1 : second
"""
EXC_PARAMS = dict(
    v_rest_e=-65 * b2.mV,
    v_reset_e=-65 * b2.mV,
    v_thresh_e=-52 * b2.mV,
    theta_offset=20 * b2.mV,  # the threshold is v_thresh_e + theta - theta_offset
    e_exc=0 * b2.mV,
    e_inh_e=-100 * b2.mV,
    tau_e=100 * b2.ms,
    tau_ge=1 * b2.ms,
    tau_gi=2 * b2.ms,
    tc_theta=1e7 * b2.ms,
    theta_plus=0.05 * b2.mV,
    refrac_e=5 * b2.ms,
)


def excitatory_neuron(noise_sd=1 * b2.mV) -> NeuronModel:
    """Diehl & Cook's excitatory neuron, with membrane noise of ``noise_sd`` per ms in sleep."""
    return NeuronModel(
        EXC_EQUATIONS,
        threshold="v > v_thresh_e + theta - theta_offset and timer > refrac_e",
        reset="v = v_reset_e\ntimer = 0 * ms\ntheta += plastic * theta_plus",
        refractory=EXC_PARAMS["refrac_e"],
        params=EXC_PARAMS,
        method="euler",
        sleep_noise=Noise("v", noise_sd, 1 * b2.ms),
        initial={"v": EXC_PARAMS["v_rest_e"] - 40 * b2.mV, "theta": 20 * b2.mV},
        name="diehl_cook_exc",
    )


# ---- inhibitory neurons: conductance-based LIF ------------------------------------------------

INH_EQUATIONS = """
dv/dt = int(not_refractory) * (v_rest_i - v + i_exc + i_inh) / tau_i : volt
i_exc = ge * (e_exc - v) : volt
i_inh = gi * (e_inh_i - v) : volt
dge/dt = -ge / tau_ge : 1
dgi/dt = -gi / tau_gi : 1
"""
INH_PARAMS = dict(
    v_rest_i=-60 * b2.mV,
    v_reset_i=-45 * b2.mV,
    v_thresh_i=-40 * b2.mV,
    e_exc=0 * b2.mV,
    e_inh_i=-85 * b2.mV,
    tau_i=10 * b2.ms,
    tau_ge=1 * b2.ms,
    tau_gi=2 * b2.ms,
)


def inhibitory_neuron() -> NeuronModel:
    """Diehl & Cook's inhibitory neuron (refractory 2 ms)."""
    return NeuronModel(
        INH_EQUATIONS,
        threshold="v > v_thresh_i",
        reset="v = v_reset_i",
        refractory=2 * b2.ms,
        params=INH_PARAMS,
        method="euler",
        initial={"v": INH_PARAMS["v_rest_i"] - 40 * b2.mV},
        name="diehl_cook_inh",
    )


# ---- synapses -------------------------------------------------------------------------------

#: The trace rule of the paper: a presynaptic spike depresses by nu_pre x post1, a
#: postsynaptic spike potentiates by nu_post x pre x post2 (post2 read before its own update).
STDP_MODEL = """
w : 1
post2before : 1
dpre/dt = -pre / tc_pre : 1 (event-driven)
dpost1/dt = -post1 / tc_post1 : 1 (event-driven)
dpost2/dt = -post2 / tc_post2 : 1 (event-driven)
"""
STDP_ON_PRE = """
ge_post += w
pre = 1.0
w = clip(w - plastic_post * nu_pre * post1, w_lo, w_hi)
"""
STDP_ON_POST = """
post2before = post2
w = clip(w + plastic_pre * nu_post * pre * post2before, w_lo, w_hi)
post1 = 1.0
post2 = 1.0
"""
STDP_PARAMS = dict(tc_pre=20 * b2.ms, tc_post1=20 * b2.ms, tc_post2=40 * b2.ms, nu_pre=0.0001, nu_post=0.01)


def stdp_synapse() -> SynapseModel:
    """Input -> E: conductance ``ge`` and Diehl & Cook's trace STDP, gated by the plasticity flags."""
    return SynapseModel(STDP_MODEL, on_pre=STDP_ON_PRE, on_post=STDP_ON_POST, params=STDP_PARAMS, name="diehl_cook_stdp")


def static_synapse(conductance: str) -> SynapseModel:
    """A fixed weight added to ``conductance`` of the target (``ge`` or ``gi``)."""
    return SynapseModel("w : 1", on_pre=f"{conductance}_post += w", name=f"static_{conductance}")


# ---- the model ------------------------------------------------------------------------------

W_EXC_INH = 10.4  # E -> its own I partner
W_INH_EXC = 17.0  # I -> every other E
W_MIN, W_MAX = 1e-4, 1.0  # input -> E bounds (w_max = 1 as in the paper; see the module docstring for w_min)
W_INIT = Uniform(0.003, 0.303)  # (rand() + 0.01) * 0.3, as in the paper's code and Brian2's port
NORMALIZE = 78.0  # sum of input weights onto every E neuron
INPUT_RATE = 63.75 * b2.Hz  # rate of a pixel of intensity 1 (255 / 8 * 2 Hz)


def diehl_cook(n_neurons: int = 100, *, sleep_rule: str | None = None, noise_sd=1 * b2.mV, name: str = "diehl-cook",
               dt=0.5 * b2.ms) -> Model:  # fmt: skip
    """Diehl & Cook 2015 with ``n_neurons`` excitatory and as many inhibitory neurons.

    ``sleep_rule``: ``'stochastic'`` (default) or ``'power'``. The stochastic rule relaxes log w
    toward ``baseline='target'`` = 78 / 225, the mean input weight the normalisation keeps (the
    random initial weights have mean 0.153, which normalisation moves away from at once), with a
    stationary sd of 0.5 in log w; the power law pulls every weight toward the same mean.
    """
    n_input = SIDE**2
    mean_w = NORMALIZE / n_input
    if sleep_rule in (None, "stochastic"):
        rule = sleep_rules.stochastic(lam=0.99997, sigma_log=0.5, baseline="target", w_tar_exc=mean_w)
    elif sleep_rule == "power":
        rule = sleep_rules.power_law(lam=0.99997, w_tar_exc=mean_w)
    else:
        raise ConfigError(f"model diehl-cook: sleep_rule = {sleep_rule!r}; expected 'stochastic' (default) or 'power'.")
    encoding = InputParams(side=SIDE, gain=float(INPUT_RATE * b2.ms), total_intensity=None, prob_dt_ref=1 * b2.ms)
    pathways = [
        Pathway("input_e", "inputs", "exc", stdp_synapse(), AllToAll(), w_init=W_INIT, bounds=(W_MIN, W_MAX),
                normalize=NORMALIZE),
        Pathway("e_i", "exc", "inh", static_synapse("ge"), OneToOne(), w0=W_EXC_INH, plastic=False, sleep_rule=None),
        Pathway("i_e", "inh", "exc", static_synapse("gi"), AllToAllButSame(), w0=W_INH_EXC, plastic=False,
                sleep_rule=None),
    ]  # fmt: skip
    return Model(
        name=name,
        inputs=InputLayer("inputs", encoding),
        populations=[Population("exc", n_neurons, excitatory_neuron(noise_sd)), Population("inh", n_neurons, inhibitory_neuron())],
        pathways=pathways,
        readout="exc",
        sleep_rule=rule,
        dt=dt,
        schedule=ScheduleParams(presentation=350 * b2.ms),
        description=f"Diehl & Cook 2015: {n_input} inputs -> {n_neurons} E (adaptive theta) + {n_neurons} I, trace STDP, "
        "weights normalised to 78",
        reference="Diehl & Cook 2015, Front. Comput. Neurosci. 9:99, doi:10.3389/fncom.2015.00099",
    )
