"""The GeNN target: its lowering (checked here on numpy and cpp_standalone), its install checks,
and, where brian2genn and a GeNN tree (GENN_PATH) are present, a run compared with cpp_standalone.

GeNN allows one clock, ``run_regularly`` only at the start of a step, no neuron variables in
synaptic ``run_regularly`` and no ``b2.seed()``. The ``genn`` lowering of
:func:`sleep_brian.network.build_network` obeys those rules on every target; on numpy and
cpp_standalone it gives bit-for-bit the run of the default lowering, which is what makes a GeNN
run the same model (its random streams are GeNN's own, so only statistics can be compared).
"""

import sys
import types

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices
from sleep_brian.errors import ConfigError, DeviceError
from sleep_brian.experiment import RunConfig, run
from sleep_brian.network import build_network
from sleep_brian.models.paper import PaperParams as ModelParams, ScheduleParams, SleepParams
from sleep_brian.models.paper import declare
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms = b2.ms


def _run(device, lowering, tmp_path, rule="stochastic"):
    # The single-clock lowering decays at every spike, draws the noise in every step and keeps
    # the STDP traces per synapse (GeNN has no custom events and a fixed schedule); the runs
    # match bit for bit only with the same choices (tests/test_decay_events.py,
    # tests/test_noise_asleep.py, tests/test_neuron_traces.py).
    decay = "spikes" if rule == "stochastic" else "auto"
    p = ModelParams(sleep=SleepParams(lam=0.999, rule=rule))  # strong decay: visible within 300 ms
    tl = lower([Wake(np.arange(3), 100 * ms), Sleep(300 * ms), Test(np.arange(3, 5), 100 * ms)], p.dt)
    images = np.random.default_rng(0).random((5, 225)) * 0.25
    with devices.target(device, build_root=tmp_path) as dev:
        dev.seed(11)
        built = build_network(declare(p), tl, images, np.random.default_rng(5), lowering=lowering, decay=decay,
                              noise="every_step", traces="synapse")  # fmt: skip
        dev.run(built.net, tl.duration)
        spikes = {g: (np.asarray(m.i[:]).copy(), np.asarray(m.t_[:]).copy()) for g, m in built.spikes.items()}
        weights = {k: np.asarray(S.w[:]).copy() for k, S in built.synapses.items()}
        snaps = {k: np.asarray(m.w[:]).copy() for k, m in built.weight_monitors.items()}
    return spikes, weights, snaps


def _identical(a, b):
    (sa, wa, na), (sb, wb, nb) = a, b
    assert len(sa["exc"][0]) > 50  # a silent network would prove nothing
    for g in sa:
        np.testing.assert_array_equal(sa[g][0], sb[g][0], err_msg=f"spiking neurons of {g}")
        np.testing.assert_array_equal(sa[g][1], sb[g][1], err_msg=f"spike times of {g}")
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"weights of {k}")
        np.testing.assert_array_equal(na[k], nb[k], err_msg=f"weight snapshots of {k}")
    assert any(np.ptp(na[k]) > 0 for k in na)  # the snapshots saw plasticity and decay


@pytest.mark.parametrize("rule", ["power", "stochastic"])
def test_genn_lowering_is_the_same_run_on_numpy(tmp_path, rule):
    """Noise in the equations, code at the start of the step, one clock, the sleep clock from a
    TimedArray: the same random numbers in the same order, so the same run, bit for bit (for
    the power law also against the default lowering's decay events)."""
    _identical(_run("numpy", "timed_array", tmp_path, rule), _run("numpy", "single_clock", tmp_path, rule))


@pytest.mark.standalone
@pytest.mark.slow
def test_genn_lowering_is_the_same_run_on_cpp_standalone(tmp_path):
    _identical(_run("cpp_standalone", "timed_array", tmp_path), _run("cpp_standalone", "single_clock", tmp_path))


def test_genn_lowering_needs_euler():
    p = ModelParams(method="exact")
    tl = lower([Wake(np.arange(1), 10 * ms)], p.dt)
    with pytest.raises(ConfigError, match="method='euler'"):
        build_network(declare(p), tl, np.zeros((1, 225)), np.random.default_rng(0), lowering="single_clock")


def test_the_genn_device_picks_the_genn_lowering():
    assert devices.lowering_for("genn") == "single_clock"
    assert devices.lowering_for("cpp_standalone") == "timed_array"
    assert devices.lowering_for("numpy", "network_operation") == "network_operation"


# --- install checks: each missing piece is named with its fix ---------------------------------


