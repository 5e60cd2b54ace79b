"""The STDP-SNN of Massey et al. 2026 (arXiv:2601.08447), "Sleep-based homeostatic regularization
for stabilizing spike-timing-dependent plasticity in recurrent spiking neural networks",
declared with the public model layer (:mod:`sleep_brian.model`).

225 Bernoulli inputs (15 x 15 images) -> 200 excitatory and 50 inhibitory current-based LIF
neurons with adaptive thresholds; four plastic pathways (input->E p=0.10 w=0.15, E->E 0.15/0.30
without self-connections, E->I 0.20/0.40, I->E 0.25/-0.50 minus reciprocal pairs); nearest-spike
STDP with hard bounds; after every 35 s of wake, a sleep of r x 35 s with input off, membrane
noise on, STDP on and a decay of every weight: the paper's power law toward +-0.01, or our
stochastic rule toward the initial weights. Every number is a field of :class:`PaperParams`
below, beside the declaration that uses it; the docs' model page gives their sources.

The ``authors`` model reproduces the authors' published code, quirk by quirk, as declared options:

1. ``stdp.rule='authors'``: the time difference is reversed (anti-causal STDP).
   ``a_plus = a_minus = 1``: their rule never multiplies by A+ / A- (read from their code:
   dw = 8e-4 exp(-|dt|/tau)), which is why their measured changes are 4.1e-4 and 4.9e-4.
2. ``repeat_batch=300``: every training batch re-uses the same first 300 images.
4. ``sleep_cap=10 s``: every sleep is at most 10,000 steps, so fractions >= ~0.29 act alike.

and their sleep's early end (not a defect; :func:`authors_exit`): a sleep stops once both
group sums of |w| are within 1e-3 of their values at the start of training.

Presentation time is 1000 ms in both (the authors' published run; measured on digits, shorter
presentations read out worse).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import brian2 as b2
from brian2.utils.stringtools import word_substitute

from sleep_brian import equations as eq
from sleep_brian import sleep_rules
from sleep_brian.errors import ConfigError
from sleep_brian.model import (Bernoulli, InputLayer, Model, NeuronModel, NeuronTrace, Noise, Pathway, Population,
                               SleepExit, SynapseModel)
from sleep_brian.params import InputParams, ScheduleParams, SleepParams, STDPParams, _positive, _Validated, qty

__all__ = [
    "NeuronParams",
    "PathwayParams",
    "ConnectivityParams",
    "PaperParams",
    "PATHWAYS",
    "lif_neuron",
    "stdp_synapse",
    "declare",
    "paper",
    "paper_stochastic",
    "authors",
    "authors_params",
    "authors_schedule",
    "authors_exit",
]

#: The four plastic pathways of the paper's network, in the order their connections are drawn.
PATHWAYS = ("input_e", "e_e", "e_i", "i_e")


@dataclass(frozen=True)
class NeuronParams(_Validated):
    """Current-based LIF with adaptive threshold (paper: Euler, dt = 1 ms)."""

    tau_m: b2.Quantity = qty(30 * b2.ms, "ms", doc="membrane time constant")
    tau_syn: b2.Quantity = qty(30 * b2.ms, "ms", doc="synaptic current time constant")
    R: b2.Quantity = qty(30 * b2.mV, "mV", doc="voltage per unit of (dimensionless) synaptic current")
    v_rest: b2.Quantity = qty(-70 * b2.mV, "mV")
    v_reset: b2.Quantity = qty(-80 * b2.mV, "mV")
    v_min: b2.Quantity = qty(-100 * b2.mV, "mV", doc="membrane potential is clipped to [v_min, v_max]")
    v_max: b2.Quantity = qty(40 * b2.mV, "mV")
    v_th0: b2.Quantity = qty(-55 * b2.mV, "mV", doc="threshold without adaptation")
    th_min: b2.Quantity = qty(-90 * b2.mV, "mV", doc="threshold v_th0 + a is clipped to [th_min, th_max]")
    th_max: b2.Quantity = qty(0 * b2.mV, "mV")
    tau_a: b2.Quantity = qty(100 * b2.ms, "ms", doc="decay time of threshold adaptation")
    delta_a: b2.Quantity = qty(3 * b2.mV, "mV", doc="threshold increment per spike")
    noise_sd: b2.Quantity = qty(2 * b2.mV, "mV", doc="membrane noise sd per noise_dt_ref during sleep")
    noise_dt_ref: b2.Quantity = qty(1 * b2.ms, "ms", doc="time step to which noise_sd refers")
    syn_dt_ref: b2.Quantity = qty(
        1 * b2.ms, "ms", doc="a spike of weight w adds w * syn_dt_ref / tau_syn to I (the paper's per-step sum)"
    )

    def _validate(self) -> None:
        _positive(self, "tau_m", "tau_syn", "tau_a", "noise_dt_ref", "syn_dt_ref")
        if not self.v_min < self.v_max:
            raise ConfigError(f"NeuronParams: v_min {self.v_min} must be below v_max {self.v_max}.")
        if not self.th_min < self.th_max:
            raise ConfigError(f"NeuronParams: th_min {self.th_min} must be below th_max {self.th_max}.")
        if float(self.noise_sd) < 0:
            raise ConfigError(f"NeuronParams.noise_sd = {self.noise_sd} must be >= 0.")


@dataclass(frozen=True)
class PathwayParams(_Validated):
    """One synaptic pathway: connection probability and initial weight (dimensionless)."""

    p: float
    w0: float

    def _validate(self) -> None:
        if not 0 <= self.p <= 1:
            raise ConfigError(f"PathwayParams.p = {self.p!r} is a probability and must lie in [0, 1].")


@dataclass(frozen=True)
class ConnectivityParams(_Validated):
    """Sizes and the connection rule of the paper's network."""

    n_input: int = 225
    n_exc: int = 200
    n_inh: int = 50
    input_e: PathwayParams = field(default_factory=lambda: PathwayParams(0.10, 0.15))
    e_e: PathwayParams = field(default_factory=lambda: PathwayParams(0.15, 0.30))
    e_i: PathwayParams = field(default_factory=lambda: PathwayParams(0.20, 0.40))
    i_e: PathwayParams = field(default_factory=lambda: PathwayParams(0.25, -0.50))
    remove_reciprocal_ie: bool = True  # an I->E synapse is removed where E->I exists (paper)

    def _validate(self) -> None:
        for n in ("n_input", "n_exc", "n_inh"):
            v = getattr(self, n)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"ConnectivityParams.{n} = {v!r} must be a positive integer.")
        for name in PATHWAYS:
            pw = getattr(self, name)
            if isinstance(pw, dict):  # from JSON
                object.__setattr__(self, name, PathwayParams(**pw))
        if self.i_e.w0 > 0 or self.input_e.w0 < 0 or self.e_e.w0 < 0 or self.e_i.w0 < 0:
            raise ConfigError("ConnectivityParams: excitatory w0 must be >= 0 and the inhibitory (i_e) w0 <= 0.")




