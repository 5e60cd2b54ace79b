"""Parameters of the surrogate-gradient SNN and of its sleep (no torch needed to read them).

The SG-SNN runs in discrete time steps; a step is dimensionless here. Where the SG-SNN's sleep
is *matched* to the STDP-SNN's (:func:`matched_sleep`), one SG step stands for one step ``dt``
of the Brian2 model (1 ms in the paper), a weight is measured in units of its layer's initial
mean |w| (the Brian2 model's unit is its input->E initial weight ``w0``), and a membrane
potential in units of the distance from rest to threshold (15 mV in the Brian2 model, 1 here).

Defaults are the paper's snnTorch script (docs: the model, "SG-SNN baseline").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sleep_brian.errors import ConfigError
from sleep_brian.params import ScheduleParams, SleepParams, _Validated

__all__ = ["SGParams", "SGSleepParams", "paper_sleep", "matched_sleep", "sleep_interval", "STRENGTHS"]

#: Sleep strengths of the SG-SNN: the paper's (weak) sleep, or one matched to the STDP-SNN's.
STRENGTHS = ("paper", "matched")


def _positive_int(obj, *names) -> None:
    for n in names:
        v = getattr(obj, n)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ConfigError(f"{type(obj).__name__}.{n} = {v!r} must be a positive integer.")


@dataclass(frozen=True)
class SGParams(_Validated):
    """The SG-SNN and its training (the paper's snnTorch network by default).

    ``n_input`` - ``n_hidden`` - ``n_output`` layers of leaky integrate-and-fire neurons
    (``v <- beta v + I - s_prev * threshold``: reset by subtraction, as snnTorch's ``Leaky``),
    a constant input current (the pixel intensities through the first layer, every step),
    ``steps`` time steps per image, cross-entropy on the output spikes of every step
    (snnTorch's ``ce_rate_loss``), Adam. Spikes are a Heaviside step in the forward pass and
    have the arctan surrogate derivative ``1 / (1 + (pi alpha x / 2)^2)`` in the backward pass.
    ``recurrent`` adds hidden->hidden weights (the paper's network is feed-forward).
    """

    n_input: int = 225
    n_hidden: int = 1000
    n_output: int = 10
    beta: float = 0.95
    threshold: float = 1.0
    steps: int = 100
    surrogate_alpha: float = 2.0
    recurrent: bool = False
    lr: float = 5e-4
    batch_size: int = 128
    epochs: int = 10
    eval_batch_size: int = 1000

    def _validate(self) -> None:
        _positive_int(self, "n_input", "n_hidden", "n_output", "steps", "batch_size", "epochs", "eval_batch_size")
        if not 0 <= self.beta < 1:
            raise ConfigError(f"SGParams.beta = {self.beta!r} must lie in [0, 1) (membrane decay per step).")
        for n in ("threshold", "surrogate_alpha", "lr"):
            if not getattr(self, n) > 0:
                raise ConfigError(f"SGParams.{n} = {getattr(self, n)!r} must be > 0.")


@dataclass(frozen=True)
class SGSleepParams(_Validated):
    """One sleep episode of the SG-SNN, run between minibatches.

    ``steps`` steps of zero input (the first layer then delivers only its bias) with Gaussian
    membrane noise of sd ``noise_sd`` (threshold units) per step, trace STDP on every weight
    matrix whose presynaptic neurons spike (hidden->output, and hidden->hidden when recurrent),
    and the weight decay ``decay`` (the same :class:`~sleep_brian.params.SleepParams` as the
    Brian2 model: power law or stochastic) on every weight matrix, applied once per episode
    with ``lam`` (``decay_every='episode'``, the paper's SG script) or every step
    (``'step'``, as the Brian2 model does).

    STDP: traces ``x`` decay by ``exp(-1/tau)`` per step and jump at a spike, by +1
    (``trace='all'``: all pairs) or to 1 (``'nearest'``: nearest spike, as the Brian2 model); a
    postsynaptic spike adds ``eta a_plus x_pre``, a presynaptic one subtracts ``eta a_minus
    x_post``; pairs in the same step do not count.

    Weights keep their sign under the decay: ``w_tar_exc`` is the target of positive weights,
    ``w_tar_inh`` of negative ones. ``decay.baseline = 'initial'`` (stochastic rule) relaxes
    |w| toward the layer's initial mean |w|, ``'target'`` toward |w_tar|.
    ``decay.dt_ref`` is not used: the decay's unit of time is one SG step.
    """

    strength: str = "paper"
    steps: int = 100
    noise_sd: float = 3.0
    a_plus: float = 0.01
    a_minus: float = 0.012
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    eta: float = 1e-3
    trace: str = "all"
    decay: SleepParams = field(default_factory=lambda: SleepParams(rule="power", lam=0.999, w_tar_exc=0.2, w_tar_inh=-0.2))
    decay_every: str = "episode"
    scale_by_layer: bool = False

    def _validate(self) -> None:
        if isinstance(self.decay, dict):  # from JSON
            from sleep_brian.params import from_dict

            object.__setattr__(self, "decay", from_dict(SleepParams, self.decay))
        if not isinstance(self.decay, SleepParams):
            raise ConfigError(f"SGSleepParams.decay must be a SleepParams, got {type(self.decay).__name__}.")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"SGSleepParams.steps = {self.steps!r} must be an integer >= 0 (0: sleep does nothing).")
        if self.strength not in STRENGTHS:
            raise ConfigError(f"SGSleepParams.strength = {self.strength!r}; expected one of {', '.join(STRENGTHS)}.")
        if self.trace not in ("all", "nearest"):
            raise ConfigError(f"SGSleepParams.trace = {self.trace!r}; expected 'all' or 'nearest'.")
        if self.decay_every not in ("episode", "step"):
            raise ConfigError(f"SGSleepParams.decay_every = {self.decay_every!r}; expected 'episode' or 'step'.")
        for n in ("noise_sd", "a_plus", "a_minus", "eta"):
            if getattr(self, n) < 0:
                raise ConfigError(f"SGSleepParams.{n} = {getattr(self, n)!r} must be >= 0.")
        for n in ("tau_plus", "tau_minus"):
            if not getattr(self, n) > 0:
                raise ConfigError(f"SGSleepParams.{n} = {getattr(self, n)!r} must be > 0 (in steps).")


def paper_sleep(rule: str = "power") -> SGSleepParams:
    """The paper's SG sleep: 100 noisy steps, trace STDP, then one power-law map (w_tar 0.2,
    lam 0.999). ``rule='stochastic'`` swaps in the stochastic rule with the same lam, relaxing
    toward |w_tar| (the paper has no stochastic SG sleep; this keeps the strength comparable)."""
    decay = SleepParams(rule=rule, lam=0.999, w_tar_exc=0.2, w_tar_inh=-0.2, baseline="target")
    return SGSleepParams(decay=decay)


def sleep_interval(sleep_fraction: float) -> int:
    """Minibatches per sleep episode: ``floor(1 / p)`` as the paper's SG script (0: never)."""
    if isinstance(sleep_fraction, bool) or not 0 <= sleep_fraction <= 1:
        raise ConfigError(f"sleep_fraction = {sleep_fraction!r} must be a number in [0, 1].")
    if sleep_fraction == 0:
        return 0
    return int(math.floor(1.0 / sleep_fraction + 1e-9))


def matched_sleep(model, schedule: ScheduleParams, sleep_fraction: float, sg: SGParams) -> SGSleepParams:
    """The paper STDP-SNN's sleep (``model``: its :class:`models.paper.PaperParams`), translated to
    the SG-SNN (the ``matched`` strength).

    Equal, in the units of the module docstring:

    - *decay per episode*: an STDP-SNN episode at fraction ``r`` lasts ``r * wake_block`` (capped
      at ``sleep_cap``) and decays by ``lam ** (that many dt steps)``; the SG episode applies
      the same total decay over its ``steps`` (per step: ``lam ** (that / steps)``), with the
      same rule, ``sigma_log`` and baseline; the power law's target is ``w_tar_exc / w0`` of
      each layer's initial mean |w|;
    - *noise*: the stationary sd of the membrane potential under noise alone, relative to the
      rest-to-threshold distance (Brian2: ``noise_sd / sqrt(1 - (1 - dt/tau_m)^2)`` over
      ``v_th0 - v_rest``; SG: ``noise_sd / sqrt(1 - beta^2)`` over ``threshold``);
    - *STDP rate*: the change per spike pair relative to the initial weight (``eta * A``, the
      STDP-SNN's A+ and A-, with ``scale_by_layer``) and the windows in steps (tau / dt), with
      nearest-spike pairing, the STDP-SNN's rule.
    """
    from sleep_brian.models.paper import PaperParams  # the paper network's numbers live with its declaration

    if not isinstance(model, PaperParams) or not isinstance(schedule, ScheduleParams):
        raise ConfigError("matched_sleep needs the paper STDP-SNN's PaperParams and a ScheduleParams.")
    dt = float(model.dt)
    episode_s = sleep_fraction * float(schedule.wake_block)
    if schedule.sleep_cap is not None:
        episode_s = min(episode_s, float(schedule.sleep_cap))
    steps = 100
    brian_steps = episode_s / float(model.sleep.dt_ref)
    lam_step = model.sleep.lam ** (brian_steps / steps) if brian_steps > 0 else 1.0
    w0 = model.connectivity.input_e.w0
    n = model.neuron
    leak = 1 - dt / float(n.tau_m)
    brian_sd = float(n.noise_sd) * math.sqrt(dt / float(n.noise_dt_ref)) / math.sqrt(1 - leak**2)
    ratio = brian_sd / float(n.v_th0 - n.v_rest)
    noise = ratio * sg.threshold * math.sqrt(1 - sg.beta**2)
    decay = model.sleep.replace(
        lam=lam_step, w_tar_exc=model.sleep.w_tar_exc / w0, w_tar_inh=model.sleep.w_tar_inh / w0
    )
    return SGSleepParams(
        strength="matched",
        steps=steps,
        noise_sd=noise,
        a_plus=model.stdp.a_plus,
        a_minus=model.stdp.a_minus,
        tau_plus=float(model.stdp.tau_plus) / dt,
        tau_minus=float(model.stdp.tau_minus) / dt,
        eta=model.stdp.eta / w0,
        trace="nearest",
        decay=decay,
        decay_every="step",
        scale_by_layer=True,
    )