def test_genn_without_brian2genn_says_how(monkeypatch):
    monkeypatch.setitem(sys.modules, "brian2genn", None)  # `import brian2genn` raises ImportError
    with pytest.raises(DeviceError, match=r"pip install 'sleep-brian\[genn\]'") as exc:
        RunConfig(device="genn")
    assert "brian2 < 2.6" in str(exc.value) and "GeNN" in str(exc.value)


def test_genn_path_is_checked(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "brian2genn", types.ModuleType("brian2genn"))
    monkeypatch.delenv("GENN_PATH", raising=False)
    with pytest.raises(DeviceError, match="GENN_PATH is not set"):
        devices.check_device("genn")
    monkeypatch.setenv("GENN_PATH", str(tmp_path))
    with pytest.raises(DeviceError, match="not a GeNN source tree"):
        devices.check_device("genn")
    (tmp_path / "version.txt").write_text("5.2.0\n")
    with pytest.raises(DeviceError, match="needs GeNN 4.x"):
        devices.check_device("genn")
    (tmp_path / "version.txt").write_text("4.9.0\n")
    assert devices.check_device("genn") == "genn"


def test_genn_backend_can_be_forced(monkeypatch):
    monkeypatch.setenv(devices.GENN_BACKEND_ENV, "cpu")
    assert devices.genn_backend() == "cpu"
    monkeypatch.setenv(devices.GENN_BACKEND_ENV, "tpu")
    with pytest.raises(DeviceError, match="'cpu' or 'cuda'"):
        devices.genn_backend()


# --- a real GeNN, where there is one ------------------------------------------------------------


def _genn_missing() -> str:
    try:
        devices.check_device("genn")
    except DeviceError as exc:
        return str(exc)
    return ""


@pytest.mark.genn
@pytest.mark.slow
@pytest.mark.skipif(bool(_genn_missing()), reason=f"GeNN not available here: {_genn_missing()}")
def test_genn_run_agrees_with_cpp_standalone(tmp_path):
    """The same small protocol on GeNN and cpp_standalone. GeNN draws its own random numbers,
    so spikes are compared as totals and weights as means: the spike totals of the excitatory
    group (~1,000) differ by the random streams, about sqrt(1000) ~ 30 (3 %) per run; 20 %
    allows for that and the float32 clips of GeNN's kernels; the mean weights move little with
    the noise (1e-5 in checks) and a broken decay or STDP moves them by > 1 %."""
    sched = ScheduleParams(n_train=20, n_fit=20, n_test=20, presentation=100 * ms, wake_block=1 * b2.second,
                           sleep_fraction=0.2)  # fmt: skip
    out = {}
    for device in ("genn", "cpp_standalone"):
        out[device] = run(RunConfig(device=device, schedule=sched, control=False), progress=False, build_root=tmp_path)
    g, c = out["genn"].record, out["cpp_standalone"].record
    assert g["timings"]["genn_backend"] in ("cpu", "cuda")
    assert 0 < g["timings"]["simulation_s"] < g["timings"]["build_and_run_s"]  # the program's loop alone
    n_g, n_c = out["genn"].arrays["counts_test"].sum(), out["cpp_standalone"].arrays["counts_test"].sum()
    assert abs(n_g - n_c) <= 0.2 * n_c, (n_g, n_c)
    for pw, e in c["weights"].items():
        assert g["weights"][pw]["final"]["mean"] == pytest.approx(e["final"]["mean"], rel=0.01), pw
    # a seed is a seed on GeNN too
    again = run(RunConfig(device="genn", schedule=sched, control=False), progress=False, build_root=tmp_path)
    np.testing.assert_array_equal(again.arrays["counts_test"], out["genn"].arrays["counts_test"])


@pytest.mark.genn
@pytest.mark.slow
@pytest.mark.skipif(bool(_genn_missing()), reason=f"GeNN not available here: {_genn_missing()}")
def test_genn_runs_replicas(tmp_path):
    """Three runs as replicas of one GeNN simulation (the single-clock lowering with per-replica
    schedule columns; the same build is checked bit for bit against solo runs on numpy in
    tests/test_replicas.py): every replica gets a valid record with test responses."""
    from sleep_brian.experiment import run_many

    sched = ScheduleParams(n_train=20, n_fit=20, n_test=20, presentation=100 * ms, wake_block=1 * b2.second)
    configs = [RunConfig(device="genn", schedule=sched.replace(sleep_fraction=f), seed=s, control=False)
               for s, f in ((1, 0.2), (2, 0.4), (3, 0.0))]  # fmt: skip
    out = run_many(configs, progress=False, build_root=tmp_path, replicas=3)
    assert [r.record["build"]["replicas"] for r in out] == [3, 3, 3]
    assert all(r.arrays["counts_test"].sum() > 0 for r in out)
