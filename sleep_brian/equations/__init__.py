"""Brian2 string models: neurons, synapses (STDP rules) and homeostasis (sleep decay, noise).

Only strings live here. Models compose them by substitution and by the namespace they pass to
Brian2; they never rewrite them. Each constant documents every variable and its unit.
"""

from sleep_brian.equations.homeostasis import (
    POWER_LAW_DECAY,
    STOCHASTIC_DECAY,
    for_side,
)
from sleep_brian.equations.neurons import (
    INPUT_BERNOULLI,
    INPUT_STIMULUS_UPDATE,
    LIF_ADAPTIVE,
    LIF_RESET,
    LIF_THRESHOLD,
    REGIME_UPDATE,
    SLEEP_CLOCK_TICK,
)
from sleep_brian.equations.synapses import STDP_MODEL, STDP_ON_POST, STDP_ON_PRE, STDP_TRACES, stdp_constants

__all__ = [
    "LIF_ADAPTIVE",
    "LIF_THRESHOLD",
    "LIF_RESET",
    "REGIME_UPDATE",
    "SLEEP_CLOCK_TICK",
    "INPUT_BERNOULLI",
    "INPUT_STIMULUS_UPDATE",
    "STDP_MODEL",
    "STDP_ON_PRE",
    "STDP_ON_POST",
    "STDP_TRACES",
    "stdp_constants",
    "POWER_LAW_DECAY",
    "STOCHASTIC_DECAY",
    "for_side",
]
