"""The sleep decay at decay events (network.DECAY_SCHEDULES) equals the decay at every spike.

``decay="spikes"`` applies the decay owed to a synapse before each use of it, asleep or awake;
``decay="events"`` (the default where the lowering allows) only at spikes during sleep and once
for every synapse at the first step after a sleep, so that awake spikes skip a decay that is nil.

What must hold:

- For a deterministic rule the two are the same arithmetic in the same order, so with
  deterministic inputs (binary images, no membrane noise) spikes, weights and weight snapshots
  are bit-identical: the paper's network (no refractoriness) and Diehl & Cook's (refractory
  neurons, whose decay event must copy the spike test's refractoriness, and normalised input
  weights, whose sums must see up-to-date weights), alone and as replicas, on numpy (and on
  cpp_standalone through tests/test_paper_regression.py).
- For the stochastic rule the noise is drawn at other events, so the random stream differs; the
  distribution must not. Without STDP (eta = 0) the theory is exact: after n sleep steps from
  x0 = log(w0 / w_base), x = log(w / w_base) is normal with mean lam^n x0 and sd
  sigma_log sqrt(1 - lam^(2n)), however the steps are split between events (the
  Ornstein-Uhlenbeck step composes exactly). Both schedules are tested against that law.
"""

import dataclasses

import brian2 as b2
import numpy as np
import pytest
from scipy import stats

from sleep_brian import devices
from sleep_brian.errors import ConfigError
from sleep_brian.model import Model
from sleep_brian.models.diehl_cook import diehl_cook
from sleep_brian.models.paper import PaperParams, SleepParams, declare
from sleep_brian.network import Replica, build_network, build_replicas, draw_connectivity, settle_weights
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms = b2.ms


def _paper_power():
    p = PaperParams(sleep=SleepParams(lam=0.999))  # strong decay: visible within 300 ms
    return declare(p.replace(neuron=p.neuron.replace(noise_sd=0 * b2.mV)))


def _protocol(dt, sleep=300 * ms):
    return lower([Wake(np.arange(3), 100 * ms), Sleep(sleep), Wake(np.arange(3, 5), 100 * ms), Sleep(200 * ms),
                  Test(np.arange(5, 7), 100 * ms)], dt)  # fmt: skip


def _read(built):
    out = {f"spikes_{g}": np.stack([np.asarray(m.i[:]), np.asarray(m.t_[:])]) for g, m in built.spikes.items()}
    for name, S in built.synapses.items():
        out[f"w_{name}"] = np.asarray(S.w[:])
        if name in built.weight_monitors:
            out[f"snap_{name}"] = np.asarray(built.weight_monitors[name].w[:])
    return out


def _simulate(model, runs, decay, device, tmp_path):
    with devices.target(device, build_root=tmp_path) as dev:
        b2.seed(7)
        if len(runs) == 1:
            r = runs[0]
            built = build_network(model, r.timeline, r.images, None, connectivity=r.connectivity, decay=decay)
        else:
            built = build_replicas(model, runs, decay=decay)
        dev.run(built.net, max(r.timeline.n_steps for r in runs) * model.dt)
        return _read(built), built


def _assert_bit_identical(model, runs, device, tmp_path, sleeping_pop="exc", min_spikes=300):
    events, built = _simulate(model, runs, "events", device, tmp_path / "events")
    spikes, _ = _simulate(model, runs, "spikes", device, tmp_path / "spikes")
    assert any(name.startswith("decay_") for S in built.synapses.values() for name in S._synaptic_updaters), \
        "the default build did not use decay events"  # fmt: skip
    assert events[f"spikes_{sleeping_pop}"].shape[1] > min_spikes  # a silent network would prove nothing
    assert events.keys() == spikes.keys()
    for k in events:
        np.testing.assert_array_equal(events[k], spikes[k], err_msg=k)


def _paper_runs(model, k=1):
    rng = np.random.default_rng(0)
    return [Replica(_protocol(model.dt, sleep=(300 - 100 * r) * ms), (rng.random((7, 225)) < 0.3).astype(float),
                    draw_connectivity(model, np.random.default_rng(5 + r))) for r in range(k)]  # fmt: skip


def test_power_law_at_decay_events_is_bit_identical_to_decay_at_every_spike(tmp_path):
    """On numpy; on cpp_standalone the same holds by tests/test_paper_regression.py, whose power
    case runs the decay events against outputs stored from the builder that decayed at every
    spike (one compile fewer for CI)."""
    model = _paper_power()
    _assert_bit_identical(model, _paper_runs(model), "numpy", tmp_path)


def test_replicas_with_decay_events_are_bit_identical_to_decay_at_every_spike(tmp_path):
    """Three replicas with other sleep lengths: each one's sleep end is its own event."""
    model = _paper_power()
    _assert_bit_identical(model, _paper_runs(model, k=3), "numpy", tmp_path)


def test_refractory_neurons_and_normalised_weights_are_bit_identical(tmp_path):
    """Diehl & Cook: a refractory neuron's decay event must be its spike test (the event is
    tested before the spike test marks the neuron refractory), and its normalised input
    weights are rescaled from sums of up-to-date weights. Sleep noise on, so that neurons
    spike in sleep: the power law draws no random numbers, so both schedules consume the same
    stream (the noise's and the inputs') and stay bit-identical."""
    model = diehl_cook(40, sleep_rule="power", noise_sd=4 * b2.mV)
    assert any(p.neuron.refractory is not False for p in model.populations)
    assert any(pw.normalize is not None for pw in model.pathways)
    rng = np.random.default_rng(1)
    tl = lower([Wake(np.arange(3), 350 * ms), Sleep(300 * ms), Wake(np.arange(3, 5), 350 * ms),
                Test(np.arange(5, 7), 350 * ms)], model.dt)  # fmt: skip
    run = Replica(tl, rng.random((7, model.inputs.size)), draw_connectivity(model, np.random.default_rng(2)))
    events, _ = _simulate(model, [run], "events", "numpy", tmp_path / "count")
    t = events["spikes_exc"][1]
    assert np.sum((t > 0.7) & (t < 1.0)) > 20, "no spikes in sleep: the sleep-time events would go untested"
    _assert_bit_identical(model, [run], "numpy", tmp_path, min_spikes=100)


