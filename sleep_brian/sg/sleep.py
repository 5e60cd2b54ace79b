"""Sleep for the SG-SNN: zero input, membrane noise, trace STDP, and the Brian2 model's decay.

The decay rules are those of :mod:`sleep_brian.equations.homeostasis`, written for tensors of
mixed sign (each weight relaxes toward the target of its own sign) and driven by the same
:class:`~sleep_brian.params.SleepParams`. ``n`` steps of either rule compose into one step
with ``lam ** n``, exactly as in the Brian2 code:

- power law: ``|w| <- |w_tar| (|w| / |w_tar|) ** (lam ** n)``, sign kept;
- stochastic: ``x = log(|w| / b)`` with ``x <- lam**n x + sigma_log sqrt(1 - lam**(2n)) N(0, 1)``.

tests/test_sg.py checks both against the Brian2 strings on the same weights.
"""

from __future__ import annotations

import math

import torch

from sleep_brian.params import SleepParams
from sleep_brian.sg.network import SGNetwork
from sleep_brian.sg.params import SGSleepParams

__all__ = ["layer_scales", "decay_", "sleep_episode", "stdp_update", "add_spikes"]


def layer_scales(net: SGNetwork) -> dict[str, float]:
    """Each weight matrix's initial mean |w| (call before training): the unit of the matched
    strength's targets and STDP rate, and the stochastic rule's baseline ``'initial'``."""
    return {name: float(w.detach().abs().mean()) for name, w in net.weight_layers().items()}


