"""The Diehl & Cook 2015 model (models/diehl_cook.py) and the two layer features it needs:
random initial weights (``Pathway.w_init``) and weight normalisation (``Pathway.normalize``)."""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian.errors import ConfigError, ModelError
from sleep_brian.experiment import STREAMS, Streams, simulate
from sleep_brian.model import (AllToAll, AllToAllButSame, Bernoulli, InputLayer, Model, NeuronModel, OneToOne,
                               Pathway, Population, SynapseModel, Uniform)  # fmt: skip
from sleep_brian.network import build_network, check_code, draw_connectivity, run_data
from sleep_brian.protocol import Sleep, Test, Wake, lower

try:  # models/ is moving into the package
    from sleep_brian.models.diehl_cook import NORMALIZE, W_INIT, diehl_cook
except ImportError:  # pragma: no cover
    from models.diehl_cook import NORMALIZE, W_INIT, diehl_cook

ms = b2.ms


@pytest.fixture(autouse=True)
def _numpy_target():
    before = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    yield
    b2.prefs.codegen.target = before


def _images(n, seed=0):
    return np.random.default_rng(seed).random((n, 225))


def _run(model, phases, seed=3, monitor=None):
    tl = lower(phases, model.dt)
    built = build_network(model, tl, _images(12), None, connectivity=Streams.derive(model, seed).connectivity)
    mon = None
    if monitor is not None:
        mon = b2.StateMonitor(built.groups["exc"], monitor, record=True, dt=tl.slot)
        built.net.add(mon)
    built.net.run(tl.duration)
    return tl, built, mon


def test_declares_builds_and_registers():
    from sleep_brian import models

    m = models.get_model("diehl-cook")
    assert m.name == "diehl-cook" and m.readout == "exc"
    assert {p.name: type(p.connect).__name__ for p in m.pathways} == {
        "input_e": "AllToAll", "e_i": "OneToOne", "i_e": "AllToAllButSame"}  # fmt: skip
    assert [p.name for p in m.pathways if p.plastic] == ["input_e"]
    assert m.rule_of(m.pathway("e_i")) is None and m.rule_of(m.pathway("i_e")) is None
    small = diehl_cook(8)
    check_code(small)  # every string generates on numpy
    conn = draw_connectivity(small, np.random.default_rng(0))
    assert conn.n("input_e") == 225 * 8 and conn.n("e_i") == 8 and conn.n("i_e") == 8 * 7
    assert not np.any(conn.i["i_e"] == conn.j["i_e"])  # no I partner inhibits its own E neuron
    assert "w_init" in small.to_dict()["pathways"][0] and "w_init" not in small.to_dict()["pathways"][1]


def test_theta_adapts_while_learning_and_freezes_in_tests():
    m = diehl_cook(10)
    phases = [Wake(np.arange(4), 150 * ms), Test(np.arange(4, 10), 150 * ms)]
    tl, built, mon = _run(m, phases, monitor="theta")
    theta = np.asarray(mon.theta / b2.mV)  # (neurons, slots), sampled at each slot's start
    steps = np.round(np.asarray(built.spikes["exc"].t / m.dt)).astype(int)
    test = tl.spans_of("test")[0]
    assert (steps < test.start_step).sum() > 0 and (steps >= test.start_step).sum() > 0  # spikes in both
    k0 = test.start_step // tl.slot_steps
    assert np.all(theta[:, k0] > 20.0)  # wake spikes raised theta
    # From the start of the test on, theta neither grows with spikes nor decays (plastic = 0).
    final = np.asarray(built.groups["exc"].theta / b2.mV)
    np.testing.assert_array_equal(final, theta[:, k0 + 1])
    np.testing.assert_array_equal(theta[:, k0 + 1 :], np.repeat(final[:, None], theta.shape[1] - k0 - 1, axis=1))


