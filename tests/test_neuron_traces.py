"""Nearest-spike traces kept once per neuron equal the traces kept per synapse (network.TRACE_PLACES).

A trace reset to 1 at a spike is a property of the neuron: every synapse of that neuron holds the
same value. ``traces="neuron"`` keeps it once per neuron (a multiply per step, set to 1 by the
reset; ``on_post`` pathways after the resets, so that a presynaptic spike of the same step reads
1); ``traces="synapse"`` keeps it per synapse as Brian2 event-driven variables, the strings the
paper's network had before (the regression test runs them against its stored outputs).

What must hold: the same spikes, and weights equal up to rounding. The per-neuron trace is
exp(-dt/tau) ** k (k multiplies), the per-synapse one a product of exp(-(t_i - t_j)/tau) over
the events in between: both are exp(-k dt / tau) to within a few ulps, and a weight change is a
trace times eta A, so each weight may differ by ~1e-16 relative per update. 1e-12 allows for
that over a run's updates; a pairing error (a same-step spike paired the wrong way, a trace one
step late, the wrong side's window) changes a weight by a trace's worth, ~1e-4 relative or more.
The spikes are the same unless a rounding difference decides a threshold crossing, which for
these runs it does not (checked, and an error would show as a failed array comparison).
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices
from sleep_brian.errors import ConfigError, ModelError
from sleep_brian.model import NeuronTrace, SynapseModel
from sleep_brian.models.paper import PaperParams, SleepParams, STDPParams, declare
from sleep_brian.network import Replica, build_network, build_replicas, draw_connectivity
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms = b2.ms


def _protocol(dt):
    return lower([Wake(np.arange(3), 100 * ms), Sleep(300 * ms), Wake(np.arange(3, 5), 100 * ms), Sleep(200 * ms),
                  Test(np.arange(5, 7), 100 * ms)], dt)  # fmt: skip


def _run(model, traces, device, tmp_path, k=1):
    tl = _protocol(model.dt)
    images = np.random.default_rng(0).random((7, 225)) * 0.25
    runs = [Replica(tl, images, draw_connectivity(model, np.random.default_rng(3 + r))) for r in range(k)]
    with devices.target(device, build_root=tmp_path / traces) as dev:
        dev.seed(5)
        if k == 1:
            built = build_network(model, tl, images, None, connectivity=runs[0].connectivity, traces=traces)
        else:
            built = build_replicas(model, runs, traces=traces)
        dev.run(built.net, tl.duration)
        spikes = {g: np.stack([np.asarray(m.i[:]), np.asarray(m.t_[:])]) for g, m in built.spikes.items()}
        weights = {k: np.asarray(S.w[:]).copy() for k, S in built.synapses.items()}
        snaps = {k: np.asarray(m.w[:]).copy() for k, m in built.weight_monitors.items()}
        return spikes, weights, snaps, built


def _assert_equal_runs(model, device, tmp_path, k=1):
    (sa, wa, na, built), (sb, wb, nb, _) = (_run(model, t, device, tmp_path, k) for t in ("neuron", "synapse"))
    # kept by the neurons: the synapses hold no trace (nor the last-update time of one)
    assert "xpre" in built.groups["inputs"].variables and "lastupdate" not in built.synapses["input_e"].variables
    assert sa["exc"].shape[1] > 300  # a silent network would prove nothing
    for g in sa:
        np.testing.assert_array_equal(sa[g], sb[g], err_msg=f"spikes of {g}")
    changed = 0.0
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=1e-12, atol=0, err_msg=f"weights of {name}")
        np.testing.assert_allclose(na[name], nb[name], rtol=1e-12, atol=0, err_msg=f"snapshots of {name}")
        changed = max(changed, np.mean(wa[name] != wa[name][0]))
    assert changed > 0.5  # STDP moved the weights (else equal weights would prove nothing)


@pytest.mark.parametrize("rule", ["power", "stochastic"])
def test_neuron_traces_give_the_spikes_and_weights_of_synapse_traces(rule, tmp_path):
    """Both sleep rules (the traces draw no random numbers, so the stochastic rule's draws are
    the same too), sleep noise and random inputs included."""
    _assert_equal_runs(declare(PaperParams(sleep=SleepParams(lam=0.999, rule=rule))), "numpy", tmp_path)


def test_neuron_traces_with_the_authors_reversed_stdp(tmp_path):
    """The reversed windows: the pre-side trace now carries tau- and the post-side one tau+."""
    p = PaperParams(sleep=SleepParams(lam=0.999), stdp=STDPParams(rule="authors"))
    _assert_equal_runs(declare(p), "numpy", tmp_path)


def test_neuron_traces_in_replicas(tmp_path):
    _assert_equal_runs(declare(PaperParams(sleep=SleepParams(lam=0.999))), "numpy", tmp_path, k=2)


@pytest.mark.standalone
def test_neuron_traces_on_cpp_standalone(tmp_path):
    _assert_equal_runs(declare(PaperParams(sleep=SleepParams(lam=0.999, rule="stochastic"))), "cpp_standalone", tmp_path)


def test_the_per_synapse_form_sets_each_trace_in_its_own_pathway():
    """The per-synapse form (SynapseModel.per_synapse) declares each trace as an event-driven
    variable, reads it without the suffix and sets it to 1 at the end of its own side's pathway:
    a pre trace in on_pre, before the same step's on_post reads it (pre before post). That the
    per-neuron form pairs the same way is what the run comparisons above check."""
    syn = declare(PaperParams()).pathways[0].synapse.per_synapse()
    model, on_pre, on_post = syn.model, syn.on_pre, syn.on_post
    assert not syn.traces
    assert "dxpre/dt = -xpre / tau_xpre : 1 (event-driven)" in model
    assert on_pre.strip().endswith("xpre = 1") and "xpost_post" not in on_pre and "xpost" in on_pre
    assert on_post.strip().endswith("xpost = 1") and "xpre_pre" not in on_post


def test_trace_declarations_are_checked():
    with pytest.raises(ModelError, match="expected 'pre' or 'post'"):
        NeuronTrace("both", "tau")
    with pytest.raises(ModelError, match="not in params"):
        SynapseModel("w : 1", "w += x_pre", traces={"x": NeuronTrace("pre", "tau_x")})
    with pytest.raises(ModelError, match="also declared"):
        SynapseModel("w : 1\nx : 1", "w += x", params={"tau_x": 5 * ms}, traces={"x": NeuronTrace("pre", "tau_x")})
    model = declare(PaperParams())
    tl = lower([Wake(np.arange(1), 10 * ms)], model.dt)
    conn = draw_connectivity(model, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="single_clock"):
        build_network(model, tl, np.zeros((1, 225)), None, connectivity=conn, lowering="single_clock", traces="neuron")
    with pytest.raises(ConfigError, match="expected one of auto, neuron, synapse"):
        build_network(model, tl, np.zeros((1, 225)), None, connectivity=conn, traces="per-event")


def test_two_time_constants_for_one_neurons_trace_are_refused():
    """E's xpre is read by e_e and e_i: one trace per neuron needs one time constant."""
    import dataclasses

    model = declare(PaperParams())
    e_i = next(pw for pw in model.pathways if pw.name == "e_i")
    slower = dataclasses.replace(e_i.synapse, params={**e_i.synapse.params, "tau_xpre": 20 * ms})
    model = dataclasses.replace(model, pathways=tuple(dataclasses.replace(pw, synapse=slower) if pw.name == "e_i" else pw
                                                      for pw in model.pathways))  # fmt: skip
    tl = lower([Wake(np.arange(1), 10 * ms)], model.dt)
    with pytest.raises(ModelError, match="one trace per name"):
        build_network(model, tl, np.zeros((1, 225)), np.random.default_rng(0))
    # kept per synapse, each pathway has its own: that builds
    build_network(model, tl, np.zeros((1, 225)), np.random.default_rng(0), traces="synapse")


def test_a_trace_on_a_population_that_never_spikes_is_refused():
    import dataclasses

    model = declare(PaperParams())
    pops = tuple(dataclasses.replace(p, neuron=dataclasses.replace(p.neuron, threshold=None, reset=None))
                 if p.name == "inh" else p for p in model.populations)  # fmt: skip
    model = dataclasses.replace(model, populations=pops)
    tl = lower([Wake(np.arange(1), 10 * ms)], model.dt)
    with pytest.raises(ModelError, match="never spikes"):
        build_network(model, tl, np.zeros((1, 225)), np.random.default_rng(0))