def decay_(w: torch.Tensor, decay: SleepParams, n_steps: float, *, unit: float = 1.0,
           initial_abs_mean: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``n_steps`` steps of ``decay`` to the weights ``w`` in place (and return them).

    Parameters
    ----------
    w : tensor
        Weights of either sign; 0 stays 0 under both rules.
    decay : SleepParams
        ``rule``, ``lam``, ``w_tar_exc``/``w_tar_inh`` (targets of positive/negative weights,
        multiplied by ``unit``), ``sigma_log`` and ``baseline``.
    n_steps : float
        Number of steps (0 leaves ``w`` unchanged).
    unit : float
        The layer's weight unit (1, or its initial mean |w| for the matched strength).
    initial_abs_mean : float, optional
        The stochastic rule's baseline when ``decay.baseline == 'initial'``.
    generator : torch.Generator, optional
        Source of the stochastic rule's noise.
    """
    if n_steps == 0:
        return w
    e = decay.lam**n_steps
    if decay.rule == "power":
        # (scalars through torch.where would be float32: build the targets in w's dtype)
        tar = torch.where(w >= 0, torch.full_like(w, decay.w_tar_exc * unit), torch.full_like(w, decay.w_tar_inh * unit))
        # w_tar * (w / w_tar) ** e holds for both signs (w / w_tar >= 0), as in POWER_LAW_DECAY.
        w.copy_(tar * (w / tar) ** e)
        return w
    if decay.baseline == "initial":
        if initial_abs_mean is None:
            raise ValueError("the stochastic rule with baseline 'initial' needs the layer's initial mean |w|")
        base = initial_abs_mean
    else:
        base = abs(decay.w_tar_exc) * unit
    noise = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
    x = torch.log(w.abs() / base) * e + decay.sigma_log * math.sqrt(max(0.0, 1 - e**2)) * noise
    # a zero weight has no sign to keep and stays zero (log 0 * e would be NaN for e = 0)
    w.copy_(torch.where(w == 0, torch.zeros_like(w), torch.sign(w) * base * torch.exp(x)))
    return w


@torch.no_grad()
def sleep_episode(net: SGNetwork, sp: SGSleepParams, scales: dict[str, float], *,
                  generator: torch.Generator | None = None, batch: int = 1) -> dict:
    """One sleep episode on ``net`` (weights changed in place); returns spike counts.

    Per step: hidden and output membranes leak, receive their bias (the input is zero), the
    recurrent and hidden->output currents and noise; spikes reset by subtraction; the traces
    decay; STDP changes the weights from the traces (earlier spikes); the traces take this
    step's spikes; with ``decay_every='step'`` every weight that STDP changes then decays by
    one step (the input weights, which STDP leaves alone in sleep, get the whole episode's decay
    at once at its end: the same result). With ``'episode'`` the
    decay of the whole episode is applied once at its end (the paper's SG script). Zero steps
    change nothing.
    """
    p = net.p
    if sp.steps == 0:
        return {"hidden_spikes": 0, "output_spikes": 0}
    layers = net.weight_layers()
    dev, dtype = net.fc1.weight.device, net.fc1.weight.dtype
    zeros_in = torch.zeros(batch, p.n_input, device=dev, dtype=dtype)
    cur1 = net.fc1(zeros_in)  # the bias only
    v1 = torch.zeros(batch, p.n_hidden, device=dev, dtype=dtype)
    v2 = torch.zeros(batch, p.n_output, device=dev, dtype=dtype)
    s1, s2 = torch.zeros_like(v1), torch.zeros_like(v2)
    # traces: presynaptic (hidden spikes feed hidden->output and hidden->hidden) and postsynaptic
    x1, y1, y2 = torch.zeros_like(v1), torch.zeros_like(v1), torch.zeros_like(v2)
    d_plus, d_minus = math.exp(-1 / sp.tau_plus), math.exp(-1 / sp.tau_minus)
    unit = {name: scales[name] if sp.scale_by_layer else 1.0 for name in layers}
    rate = {name: sp.eta * unit[name] for name in layers}

    def decay_layer(name: str, n_steps: int) -> None:
        decay_(layers[name], sp.decay, n_steps, unit=unit[name], initial_abs_mean=scales[name], generator=generator)

    plastic = [name for name in layers if name != "input_hidden"]  # STDP needs presynaptic spikes
    n1 = n2 = 0
    for _ in range(sp.steps):
        drive = cur1 if net.rec is None else cur1 + net.rec(s1)
        noise1 = torch.randn(v1.shape, generator=generator, device=dev, dtype=dtype)
        v1 = p.beta * v1 + drive + sp.noise_sd * noise1 - s1 * p.threshold
        new1 = (v1 > p.threshold).to(dtype)
        noise2 = torch.randn(v2.shape, generator=generator, device=dev, dtype=dtype)
        v2 = p.beta * v2 + net.fc2(new1) + sp.noise_sd * noise2 - s2 * p.threshold
        new2 = (v2 > p.threshold).to(dtype)
        # Traces first decay by one step, so a pair dt steps apart is weighted exp(-dt / tau);
        # they still hold only earlier spikes when the weights change (same-step pairs: none).
        x1, y1, y2 = x1 * d_plus, y1 * d_minus, y2 * d_minus
        w2 = layers["hidden_output"]
        stdp_update(w2, new1, new2, x1, y2, rate["hidden_output"], sp.a_plus, sp.a_minus)
        if net.rec is not None:
            wr = layers["hidden_hidden"]
            stdp_update(wr, new1, new1, x1, y1, rate["hidden_hidden"], sp.a_plus, sp.a_minus)
            wr.fill_diagonal_(0.0)
        x1, y1, y2 = add_spikes(x1, new1, sp.trace), add_spikes(y1, new1, sp.trace), add_spikes(y2, new2, sp.trace)
        s1, s2 = new1, new2
        n1 += int(new1.sum())
        n2 += int(new2.sum())
        if sp.decay_every == "step":
            for name in plastic:
                decay_layer(name, 1)
    # The input weights see no STDP in sleep (the input is zero), so their per-step decay over
    # the episode composes exactly into one step with lam ** steps (as the Brian2 model's
    # event-driven catch-up; in distribution for the stochastic rule): one pass, not `steps`.
    once = {"episode": 1, "step": sp.steps}[sp.decay_every]
    for name in layers:
        if sp.decay_every == "episode" or name not in plastic:
            decay_layer(name, once)
    return {"hidden_spikes": n1, "output_spikes": n2}


def stdp_update(w: torch.Tensor, pre: torch.Tensor, post: torch.Tensor, x_pre: torch.Tensor, y_post: torch.Tensor,
                rate: float, a_plus: float, a_minus: float) -> None:
    """One step of trace STDP on ``w`` (post x pre), in place, averaged over the batch.

    A postsynaptic spike adds ``rate a_plus x_pre`` (pre before post potentiates), a presynaptic
    spike subtracts ``rate a_minus y_post`` (post before pre depresses). ``pre``/``post`` are this
    step's spikes (batch, n), ``x_pre``/``y_post`` the traces of earlier spikes.
    """
    batch = pre.shape[0]
    w += rate * (a_plus * post.T @ x_pre - a_minus * y_post.T @ pre) / batch


def add_spikes(trace: torch.Tensor, spikes: torch.Tensor, mode: str) -> torch.Tensor:
    """A trace after this step's spikes: +1 per spike (``'all'`` pairs) or set to 1 (``'nearest'``)."""
    if mode == "nearest":
        return torch.where(spikes > 0, torch.ones_like(trace), trace)
    return trace + spikes
