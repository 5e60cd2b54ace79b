"""The STDP-SNN of Massey et al. 2026 (arXiv:2601.08447), "Sleep-based homeostatic regularization
for stabilizing spike-timing-dependent plasticity in recurrent spiking neural networks".

225 Bernoulli inputs (15 x 15 images) -> 200 excitatory and 50 inhibitory current-based LIF
neurons with adaptive thresholds; four plastic pathways (input->E p=0.10 w=0.15, E->E 0.15/0.30
without self-connections, E->I 0.20/0.40, I->E 0.25/-0.50 minus reciprocal pairs); nearest-spike
STDP with hard bounds; after every 35 s of wake, a sleep of r x 35 s with input off, membrane
noise on, STDP on and a power-law decay of every weight toward +-0.01. All numbers are the
defaults of :mod:`sleep_brian.params`; see PAPER.md for their sources.

The ``authors`` preset reproduces the authors' published code, quirk by quirk:

1. ``stdp.rule='authors'``: the time difference is reversed (anti-causal STDP).
   ``a_plus = a_minus = 1``: their rule never multiplies by A+ / A- (read from their code:
   dw = 8e-4 exp(-|dt|/tau)), which is why their measured changes are 4.1e-4 and 4.9e-4.
2. ``repeat_batch=300``: every training batch re-uses the same first 300 images.
4. ``sleep_cap=10 s``: every sleep is at most 10,000 steps, so fractions >= ~0.29 act alike.

Presentation time is 1000 ms in both (the authors' published run; measured on digits, shorter
presentations read out worse: see README).
"""

from __future__ import annotations

import brian2 as b2

from sleep_brian.errors import ConfigError
from sleep_brian.params import ModelParams, ScheduleParams, STDPParams

__all__ = [
    "paper_model",
    "authors_model",
    "authors_schedule",
    "get_model",
    "get_schedule",
    "get_variant",
    "MODELS",
    "VARIANTS",
]


def paper_model(**overrides) -> ModelParams:
    """The corrected paper model (defaults of :class:`ModelParams`), with ``overrides`` applied."""
    return ModelParams(**overrides)


def authors_model(**overrides) -> ModelParams:
    """The model as the authors' code runs it (quirk 1: anti-causal STDP without A+/A-)."""
    stdp = STDPParams(rule="authors", a_plus=1.0, a_minus=1.0)
    return ModelParams(**{"stdp": stdp, **overrides})


def authors_schedule(**overrides) -> ScheduleParams:
    """The authors' schedule: 1000 ms per image, 300 images repeated, sleep capped at 10 s."""
    base = dict(presentation=1000 * b2.ms, repeat_batch=300, sleep_cap=10 * b2.second)
    return ScheduleParams(**{**base, **overrides})


MODELS = {"paper": paper_model, "authors": authors_model}
SCHEDULES = {"paper": ScheduleParams, "authors": authors_schedule}


def get_schedule(name: str, **overrides) -> ScheduleParams:
    """The schedule that goes with a model preset."""
    if name not in SCHEDULES:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(SCHEDULES)}.")
    return SCHEDULES[name](**overrides)


def get_model(name: str, **overrides) -> ModelParams:
    """A model preset by name (``'paper'`` or ``'authors'``)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.") from None
    return factory(**overrides)


#: Model variants compared in sweeps: name -> (preset, sleep rule, sleep cap on?). The STDP rule
#: (causal vs the authors') comes with the preset.
VARIANTS = {
    "paper": ("paper", "power", False),
    "paper-stochastic": ("paper", "stochastic", False),
    "authors": ("authors", "power", True),
    "authors-nocap": ("authors", "power", False),
    "authors-stochastic": ("authors", "stochastic", True),
}


def get_variant(name: str, **schedule_overrides) -> tuple[str, ModelParams, ScheduleParams]:
    """``(preset name, parameters, schedule)`` of a sweep variant (see :data:`VARIANTS`)."""
    if name not in VARIANTS:
        raise ConfigError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}.")
    preset, rule, cap = VARIANTS[name]
    params = get_model(preset)
    params = params.replace(sleep=params.sleep.replace(rule=rule))
    schedule = get_schedule(preset).with_overrides(**schedule_overrides)
    if not cap and schedule.sleep_cap is not None:
        schedule = schedule.replace(sleep_cap=None)
    return preset, params, schedule
