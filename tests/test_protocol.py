"""Protocol lowering and the regimes it switches: checked on the schedule and in simulation."""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian.errors import ConfigError
from sleep_brian.network import build_network
from sleep_brian.models.paper import PaperParams as ModelParams
from sleep_brian.models.paper import declare
from sleep_brian.protocol import Sleep, Test, Wake, lower, paper_schedule

ms, second = b2.ms, b2.second


def test_lower_durations_and_flags():
    phases = [Wake(np.arange(5), 100 * ms), Sleep(250 * ms), Test(np.array([7, 8]), 100 * ms)]
    tl = lower(phases, 1 * ms)
    assert tl.slot_steps == 50  # gcd of 100 (per image), 500 (wake), 250 (sleep), 200 (test)
    assert tl.n_steps == 500 + 250 + 200
    assert [(s.kind, s.start_step, s.stop_step) for s in tl.spans] == [
        ("wake", 0, 500),
        ("sleep", 500, 750),
        ("test", 750, 950),
    ]
    per_slot = np.repeat(np.arange(len(tl.sleep)), tl.slot_steps)  # slot of each step
    sleep_steps = tl.sleep[per_slot]
    plastic_steps = tl.plastic[per_slot]
    image_steps = tl.image[per_slot]
    assert sleep_steps[:500].sum() == 0 and sleep_steps[500:750].all() and sleep_steps[750:].sum() == 0
    assert plastic_steps[:750].all() and plastic_steps[750:].sum() == 0
    np.testing.assert_array_equal(image_steps[:500:100], np.arange(5))
    np.testing.assert_array_equal(image_steps[750::100], [7, 8])


def test_paper_schedule_blocks_sleep_and_cap():
    phases = paper_schedule(np.arange(100), 100 * ms, 0.2, wake_block=3 * second)
    kinds = [type(p).__name__ for p in phases]
    # 100 images / 30 per block: 3 complete blocks each followed by sleep, then a partial block.
    assert kinds == ["Wake", "Sleep"] * 3 + ["Wake"]
    assert all(abs(float(p.duration) - 0.6) < 1e-12 for p in phases if isinstance(p, Sleep))
    assert len(phases[-1].images) == 10
    capped = paper_schedule(np.arange(100), 100 * ms, 1.0, wake_block=3 * second, sleep_cap=1 * second)
    assert all(abs(float(p.duration) - 1.0) < 1e-12 for p in capped if isinstance(p, Sleep))
    assert not any(isinstance(p, Sleep) for p in paper_schedule(np.arange(100), 100 * ms, 0.0))
    # Sleep time as a fraction of wake time is what was asked for.
    tl = lower(paper_schedule(np.arange(90), 100 * ms, 0.1, wake_block=3 * second), 1 * ms)
    wake = sum(s.stop_step - s.start_step for s in tl.spans_of("wake"))
    sleep = sum(s.stop_step - s.start_step for s in tl.spans_of("sleep"))
    assert sleep / wake == pytest.approx(0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Wake(np.arange(3), 100),
        lambda: Wake(np.arange(3), 100 * b2.mV),
        lambda: Sleep(0 * ms),
        lambda: Wake(np.array([], dtype=int), 100 * ms),
        lambda: Test(np.array([0.5]), 100 * ms),
        lambda: paper_schedule(np.arange(3), 100 * ms, 1.2),
        lambda: lower([]),
        lambda: lower([Sleep(0.2 * ms)], 1 * ms),
    ],
)
def test_bad_phases(make):
    with pytest.raises(ConfigError):
        make()


def _simulate(phases, seed=3, record_v=True):
    p = ModelParams()
    tl = lower(phases, p.dt)
    rng = np.random.default_rng(seed)
    images = np.full((4, 225), 0.3)
    b2.seed(seed)
    built = build_network(declare(p), tl, images, rng)
    in_spikes = b2.SpikeMonitor(built.groups["inputs"], name="in_spikes")
    v_mon = b2.StateMonitor(built.groups["exc"], "v", record=np.arange(50), when="end", name="v_mon")
    built.net.add(in_spikes, v_mon)
    built.net.run(tl.duration)
    return tl, built, in_spikes, v_mon