def test_normalisation_sets_every_incoming_sum_after_wake():
    m = diehl_cook(10)
    phases = [Test(np.arange(2), 100 * ms), Wake(np.arange(2, 6), 100 * ms), Sleep(200 * ms),
              Wake(np.arange(6, 8), 100 * ms), Test(np.arange(8, 10), 100 * ms)]  # fmt: skip
    _tl, built, _ = _run(m, phases)
    S = built.synapses["input_e"]
    w0, w = built.initial_weights["input_e"], np.asarray(S.w[:])
    sums = np.bincount(np.asarray(S.j[:]), w, minlength=10)
    # Rescaled by one factor per neuron at the end of the last training image, then unchanged by
    # the test (no plasticity); the factor's rounding leaves the sum within ~1e-13 relative.
    np.testing.assert_allclose(sums, NORMALIZE, rtol=1e-12)
    assert abs(np.bincount(np.asarray(S.j[:]), w0).mean() - NORMALIZE) > 10  # the start was not normalised
    assert not np.allclose(w / w.sum(), w0 / w0.sum())  # and the weights did learn, not only rescale


def test_normalisation_only_around_wake_images():
    # A protocol without wake images never normalises: the sums stay those of the draw (without
    # the sleep rule, which would change them; STDP has no input spikes to act on in sleep).
    m = diehl_cook(6).with_sleep_rule(None)
    _tl, built, _ = _run(m, [Sleep(100 * ms), Test(np.arange(2), 100 * ms)])
    S = built.synapses["input_e"]
    w0 = built.initial_weights["input_e"]
    np.testing.assert_array_equal(np.bincount(S.j[:], S.w[:]), np.bincount(S.j[:], w0))


def test_random_init_is_reproducible_from_the_seed_and_differs_between_seeds():
    m = diehl_cook(10)
    a, b, c = (Streams.derive(m, s).connectivity for s in (1, 1, 2))
    np.testing.assert_array_equal(a.w["input_e"], b.w["input_e"])
    assert not np.allclose(a.w["input_e"], c.w["input_e"])
    assert set(a.w) == {"input_e"}
    assert W_INIT.low <= a.w["input_e"].min() and a.w["input_e"].max() < W_INIT.high
    # From its own stream: the connectivity stream (and so every model's connections) is unchanged.
    assert STREAMS[-1] == "initial_weights" and STREAMS[:4] == ("order", "connectivity", "settle", "brian")
    # The build starts from them, and the reusable build's matrix holds them at (i, j).
    tl = lower([Wake(np.arange(1), 10 * ms)], m.dt)
    built = build_network(m, tl, _images(1), None, connectivity=a, record_weights=False)
    np.testing.assert_array_equal(np.asarray(built.synapses["input_e"].w[:]), a.w["input_e"])
    table = run_data(m, tl, _images(1), a)["winit_input_e"]
    np.testing.assert_array_equal(table[a.i["input_e"], a.j["input_e"]], a.w["input_e"])


def test_constant_pathways_draw_nothing_more():
    # Drawing initial weights must not consume the connectivity stream of a w_init-free model.
    syn = SynapseModel("w : 1", on_pre="v_post += w * mV")
    nm = NeuronModel("dv/dt = -v / (10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")

    def model(**pw):
        return Model("t", InputLayer(side=3), [Population("a", 5, nm)],
                     [Pathway("x", "inputs", "a", syn, Bernoulli(0.5), plastic=False, sleep_rule=None, **pw)], "a")  # fmt: skip

    const, rand = model(w0=0.5), model(w_init=Uniform(0.1, 0.2))
    c1 = draw_connectivity(const, np.random.default_rng(4))
    c2 = draw_connectivity(rand, np.random.default_rng(4), np.random.default_rng(9))
    np.testing.assert_array_equal(c1.i["x"], c2.i["x"])
    np.testing.assert_array_equal(c1.j["x"], c2.j["x"])
    assert c1.w == {} and rand.pathway("x").w0 == pytest.approx(0.15)
    assert "w_init" not in const.to_dict()["pathways"][0] and "normalize" not in const.to_dict()["pathways"][0]


