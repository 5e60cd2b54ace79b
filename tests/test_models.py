"""Model presets: the authors' preset reproduces the STDP changes measured on their code."""

import numpy as np
import pytest

import models
from sleep_brian.equations import stdp_constants
from sleep_brian.errors import ConfigError


def _pair_dw(stdp, delta_t_ms, inhibitory=False):
    """Weight change of one pre/post pairing, from the constants the synapse strings use.

    (The simulated window is checked against the same table in test_equations.py.)
    """
    c = stdp_constants(stdp, inhibitory_pre=inhibitory)
    if delta_t_ms > 0:  # pre then post: applied on the post spike, with the pre trace
        return c["eta"] * c["sgn"] * c["amp_on_post"] * np.exp(-delta_t_ms / float(c["tau_xpre"] / 1e-3))
    return c["eta"] * c["sgn"] * c["amp_on_pre"] * np.exp(delta_t_ms / float(c["tau_xpost"] / 1e-3))


def test_authors_preset_matches_their_measured_changes():
    # PAPER.md, defect 1: pre 5 ms before post gives -4.1e-4, pre 5 ms after post +4.9e-4
    # (their code's 1-step counter offset makes the latter 8e-4 exp(-4.9/10); we use 5 ms exactly).
    stdp = models.get_model("authors").stdp
    assert _pair_dw(stdp, +5) == pytest.approx(-4.1e-4, abs=0.01e-4)
    assert _pair_dw(stdp, -5) == pytest.approx(+4.85e-4, abs=0.01e-4)


def test_paper_preset_is_causal():
    stdp = models.get_model("paper").stdp
    assert _pair_dw(stdp, +5) > 0 > _pair_dw(stdp, -5)
    assert _pair_dw(stdp, +5, inhibitory=True) < 0  # inhibitory: |w| grows, w more negative


def test_unknown_model():
    with pytest.raises(ConfigError, match="paper"):
        models.get_model("nope")


def test_authors_schedule_quirks():
    s = models.authors_schedule()
    assert s.repeat_batch == 300 and float(s.sleep_cap) == 10.0 and float(s.presentation) == 1.0
