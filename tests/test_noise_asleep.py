"""Sleep noise drawn for sleeping neurons only equals the noise drawn in every step (network.NOISE_PLACES).

``noise="every_step"`` adds ``sleep * noise_step * randn()`` to every neuron in every step, a
draw that is multiplied by 0 while awake; ``noise="asleep"`` (the default where the lowering
allows) adds ``noise_step * randn()`` to the sleeping neurons only, through a custom event
tested from the schedule right before the step code, which then clips as before.

What must hold:

- Asleep, both draw the same numbers in the same order (one per neuron per step, the groups in
  the same order) and add them the same way, so a run that starts asleep is bit-identical up
  to its first awake step. Awake, only the draws differ, and with binary images no later draw
  decides anything (an input with p = 0 or 1 spikes the same whatever ``rand()`` gives): a
  protocol of sleep then test is bit-identical as a whole, for both sleep rules.
- After an awake step the streams part, so later sleep is another sample of the same process:
  spike counts in sleep agree across seeds (Welch's t below 4; a noise of the wrong size, or
  noise while awake, moves them by many standard errors).
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices
from sleep_brian.errors import ConfigError
from sleep_brian.models.paper import PaperParams, SleepParams, declare
from sleep_brian.network import build_network, draw_connectivity
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms = b2.ms


def _run(model, tl, images, conn, noise, seed, device="numpy", build_root=None):
    with devices.target(device, build_root=build_root) as dev:
        dev.seed(seed)
        built = build_network(model, tl, images, None, connectivity=conn, noise=noise)
        dev.run(built.net, tl.duration)
        spikes = {g: np.stack([np.asarray(m.i[:]), np.asarray(m.t_[:])]) for g, m in built.spikes.items()}
        return spikes, {k: np.asarray(S.w[:]).copy() for k, S in built.synapses.items()}, built


@pytest.mark.parametrize("rule,device", [("power", "numpy"), ("stochastic", "numpy"),
                                         pytest.param("stochastic", "cpp_standalone", marks=pytest.mark.standalone)])  # fmt: skip
def test_noise_asleep_is_bit_identical_where_the_draws_agree(rule, device, tmp_path):
    model = declare(PaperParams(sleep=SleepParams(lam=0.999, rule=rule)))
    tl = lower([Sleep(300 * ms), Test(np.arange(3), 100 * ms)], model.dt)
    images = (np.random.default_rng(0).random((3, 225)) < 0.3).astype(float)
    conn = draw_connectivity(model, np.random.default_rng(1))
    (sa, wa, built), (sb, wb, _) = (_run(model, tl, images, conn, n, 4, device, tmp_path / n)
                                    for n in ("asleep", "every_step"))  # fmt: skip
    assert "asleep" in built.groups["exc"].events
    assert np.sum(sa["exc"][1] < 0.3) > 100  # the noise drove spikes in sleep
    for g in sa:
        np.testing.assert_array_equal(sa[g], sb[g], err_msg=f"spikes of {g}")
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"weights of {k}")


def test_sleep_after_wake_is_a_sample_of_the_same_process():
    model = declare(PaperParams(sleep=SleepParams(lam=0.999, rule="stochastic")))
    tl = lower([Wake(np.arange(2), 100 * ms), Sleep(300 * ms)], model.dt)
    images = np.random.default_rng(0).random((2, 225)) * 0.25
    conn = draw_connectivity(model, np.random.default_rng(1))
    counts = {}
    for noise in ("asleep", "every_step"):
        counts[noise] = np.array([[np.sum(s[g][1] >= 0.2) for g in ("exc", "inh")]
                                  for s, _, _ in (_run(model, tl, images, conn, noise, seed) for seed in range(5))], float)  # fmt: skip
    a, b = counts["asleep"], counts["every_step"]
    assert a[:, 0].min() > 100  # enough sleep spikes for the comparison to mean something
    for col in range(2):
        t = (a[:, col].mean() - b[:, col].mean()) / np.sqrt(a[:, col].var(ddof=1) / 5 + b[:, col].var(ddof=1) / 5 + 1e-9)
        assert abs(t) < 4, (col, a[:, col], b[:, col])


def test_noise_choices_and_errors():
    model = declare(PaperParams())
    tl = lower([Wake(np.arange(1), 10 * ms)], model.dt)
    conn = draw_connectivity(model, np.random.default_rng(0))
    with devices.target("numpy"):
        single = build_network(model, tl, np.zeros((1, 225)), None, connectivity=conn, lowering="single_clock")
        assert "asleep" not in single.groups["exc"].events
        with pytest.raises(ConfigError, match="single_clock"):
            build_network(model, tl, np.zeros((1, 225)), None, connectivity=conn, lowering="single_clock", noise="asleep")
        with pytest.raises(ConfigError, match="expected one of auto, asleep, every_step"):
            build_network(model, tl, np.zeros((1, 225)), None, connectivity=conn, noise="never")
