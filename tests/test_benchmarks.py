"""The benchmarks' own arithmetic (never their timings: tests do not assert on wall time)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _common  # noqa: E402
import scaling  # noqa: E402

SOURCES = {"input_e": "n_input", "e_e": "n_exc", "e_i": "n_exc", "i_e": "n_inh"}


@pytest.mark.parametrize("n_exc", [200, 400, 1600, 6400])
def test_scaled_network_keeps_each_neurons_expected_input(n_exc):
    """Expected input per neuron, p * n_source * w0, is the paper's at every size; the weights
    the network starts from (w0 clipped to the STDP bounds) keep it too, except E->E at 6,400,
    whose scaled w0 = 0.3 / 32 = 0.0094 starts at the bound 0.01 (+6.7 %, stated in docs/benchmarks.md)."""
    from sleep_brian.models.paper import declare

    p0, p = scaling.scaled_params(200), scaling.scaled_params(n_exc)
    m0, m = declare(p0), declare(p)
    base, c = p0.connectivity, p.connectivity
    assert (c.n_exc, c.n_inh) == (n_exc, n_exc // 4)
    for pw, src in SOURCES.items():
        a, b = getattr(base, pw), getattr(c, pw)
        assert b.p == a.p
        assert b.p * getattr(c, src) * b.w0 == pytest.approx(a.p * getattr(base, src) * a.w0, rel=1e-12)
        started = b.p * getattr(c, src) * m.pathway(pw).initial_weight() / (
            a.p * getattr(base, src) * m0.pathway(pw).initial_weight()
        )
        expected = 0.01 / (0.3 * 200 / 6400) if (pw, n_exc) == ("e_e", 6400) else 1.0
        assert started == pytest.approx(expected, rel=1e-12), pw


def test_scaling_point_counts_events_from_spikes_and_degrees():
    """A tiny point runs end to end; its event count is spikes times degrees, recomputed here."""
    out = scaling.point("numpy", 40, 1, seed=3)
    assert out["simulated_s"] > 1 and out["simulate_s"] > 0 and out["build_s"] > 0
    assert out["pre_events"] > 0 and out["post_events"] >= 0
    # Input spikes alone deliver (total intensity per ms) * (mean fan-out) events per ms of image:
    # 22.5 spikes/ms * 0.1 * 40 targets = 90/ms, for 3 images of 1 s (training, fit, test); the
    # realised count is within a few % of that (Poisson count of ~67,500 input spikes, random
    # fan-outs), and recurrent events only add to it.
    assert out["pre_events"] > 0.8 * 90 * 3000
    assert out["python_peak_mb"] > 50


def test_memory_bandwidth_is_plausible():
    """A copy of 64 MiB runs at between 0.1 GB/s and 1 TB/s on any machine this runs on."""
    assert 1e8 < _common.memory_bandwidth(mbytes=64, repeats=2) < 1e12


def test_table_formats_numbers_and_markdown():
    text = _common.table(["a", "b"], [[1234, 0.5], [None, True]], markdown=True)
    assert text.splitlines()[0] == "| a | b |"
    assert "| 1,234 | 0.50 |" in text and "| - | yes |" in text