@pytest.mark.parametrize("decay", ["events", "spikes"])
def test_stochastic_decay_follows_the_ornstein_uhlenbeck_law_under_either_schedule(decay, tmp_path):
    """No STDP (eta = 0), sleep noise on (spikes during sleep, so part of the decay happens at
    spikes and the rest at the sleep's end): log(w / w_base) of every E->E and E->I synapse
    must follow N(lam^n x0, sigma_log^2 (1 - lam^(2n))) after n = 500 sleep steps. Kolmogorov-
    Smirnov against that law, p > 1e-3 (a wrong exponent, a decay applied twice or skipped,
    or noise drawn with the wrong sd moves the statistic far beyond that with ~8,000 synapses)."""
    lam, sigma, w_tar = 0.999, 0.3, 0.015
    p = PaperParams(sleep=SleepParams(rule="stochastic", lam=lam, sigma_log=sigma, baseline="target", w_tar_exc=w_tar))
    p = p.replace(stdp=p.stdp.replace(eta=0.0))
    model = declare(p)
    tl = lower([Wake(np.arange(2), 100 * ms), Sleep(300 * ms), Wake(np.arange(2, 4), 100 * ms), Sleep(200 * ms),
                Test(np.arange(4, 5), 100 * ms)], model.dt)  # fmt: skip
    images = np.random.default_rng(0).random((5, 225)) * 0.3
    conn = draw_connectivity(model, np.random.default_rng(3))
    with devices.target("numpy"):
        b2.seed(4)
        built = build_network(model, tl, images, None, connectivity=conn, record_weights=False, decay=decay)
        built.net.run(tl.duration)
        sleep_spikes = int(np.sum((built.spikes["exc"].t_[:] > 0.2) & (built.spikes["exc"].t_[:] < 0.5)))
        z = []
        for name in ("e_e", "e_i"):
            pw = {q.name: q for q in model.pathways}[name]
            n = 500  # sleep steps of dt_ref = dt
            x0 = np.log(pw.w0 / w_tar)
            S = built.synapses[name]
            # With decay at every spike, a synapse unused since the last sleep still owes its
            # decay: bring it up to date as a run's read-back does (nil for decay events).
            w = settle_weights(model, name, S.w[:], S.last_sleep[:], built.groups["exc"].sleep_clock[0],
                               np.random.default_rng(5))  # fmt: skip
            x = np.log(w / w_tar)
            lo, hi = np.log(np.asarray(pw.bounds, float) / w_tar)
            assert np.mean((x <= lo + 1e-12) | (x >= hi - 1e-12)) < 1e-3  # clipping plays no part
            z.append((x - lam**n * x0) / (sigma * np.sqrt(1 - lam ** (2 * n))))
    assert sleep_spikes > 100  # decay events during sleep, not only at its end
    z = np.concatenate(z)
    assert len(z) > 5000
    assert stats.kstest(z, "norm").pvalue > 1e-3, (z.mean(), z.std())


def test_decay_schedule_choices_and_errors(tmp_path):
    model = _paper_power()
    tl = lower([Wake(np.arange(1), 10 * ms), Sleep(10 * ms)], model.dt)
    images = np.zeros((1, 225))
    conn = draw_connectivity(model, np.random.default_rng(0))
    with devices.target("numpy"):
        auto = build_network(model, tl, images, None, connectivity=conn)
        assert {"pre", "post", "decay_pre", "decay_post"} <= set(auto.synapses["e_e"]._synaptic_updaters)
        assert "decay_pre" not in auto.synapses["input_e"]._synaptic_updaters  # the input layer is silent in sleep
        single = build_network(model, tl, images, None, connectivity=conn, lowering="single_clock")
        assert not any(n.startswith("decay_") for n in single.synapses["e_e"]._synaptic_updaters)
        with pytest.raises(ConfigError, match="single_clock"):
            build_network(model, tl, images, None, connectivity=conn, lowering="single_clock", decay="events")
        with pytest.raises(ConfigError, match="expected one of auto, events, spikes"):
            build_network(model, tl, images, None, connectivity=conn, decay="lazy")
        # A random threshold cannot be copied into an event: 'auto' decays at its spikes.
        noisy = _with_random_threshold(model)
        built = build_network(noisy, tl, images, None, connectivity=conn)
        assert not any(n.startswith("decay_") for n in built.synapses["e_i"]._synaptic_updaters)
        assert "decay_post" in built.synapses["input_e"]._synaptic_updaters
        with pytest.raises(ConfigError, match="draws random numbers"):
            build_network(noisy, tl, images, None, connectivity=conn, decay="events")


def _with_random_threshold(model: Model) -> Model:
    """The model with the inhibitory neurons' spikes thinned at random (their threshold draws)."""
    pops = tuple(dataclasses.replace(p, neuron=dataclasses.replace(p.neuron, threshold=f"({p.neuron.threshold}) and rand() < 0.9"))
                 if p.name == "inh" else p for p in model.populations)  # fmt: skip
    return dataclasses.replace(model, populations=pops)
