"""The surrogate-gradient SNN in PyTorch: leaky integrate-and-fire layers, arctan surrogate.

The hot loop is the ``steps``-step recurrence of :meth:`SGNetwork.forward`. The input current
is constant over an image, so the first layer's matrix product runs once per minibatch, not once
per step; what is left per step is the hidden->output product (and the hidden->hidden one when
``recurrent``) and elementwise updates.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sleep_brian.sg.params import SGParams

__all__ = ["SpikeFn", "spike", "SGNetwork", "rate_loss", "predict"]


class SpikeFn(torch.autograd.Function):
    """Heaviside step forward; arctan surrogate derivative backward (snnTorch's ``atan``)."""

    @staticmethod
    def forward(ctx, x, alpha: float):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # d/dx [arctan(pi alpha x / 2) / pi + 1/2] = (alpha / 2) / (1 + (pi alpha x / 2)^2)
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi * a / 2 * x) ** 2), None


def spike(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """A spike where ``x`` (membrane minus threshold) is positive, with a surrogate gradient."""
    return SpikeFn.apply(x, alpha)


class SGNetwork(nn.Module):
    """``n_input`` -> ``n_hidden`` (optionally recurrent) -> ``n_output`` leaky neurons.

    Weights are ``nn.Linear`` layers with PyTorch's default initialisation, drawn from the
    generator that is active when the module is built (the caller seeds it).
    """

    def __init__(self, p: SGParams):
        super().__init__()
        self.p = p
        self.fc1 = nn.Linear(p.n_input, p.n_hidden)
        self.fc2 = nn.Linear(p.n_hidden, p.n_output)
        self.rec = nn.Linear(p.n_hidden, p.n_hidden, bias=False) if p.recurrent else None
        if self.rec is not None:
            # No self-connections (as E->E in the Brian2 model): a zero diagonal whose gradient
            # is zeroed too, so Adam never moves it (its moments stay 0).
            with torch.no_grad():
                self.rec.weight.fill_diagonal_(0.0)
            self.rec.weight.register_hook(lambda g: g.clone().fill_diagonal_(0.0))

    def weight_layers(self) -> dict[str, torch.Tensor]:
        """The weight matrices (no biases) by layer name, in a fixed order."""
        out = {"input_hidden": self.fc1.weight, "hidden_output": self.fc2.weight}
        if self.rec is not None:
            out["hidden_hidden"] = self.rec.weight
        return out

    def forward(self, x: torch.Tensor, *, steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``steps`` steps of constant input ``x`` (batch, n_input).

        Returns
        -------
        (out_spikes, hidden_counts)
            Output spikes per step (steps, batch, n_output) and hidden spike counts (batch, n_hidden).
        """
        p = self.p
        steps = p.steps if steps is None else steps
        cur1 = self.fc1(x)
        batch = x.shape[0]
        v1 = torch.zeros(batch, p.n_hidden, dtype=x.dtype, device=x.device)
        v2 = torch.zeros(batch, p.n_output, dtype=x.dtype, device=x.device)
        s1 = torch.zeros_like(v1)
        s2 = torch.zeros_like(v2)
        counts = torch.zeros_like(v1)
        out = []
        for _ in range(steps):
            drive = cur1 if self.rec is None else cur1 + self.rec(s1)
            # Reset by subtraction with the previous step's spikes, detached as in snnTorch:
            # the gradient flows through the membrane, not through the reset.
            v1 = p.beta * v1 + drive - s1.detach() * p.threshold
            s1 = spike(v1 - p.threshold, p.surrogate_alpha)
            v2 = p.beta * v2 + self.fc2(s1) - s2.detach() * p.threshold
            s2 = spike(v2 - p.threshold, p.surrogate_alpha)
            out.append(s2)
            counts = counts + s1.detach()
        return torch.stack(out), counts


def rate_loss(out_spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the output spikes of every step, averaged over steps (snnTorch's
    ``ce_rate_loss``): the spikes of a step are the logits."""
    steps = out_spikes.shape[0]
    logits = out_spikes.reshape(-1, out_spikes.shape[-1])
    return nn.functional.cross_entropy(logits, y.repeat(steps))


def predict(out_spikes: torch.Tensor) -> torch.Tensor:
    """The class with the most output spikes (ties: the lowest index)."""
    return out_spikes.sum(0).argmax(1)