@dataclass(frozen=True)
class PaperParams(_Validated):
    """Every number of the paper's network: neurons, connectivity, STDP, sleep, input, dt."""

    neuron: NeuronParams = field(default_factory=NeuronParams)
    connectivity: ConnectivityParams = field(default_factory=ConnectivityParams)
    stdp: STDPParams = field(default_factory=STDPParams)
    sleep: SleepParams = field(default_factory=SleepParams)
    input: InputParams = field(default_factory=InputParams)
    dt: b2.Quantity = qty(1 * b2.ms, "ms", doc="simulation time step (paper: 1 ms)")
    method: str = "euler"

    def _validate(self) -> None:
        for f in dataclasses.fields(self):
            want = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            if dataclasses.is_dataclass(want) and not isinstance(getattr(self, f.name), type(want)):
                raise ConfigError(
                    f"PaperParams.{f.name} must be a {type(want).__name__}, got {type(getattr(self, f.name)).__name__}."
                )
        _positive(self, "dt")
        if self.method not in ("euler", "exact", "rk2", "rk4", "heun"):
            raise ConfigError(f"PaperParams.method = {self.method!r}; expected 'euler' (paper) or 'exact'.")
        # (method='exact' with tau_m == tau_syn is solved in its degenerate form: see lif_neuron.)
        if self.input.side**2 != self.connectivity.n_input:
            raise ConfigError(
                f"input side {self.input.side} gives {self.input.side ** 2} inputs but "
                f"connectivity.n_input = {self.connectivity.n_input}; make them agree."
            )




