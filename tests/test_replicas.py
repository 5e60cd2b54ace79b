"""K runs as replicas of one simulation (sleep_brian.replicas, network.build_replicas).

What must hold: each replica is the run done alone. With deterministic inputs (binary images make
``rand() < p`` certain; zero membrane noise; the deterministic power-law decay) that is exact:
the same spikes and weights, bit for bit, for replicas with different seeds, data and protocols
(sleep lengths, no sleep). With random draws the replicas share one generator, so a replica is
another sample of the same process: checked as a distribution (rates of identical replicas
against solo runs with other generator seeds), and as the same connectivity, data and record.
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices, replicas
from sleep_brian.errors import ConfigError
from sleep_brian.experiment import RunConfig, _prepare, run_many
from sleep_brian.models.paper import PaperParams, SleepParams, declare
from sleep_brian.network import Replica, build_network, build_replicas, draw_connectivity
from sleep_brian.params import ScheduleParams
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms, second = b2.ms, b2.second


def _deterministic_model():
    p = PaperParams(sleep=SleepParams(lam=0.999))  # strong power-law decay: visible within 300 ms
    return declare(p.replace(neuron=p.neuron.replace(noise_sd=0 * b2.mV))), p.dt


def _runs(model, dt, same_protocol=False):
    rng = np.random.default_rng(0)
    protocols = [
        [Wake(np.arange(3), 100 * ms), Sleep(300 * ms), Test(np.arange(3, 5), 100 * ms)],
        [Wake(np.arange(3), 100 * ms), Sleep(100 * ms), Test(np.arange(3, 5), 100 * ms)],
        [Wake(np.arange(4), 100 * ms), Test(np.arange(3, 5), 100 * ms)],
    ]
    if same_protocol:
        protocols = [protocols[0]] * 3
    return [
        Replica(lower(ph, dt), (rng.random((5, 225)) < 0.3).astype(float), draw_connectivity(model, np.random.default_rng(s)))
        for s, ph in zip((5, 6, 7), protocols)
    ]


def _read(built, r=None):
    """Spikes (index, step) per population and weights (and snapshots) per pathway, of replica r."""
    out = {}
    for g, mon in built.spikes.items():
        i, step = np.asarray(mon.i[:]), np.round(np.asarray(mon.t_[:]) / 1e-3).astype(int)
        if r is not None:
            sl = built.layout.neurons(g, r)
            keep = (i >= sl.start) & (i < sl.stop) & (step < built.layout.n_steps[r])
            i, step = i[keep] - sl.start, step[keep]
        out[f"spikes_{g}"] = np.stack([i, step])
    for name, S in built.synapses.items():
        w = np.asarray(S.w[:])
        out[f"w_{name}"] = w if r is None else w[built.layout.synapses(name, r)]
        if name in built.weight_monitors:
            snaps = np.asarray(built.weight_monitors[name].w[:])
            out[f"snap_{name}"] = snaps if r is None else snaps[built.layout.recorded(name, r)]
    return out


def _solo_and_replicas(device, tmp_path, runs, model, record_weights, lowering="timed_array"):
    solo = []
    for run in runs:
        with devices.target(device, build_root=tmp_path) as dev:
            b2.seed(11)
            built = build_network(model, run.timeline, run.images, None, connectivity=run.connectivity,
                                  record_weights=record_weights, lowering=lowering)  # fmt: skip
            dev.run(built.net, run.timeline.duration)
            solo.append(_read(built))
    with devices.target(device, build_root=tmp_path) as dev:
        b2.seed(11)
        built = build_replicas(model, runs, record_weights=record_weights, lowering=lowering)
        dev.run(built.net, max(r.timeline.n_steps for r in runs) * model.dt)
        together = [_read(built, r) for r in range(len(runs))]
        assert len(built.groups["exc"]) == 3 * 200 and built.layout.k == 3
    return solo, together


def _assert_same(solo, together):
    assert sum(s["spikes_exc"].shape[1] for s in solo) > 1000  # a silent network would prove nothing
    for alone, rep in zip(solo, together):
        assert alone.keys() == rep.keys()
        for k in alone:
            np.testing.assert_array_equal(alone[k], rep[k], err_msg=k)
    # the replicas are not copies of one another (other seeds, data and protocols)
    assert not np.array_equal(together[0]["w_e_e"][:100], together[1]["w_e_e"][:100])


@pytest.mark.parametrize("device", ["numpy", pytest.param("cpp_standalone", marks=pytest.mark.standalone)])
def test_replicas_with_other_protocols_equal_their_solo_runs_bit_for_bit(device, tmp_path):
    model, dt = _deterministic_model()
    solo, together = _solo_and_replicas(device, tmp_path, _runs(model, dt), model, record_weights=False)
    _assert_same(solo, together)


def test_replicas_record_the_weight_snapshots_of_their_solo_runs(tmp_path):
    """Same protocol, so the same snapshot grid: the recorded synapses and their snapshots (and
    the catch-up decay before each) equal those of each run alone."""
    model, dt = _deterministic_model()
    solo, together = _solo_and_replicas("numpy", tmp_path, _runs(model, dt, same_protocol=True), model, True)
    assert "snap_e_e" in solo[0]
    _assert_same(solo, together)


def test_replicas_on_the_single_clock_lowering_equal_their_solo_runs(tmp_path):
    """The GeNN/CUDA lowering (run_regularly at the start of a step, noise in the equations, the
    sleep clock of snapshots from a TimedArray per replica)."""
    model, dt = _deterministic_model()
    solo, together = _solo_and_replicas("numpy", tmp_path, _runs(model, dt, same_protocol=True), model, True,
                                        lowering="single_clock")  # fmt: skip
    _assert_same(solo, together)


def test_identical_replicas_are_samples_of_the_solo_runs_distribution(tmp_path):
    """With random inputs and sleep noise: 6 replicas of one run (same connectivity, data and
    protocol) in one simulation against the run alone under 6 generator seeds. The replicas must
    differ from each other (independent draws: no shared or crossed state) and their spike
    counts must come from the solo runs' distribution: Welch's t below 4 (a replica coupled to
    another, or reading the wrong image or schedule column, shifts the rates by many sds)."""
    model = declare(PaperParams())
    dt = model.dt
    tl = lower([Wake(np.arange(4), 150 * ms), Sleep(300 * ms), Test(np.arange(4), 150 * ms)], dt)
    images = np.random.default_rng(1).random((4, 225)) * 0.3
    conn = draw_connectivity(model, np.random.default_rng(2))
    run = Replica(tl, images, conn)
    counts = {"solo": [], "replicas": []}
    with devices.target("numpy"):
        for seed in range(6):
            b2.seed(100 + seed)
            built = build_network(model, tl, images, None, connectivity=conn, record_weights=False)
            built.net.run(tl.duration)
            counts["solo"].append([len(built.spikes["exc"].i), len(built.spikes["inh"].i)])
        b2.seed(99)
        built = build_replicas(model, [run] * 6, record_weights=False)
        built.net.run(tl.duration)
        i_exc, i_inh = np.asarray(built.spikes["exc"].i[:]), np.asarray(built.spikes["inh"].i[:])
        counts["replicas"] = [[int(((i_exc // 200) == r).sum()), int(((i_inh // 50) == r).sum())] for r in range(6)]
    solo, reps = np.array(counts["solo"], float), np.array(counts["replicas"], float)
    assert solo[:, 0].min() > 200  # enough spikes for the comparison to mean something
    assert len(set(reps[:, 0])) > 1, "identical replicas gave identical counts: their draws are not independent"
    for col in range(2):
        a, b = solo[:, col], reps[:, col]
        t = (a.mean() - b.mean()) / np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b) + 1e-9)
        assert abs(t) < 4, (col, a, b)


TINY = dict(n_train=20, n_fit=20, n_test=20, presentation=50 * ms, wake_block=0.5 * second)


def _configs(device="numpy"):
    return [RunConfig(dataset="digits", seed=s, schedule=ScheduleParams(sleep_fraction=f, **TINY), device=device)
            for s, f in ((1, 0.25), (2, 0.5), (3, 0.0))]  # fmt: skip


@pytest.fixture(scope="module")
def numpy_batch():
    return run_many(_configs(), progress=False, replicas=3)


def test_run_many_as_replicas_keeps_each_runs_connectivity_data_and_record(numpy_batch):
    alone = run_many(_configs(), progress=False, replicas=1)
    for rep, one in zip(numpy_batch, alone):
        b = rep.record["build"]
        assert b["replicas"] == 3 and len(b["batch"]) == 3 and rep.record["name"] in b["batch"]
        assert rep.record["brian_seed"] == b["batch_brian_seed"] != one.record["brian_seed"]
        assert rep.arrays.keys() == one.arrays.keys()
        for k in ("i_e_e", "j_e_e", "w_initial_e_e", "labels", "y_test", "boundary_steps"):
            np.testing.assert_array_equal(rep.arrays[k], one.arrays[k], err_msg=k)
        assert rep.record["timeline"] == one.record["timeline"]
        assert rep.record["status"] in ("ok", "flagged") and rep.record["accuracy"]["trained"]
        # the same process: firing rates within a factor of two (short runs, few spikes)
        for kind, hz in one.record["population_rates"]["exc"].items():
            assert rep.record["population_rates"]["exc"][kind] == pytest.approx(hz, rel=0.5), kind
    # each replica was read within its own protocol's length (the longest of the batch is 1.5x)
    durations = {r.record["timeline"]["duration_s"] for r in numpy_batch}
    assert len(durations) == 3


@pytest.mark.standalone
def test_replicas_give_the_same_runs_on_numpy_and_cpp_standalone(numpy_batch, tmp_path):
    """numpy and cpp_standalone draw random numbers in the same order, so a batch of replicas
    (inputs, noise and stochastic decay all random) gives the same spikes on both, and weights
    equal up to rounding (the same arithmetic in another language: pow/exp differ in the last
    bits, as in tests/test_parity.py)."""
    cpp = run_many(_configs("cpp_standalone"), progress=False, replicas=3, build_root=tmp_path)
    for a, b in zip(numpy_batch, cpp):
        assert a.record["accuracy"] == b.record["accuracy"]
        assert a.arrays.keys() == b.arrays.keys()
        for k in a.arrays:
            if np.issubdtype(np.asarray(a.arrays[k]).dtype, np.integer):
                np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)  # spike counts, indices
            else:
                np.testing.assert_allclose(a.arrays[k], b.arrays[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_choose_replicas_follows_the_stated_rule():
    preps = [_prepare(c, None, False) for c in _configs()]
    per_run = max(replicas.memory_estimate(p) for p in preps)
    assert replicas.choose_replicas(preps, "cpp_standalone", memory=10**12) == 3  # the number of runs
    assert replicas.choose_replicas(preps * 10, "cpp_standalone", memory=10**12) == replicas.MAX_REPLICAS["cpp_standalone"]
    assert replicas.choose_replicas(preps * 100, "cuda_standalone", memory=10**15) == replicas.MAX_REPLICAS["cuda_standalone"]
    # memory: half the available memory, shared by the workers, over the largest run's estimate
    assert replicas.choose_replicas(preps * 10, "cpp_standalone", memory=2 * 2 * per_run) == 2
    assert replicas.choose_replicas(preps * 10, "cpp_standalone", memory=4 * 2 * per_run, workers=2) == 2
    assert replicas.choose_replicas(preps, "cpp_standalone", memory=1) == 1
    assert per_run > 0


def test_batches_group_by_model_and_device_longest_first():
    preps = [_prepare(c, None, False) for c in _configs()]
    other = _prepare(RunConfig(dataset="digits", seed=1, schedule=ScheduleParams(**TINY), device="cython"), None, False)
    out = replicas.batches(preps + [other], 2)
    assert sorted(map(sorted, out)) == [[0, 1], [2], [3]] or sorted(map(sorted, out)) == [[0], [1, 2], [3]]
    first = [b for b in out if 3 not in b][0]
    steps = [preps[n].plan.timeline.n_steps for n in first]
    assert steps == sorted(steps, reverse=True)
    with pytest.raises(ConfigError, match="replicas"):
        replicas.batches(preps, 0)


def test_bad_replica_requests_say_what_is_wrong():
    model, dt = _deterministic_model()
    runs = _runs(model, dt)
    with pytest.raises(ConfigError, match="network_operation"):
        build_replicas(model, runs, lowering="network_operation")
    with pytest.raises(ConfigError, match="Replica"):
        build_replicas(model, [runs[0].timeline])
    with pytest.raises(ConfigError, match="at least one"):
        build_replicas(model, [])
    with pytest.raises(ConfigError, match="replicas = 0"):
        run_many(_configs(), replicas=0)
    with pytest.raises(ConfigError, match="images must have shape"):
        build_replicas(model, [runs[0], Replica(runs[1].timeline, np.zeros((5, 3)), runs[1].connectivity)])