def test_regimes_in_simulation():
    """Sleep: no input spikes, membrane noise on. Test: no weight change. Wake: input on."""
    phases = [Wake(np.arange(2), 200 * ms), Sleep(400 * ms), Test(np.arange(2, 4), 200 * ms)]
    tl, built, in_spikes, v_mon = _simulate(phases)
    steps = np.round(np.asarray(in_spikes.t_) / 1e-3).astype(int)
    wake, sleep, test = tl.spans
    n_wake = np.sum((steps >= wake.start_step) & (steps < wake.stop_step))
    n_sleep = np.sum((steps >= sleep.start_step) & (steps < sleep.stop_step))
    n_test = np.sum((steps >= test.start_step) & (steps < test.stop_step))
    # Bernoulli p=0.3 per step, 225 inputs, 400 steps: ~27,000 expected; none at all in sleep.
    assert n_sleep == 0
    assert n_wake > 20_000 and n_test > 20_000
    # Noise: during sleep without input, step-to-step changes of v in silent neurons are not
    # the smooth exponential relaxation: their sd is about noise_sd = 2 mV per step.
    v = np.asarray(v_mon.v_) * 1e3  # mV, recorded at the end of every step
    t_mid = slice(sleep.start_step + 150, sleep.stop_step - 1)
    dv = np.diff(v[:, t_mid], axis=1)
    assert 1.5 < np.std(dv) < 3.0
    dv_wake = np.diff(v[:, wake.start_step + 50 : wake.stop_step - 1], axis=1)
    # In wake the only step-to-step variation is synaptic drive and resets; no per-step noise.
    assert np.median(np.abs(dv_wake)) < np.median(np.abs(dv))


def test_no_weight_change_during_test():
    phases = [Test(np.arange(4), 250 * ms)]
    _tl, built, _in, _v = _simulate(phases)
    assert built.spikes["exc"].num_spikes > 0  # the test would be empty without activity
    for name, S in built.synapses.items():
        w = np.asarray(S.w[:])
        w0 = getattr(ModelParams().connectivity, name).w0
        np.testing.assert_array_equal(w, np.full_like(w, w0))


def test_weights_change_during_wake():
    """The converse: the same activity with plasticity on does change weights (guards the test above)."""
    _tl, built, _in, _v = _simulate([Wake(np.arange(4), 250 * ms)])
    w = np.asarray(built.synapses["input_e"].w[:])
    assert np.any(w != 0.15)


def test_rest_phase_and_alignment():
    from sleep_brian.protocol import NO_IMAGE, Rest, align_to, sleep_grid

    tl = lower([Test(np.arange(3), 100 * ms), Rest(50 * ms), Sleep(200 * ms)], 1 * ms)
    rest = tl.spans_of("rest")[0]
    per_slot = np.repeat(np.arange(len(tl.sleep)), tl.slot_steps)
    assert (tl.image[per_slot][rest.start_step : rest.stop_step] == NO_IMAGE).all()
    assert tl.plastic[per_slot][rest.start_step : rest.stop_step].sum() == 0
    assert tl.sleep[per_slot][rest.start_step : rest.stop_step].sum() == 0
    # Aligning a 300 ms control to a 350 ms grid adds a 50 ms rest; then sleeps fall on the grid.
    training = paper_schedule(np.arange(10), 100 * ms, 0.5, wake_block=400 * ms)  # sleeps of 200 ms
    g = sleep_grid(lower(training, 1 * ms))
    assert g == 200  # gcd of 400, 600, 1000, 1200 steps
    phases = align_to([Test(np.arange(3), 100 * ms)], g, 1 * ms) + training
    assert isinstance(phases[1], Rest) and float(phases[1].duration) == pytest.approx(0.1)
    assert sleep_grid(lower(phases, 1 * ms)) == g


def test_rest_shows_no_input():
    phases = [Wake(np.arange(1), 100 * ms), Sleep(100 * ms), Test(np.arange(1), 100 * ms)]
    from sleep_brian.protocol import Rest

    phases.insert(2, Rest(200 * ms))
    tl, built, in_spikes, _v = _simulate(phases)
    steps = np.round(np.asarray(in_spikes.t_) / 1e-3).astype(int)
    rest = tl.spans_of("rest")[0]
    assert np.sum((steps >= rest.start_step) & (steps < rest.stop_step)) == 0
    assert np.sum(steps >= tl.spans_of("test")[0].start_step) > 5_000