def lif_neuron(params: PaperParams) -> NeuronModel:
    """The paper's current-based LIF neuron with adaptive threshold, noise in sleep, v clipped.

    With ``method='exact'`` and ``tau_syn == tau_m``, Brian2's general solution of the linear
    system divides by ``tau_m - tau_syn`` (NaN from the first step); the equations are then
    written with ``tau_m`` in place of ``tau_syn``, whose exact solution is the degenerate one
    (t exp(-t/tau)).
    """
    n = params.neuron
    equations = eq.LIF_ADAPTIVE
    if params.method == "exact" and n.tau_m == n.tau_syn:
        equations = word_substitute(eq.LIF_ADAPTIVE, {"tau_syn": "tau_m"})
    constants = {k: getattr(n, k) for k in ("tau_m", "tau_syn", "R", "v_rest", "v_reset", "v_min", "v_max",
                                            "v_th0", "th_min", "th_max", "tau_a", "delta_a")}  # fmt: skip
    return NeuronModel(
        equations, threshold=eq.LIF_THRESHOLD, reset=eq.LIF_RESET, params=constants, method=params.method,
        sleep_noise=Noise("v", n.noise_sd, n.noise_dt_ref), clip={"v": ("v_min", "v_max")},
        initial={"v": n.v_rest}, name="lif_adaptive",
    )  # fmt: skip


def stdp_synapse(params: PaperParams) -> SynapseModel:
    """Nearest-spike pair STDP (causal or the authors' reversed rule) delivering current to I_syn."""
    q_syn = float(params.neuron.syn_dt_ref / params.neuron.tau_syn)
    return SynapseModel(
        eq.STDP_MODEL, on_pre=eq.STDP_ON_PRE, on_post=eq.STDP_ON_POST,
        params={**eq.stdp_constants(params.stdp), "q_syn": q_syn}, name=f"stdp_{params.stdp.rule}",
        traces={name: NeuronTrace(side, tau) for name, (side, tau) in eq.STDP_TRACES.items()},
    )  # fmt: skip


def declare(params: PaperParams | None = None, *, name: str = "paper", schedule: ScheduleParams | None = None,
            description: str = "") -> Model:  # fmt: skip
    """The paper's network as a :class:`~sleep_brian.model.Model`, from ``params``."""
    p = params or PaperParams()
    c, s = p.connectivity, p.stdp
    lif, stdp = lif_neuron(p), stdp_synapse(p)
    exc, inh = (s.w_min_exc, s.w_max_exc), (s.w_min_inh, s.w_max_inh)
    reciprocal = "e_i" if c.remove_reciprocal_ie and c.e_i.p > 0 else None
    pathways = [
        Pathway("input_e", "inputs", "exc", stdp, Bernoulli(c.input_e.p), w0=c.input_e.w0, bounds=exc),
        Pathway("e_e", "exc", "exc", stdp, Bernoulli(c.e_e.p, allow_self=False), w0=c.e_e.w0, bounds=exc),
        Pathway("e_i", "exc", "inh", stdp, Bernoulli(c.e_i.p), w0=c.e_i.w0, bounds=exc),
        Pathway("i_e", "inh", "exc", stdp, Bernoulli(c.i_e.p, exclude_reciprocal_of=reciprocal), w0=c.i_e.w0,
                bounds=inh, inhibitory=True),
    ]  # fmt: skip
    # A pathway of probability 0 is left out (a model with no synapses there).
    pathways = [pw for pw in pathways if pw.connect.p > 0]
    return Model(
        name=name,
        inputs=InputLayer("inputs", p.input),
        populations=[Population("exc", c.n_exc, lif), Population("inh", c.n_inh, lif)],
        pathways=pathways,
        readout="exc",
        sleep_rule=sleep_rules.from_params(p.sleep),
        dt=p.dt,
        schedule=schedule,
        description=description or "Massey et al. 2026: 225 inputs -> 200 E + 50 I adaptive LIF, four plastic STDP pathways",
        reference="arXiv:2601.08447",
    )


