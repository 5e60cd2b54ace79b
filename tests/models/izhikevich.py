"""A user's own model, written only with sleep-brian's public model layer (as a user would, in
their own file): Izhikevich neurons (Izhikevich 2003, IEEE Trans. Neural Netw. 14:1569), regular
spiking excitatory and fast spiking inhibitory, with pair-based STDP on the input pathway.

Run it with ``sleep-brian run --model tests/models/izhikevich.py:build`` or through
``sleep_brian.protocols.wake_sleep.compare(model="tests/models/izhikevich.py:build")``.
"""

import brian2 as b2

from sleep_brian.model import (AllToAll, Bernoulli, InputLayer, Model, NeuronModel, Noise, Pathway, Population,
                               SynapseModel)
from sleep_brian.params import InputParams
from sleep_brian.sleep_rules import stochastic

ms, mV = b2.ms, b2.mV

# Izhikevich's quadratic model in mV and ms; I is a synaptic drive (mV/ms units folded into mV).
IZHIKEVICH = """
dv/dt = (0.04 * v**2 / mV + 5 * v + 140 * mV - u + I) / ms : volt
du/dt = a * (b * v - u) / ms : volt
dI/dt = -I / tau_I : volt
"""


def izhikevich(a, b, c, d):
    return NeuronModel(
        IZHIKEVICH, threshold="v >= 30 * mV", reset="v = c\nu += d",
        params=dict(a=a, b=b, c=c, d=d, tau_I=5 * ms), sleep_noise=Noise("v", 2 * mV),
        initial={"v": -65 * mV, "u": b * -65 * mV}, name="izhikevich",
    )  # fmt: skip


#: Pair STDP with additive traces, gated by the schedule's plasticity flags.
PAIR_STDP = SynapseModel(
    """w : 1
    dapre/dt = -apre / tau_pre : 1 (event-driven)
    dapost/dt = -apost / tau_post : 1 (event-driven)""",
    on_pre="I_post += w * mV\napre += A_pre\nw = clip(w + plastic_post * apost, w_lo, w_hi)",
    on_post="apost += A_post\nw = clip(w + plastic_pre * apre, w_lo, w_hi)",
    params=dict(tau_pre=20 * ms, tau_post=20 * ms, A_pre=0.01, A_post=-0.0105),
    name="pair_stdp",
)
STATIC_EXC = SynapseModel("w : 1", on_pre="I_post += w * mV", name="static")
STATIC_INH = SynapseModel("w : 1", on_pre="I_post += w * mV", name="static_inh")


def build(n_exc: int = 40, n_inh: int = 10) -> Model:
    return Model(
        name="izhikevich",
        inputs=InputLayer("pixels", InputParams(side=8, total_intensity=6.4)),
        populations=[Population("rs", n_exc, izhikevich(0.02, 0.2, -65 * mV, 8 * mV)),
                     Population("fs", n_inh, izhikevich(0.1, 0.2, -65 * mV, 2 * mV))],
        pathways=[
            Pathway("pixels_rs", "pixels", "rs", PAIR_STDP, Bernoulli(0.3), w0=4.0, bounds=(0.01, 10.0)),
            Pathway("rs_fs", "rs", "fs", STATIC_EXC, Bernoulli(0.3), w0=3.0, plastic=False, sleep_rule=None),
            Pathway("fs_rs", "fs", "rs", STATIC_INH, AllToAll(), w0=-2.0, inhibitory=True, plastic=False,
                    sleep_rule=None),
        ],  # fmt: skip
        readout="rs",
        sleep_rule=stochastic(lam=0.9995),
        dt=0.5 * ms,
        description="Izhikevich RS/FS network with pair STDP on the input (a user's model)",
    )
