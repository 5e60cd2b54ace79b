"""Surrogate-gradient SNN baseline, trained with the same sleep between minibatches.

The paper's second claim is negative: sleep that helps the STDP-SNN gives nothing to a
surrogate-gradient SNN. This subpackage makes that checkable::

    from sleep_brian.sg import SGConfig, run
    result = run(SGConfig(dataset="fashion-mnist", sleep_fraction=0.1, strength="matched", seed=1))
    result.record["accuracy"]["trained"]["accuracy_output"]

or ``sleep-brian run --model sg-snn --sleep 0.1 --sg-strength matched``. PyTorch is an optional
dependency (``pip install 'sleep-brian[sg]'``), imported only when a network is built or
trained; parameters and configurations (:mod:`sleep_brian.sg.params`, :class:`SGConfig`) can be
made and stored without it.
"""

from sleep_brian.sg.config import SG_MODEL, SG_VARIANTS, SGConfig, require_torch
from sleep_brian.sg.params import STRENGTHS, SGParams, SGSleepParams, matched_sleep, paper_sleep, sleep_interval

__all__ = [
    "SG_MODEL",
    "SG_VARIANTS",
    "SGConfig",
    "SGParams",
    "SGSleepParams",
    "STRENGTHS",
    "matched_sleep",
    "paper_sleep",
    "sleep_interval",
    "require_torch",
    "run",
]


def run(config, **kwargs):
    """Train and test ``config`` (see :func:`sleep_brian.sg.experiment.run`)."""
    require_torch()
    from sleep_brian.sg.experiment import run as _run

    return _run(config, **kwargs)