def _with(params: PaperParams | None, sleep_rule: str | None, stdp: str | None) -> PaperParams:
    p = params or PaperParams()
    if sleep_rule is not None:
        p = p.replace(sleep=p.sleep.replace(rule=sleep_rule))
    if stdp is not None:
        p = p.replace(stdp=p.stdp.replace(rule=stdp))
    return p


def paper(params: PaperParams | None = None, *, sleep_rule: str | None = None, stdp: str | None = None) -> Model:
    """The corrected model with the paper's power-law sleep as specified (it silences the network
    over long training: the weights decay onto the lower bound)."""
    return declare(_with(params, sleep_rule, stdp), name="paper")


def paper_stochastic(params: PaperParams | None = None, *, sleep_rule: str | None = None, stdp: str | None = None) -> Model:
    """The corrected model with the stochastic sleep rule (our default: it learns and stays active)."""
    p = params or PaperParams()
    p = _with(p.replace(sleep=p.sleep.replace(rule="stochastic")), sleep_rule, stdp)
    return declare(p, name="paper-stochastic")


def authors_params(**overrides) -> PaperParams:
    """The parameters as the authors' code runs them (quirk 1: anti-causal STDP without A+/A-)."""
    stdp = STDPParams(rule="authors", a_plus=1.0, a_minus=1.0)
    return PaperParams(**{"stdp": stdp, **overrides})


def authors_schedule(**overrides) -> ScheduleParams:
    """The authors' schedule: 1000 ms per image, 300 images repeated, sleep capped at 10 s."""
    base = dict(presentation=1000 * b2.ms, repeat_batch=300, sleep_cap=10 * b2.second)
    return ScheduleParams(**{**base, **overrides})


def authors_exit(model: Model, **overrides) -> SleepExit:
    """The authors' early end of sleep for ``model`` (their src/train.py and weight_funcs.py):
    the excitatory group sums |w| over every pathway from the input or E neurons, the
    inhibitory one over I -> E; a sleep stops when both are within ``tol = 1e-3`` of
    ``beta = 1`` times their sums at the start of training, checked every sleep step as in
    their loop; a sleep that does not get there gives up (keeps its weights)."""
    groups = {"exc": tuple(pw.name for pw in model.pathways if pw.source in (model.inputs.name, "exc")),
              "inh": tuple(pw.name for pw in model.pathways if pw.source == "inh")}  # fmt: skip
    base = dict(groups={g: pws for g, pws in groups.items() if pws}, tol=1e-3, beta=1.0, on_timeout="give_up",
                check_every=1 * b2.ms)  # fmt: skip
    return SleepExit(**{**base, **overrides})


def authors(params: PaperParams | None = None, *, sleep_rule: str | None = None, stdp: str | None = None,
            cap: bool = True, exit: bool | dict = True, name: str = "authors") -> Model:  # fmt: skip
    """The authors' code: anti-causal STDP without A+/A-, 300 images repeated, sleep capped at 10 s
    (``cap=False``: no cap), their sleep's early end (``exit=False``: none; a dict: its
    :func:`authors_exit` overrides, e.g. ``{"on_timeout": "scale_to_target"}``)."""
    p = _with(params or authors_params(), sleep_rule, stdp)
    schedule = authors_schedule() if cap else authors_schedule(sleep_cap=None)
    model = declare(p, name=name, schedule=schedule,
                    description="Massey et al. 2026 as their code runs it: anti-causal STDP, 300 images repeated"
                    + (", sleep capped at 10 s" if cap else "") + (", early end of sleep" if exit else ""))  # fmt: skip
    if not exit:
        return model
    ended = authors_exit(model, **(exit if isinstance(exit, dict) else {}))
    return model.replace(sleep_rule=dataclasses.replace(model.sleep_rule, exit=ended))