def test_bad_declarations_name_the_fix():
    syn = SynapseModel("w : 1", on_pre="v_post += w * mV")
    nm = NeuronModel("dv/dt = -v / (10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
    base = dict(synapse=syn, connect=AllToAll(), plastic=False, sleep_rule=None)
    with pytest.raises(ModelError, match="not both"):
        Pathway("x", "inputs", "a", w0=0.1, w_init=Uniform(0.1, 0.2), **base)
    with pytest.raises(ModelError, match="w0=<number> or w_init"):
        Pathway("x", "inputs", "a", **base)
    with pytest.raises(ModelError, match="low must be below high"):
        Uniform(0.3, 0.1)
    with pytest.raises(ModelError, match="within bounds"):
        Pathway("x", "inputs", "a", w_init=Uniform(0.1, 2.0), bounds=(0.0, 1.0), **base)
    with pytest.raises(ModelError, match="Uniform"):
        Pathway("x", "inputs", "a", w_init=(0.1, 0.2), **base)
    with pytest.raises(ModelError, match="positive number"):
        Pathway("x", "inputs", "a", w0=0.1, normalize=0, **base)
    pops = [Population("a", 4, nm), Population("b", 3, nm)]
    with pytest.raises(ModelError, match="equal size"):
        Model("t", InputLayer(side=2), pops, [Pathway("x", "a", "b", syn, AllToAllButSame(), w0=1.0, plastic=False, sleep_rule=None)], "a")
    with pytest.raises(ModelError, match="AllToAllButSame"):
        Model("t", InputLayer(side=2), pops, [Pathway("x", "a", "b", syn, AllToAll(allow_self=False), w0=1.0, plastic=False, sleep_rule=None)], "a")
    with pytest.raises(ModelError, match="equal size"):
        Model("t", InputLayer(side=2), pops, [Pathway("x", "a", "b", syn, OneToOne(), w0=1.0, plastic=False, sleep_rule=None)], "a")
    clash = NeuronModel("dv/dt = -v / (10*ms) : volt\nwsum_x : 1", threshold="v > 10*mV")
    with pytest.raises(ModelError, match="wsum_x"):
        Model("t", InputLayer(side=2), [Population("a", 4, clash)], [Pathway("x", "inputs", "a", normalize=1.0, w0=0.1, **base)], "a")
    m = diehl_cook(4)
    tl = lower([Wake(np.arange(1), 10 * ms)], m.dt)
    with pytest.raises(ConfigError, match="single_clock"):
        build_network(m, tl, _images(1), np.random.default_rng(0), lowering="single_clock")


@pytest.mark.standalone
@pytest.mark.slow
def test_cpp_standalone_matches_numpy_protocol(tmp_path):
    # The same run on cpp_standalone: sums normalised, theta frozen in the test, the drawn
    # initial weights used, and the reusable (run_args) build gives the same result.
    from sleep_brian import devices

    m = diehl_cook(10)
    phases = [Wake(np.arange(3), 100 * ms), Sleep(200 * ms), Wake(np.arange(3, 5), 100 * ms), Test(np.arange(5, 7), 100 * ms)]
    tl = lower(phases, m.dt)
    images = _images(7)
    arrays, _ = simulate(m, tl, images, seed=5, device="cpp_standalone", build_root=tmp_path / "fresh")
    st = Streams.derive(m, 5)
    np.testing.assert_array_equal(arrays["w_initial_input_e"], st.connectivity.w["input_e"])
    sums = np.bincount(arrays["j_input_e"], arrays["w_final_input_e"])
    np.testing.assert_allclose(sums, NORMALIZE, rtol=1e-12)
    assert len(arrays["spike_i_exc"]) > 20
    with devices.target("cpp_standalone", build_root=tmp_path / "reuse") as dev, devices.quiet_codegen_warnings():
        dev.prepare_reuse()
        built = build_network(m, tl, images, None, connectivity=Streams.derive(m, 9).connectivity, reusable=True)
        dev.compile(built.net, tl.duration)
        data = run_data(m, tl, images, st.connectivity)
        dev.run_compiled({built.data_arrays[n]: v for n, v in data.items()}, st.brian_seed)
        w = np.asarray(built.synapses["input_e"].w[:])
        spikes = np.asarray(built.spikes["exc"].i[:])
    np.testing.assert_array_equal(spikes, arrays["spike_i_exc"])
    np.testing.assert_allclose(w, arrays["w_final_input_e"], rtol=1e-12)
