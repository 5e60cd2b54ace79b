"""The same network, seed and protocol give the same spikes on numpy, cython and cpp_standalone.

numpy and cpp_standalone draw random numbers in the same order, so they agree exactly even with
Bernoulli inputs and sleep noise. Brian2's Cython target buffers its random numbers per code
object, which reorders the shared stream when several objects draw (inputs, two noise sources):
for it, exact parity is checked in a deterministic regime (binary images make ``rand() < p``
certain; zero membrane noise), which still runs every code path: input, STDP, decay, regimes.
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices
from sleep_brian.errors import DeviceError
from sleep_brian.network import build_network
from sleep_brian.models.paper import PaperParams as ModelParams, SleepParams
from sleep_brian.models.paper import declare
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms = b2.ms


def _run_on(device: str, tmp_path, deterministic=False):
    p = ModelParams(sleep=SleepParams(lam=0.999))  # strong decay: visible within 300 ms
    phases = [Wake(np.arange(3), 100 * ms), Sleep(300 * ms), Test(np.arange(3, 5), 100 * ms)]
    tl = lower(phases, p.dt)
    rng = np.random.default_rng(0)
    if deterministic:
        p = p.replace(neuron=p.neuron.replace(noise_sd=0 * b2.mV))
        images = (rng.random((5, 225)) < 0.3).astype(float)  # each pixel fires always or never
    else:
        images = rng.random((5, 225)) * 0.25
    with devices.target(device, build_root=tmp_path) as dev:
        b2.seed(11)
        built = build_network(declare(p), tl, images, np.random.default_rng(5))
        dev.run(built.net, tl.duration)
        counts = {g: np.bincount(np.asarray(m.i[:]), minlength=len(built.groups[g])) for g, m in built.spikes.items()}
        weights = {k: np.asarray(S.w[:]).copy() for k, S in built.synapses.items()}
    return counts, weights


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    return _run_on("numpy", tmp_path_factory.mktemp("np"))


@pytest.fixture(scope="module")
def reference_deterministic(tmp_path_factory):
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    return _run_on("numpy", tmp_path_factory.mktemp("npd"), deterministic=True)


def _same(ref, other):
    counts_ref, w_ref = ref
    counts, w = other
    assert sum(c.sum() for c in counts_ref.values()) > 50  # a silent network would prove nothing
    for g in counts_ref:
        np.testing.assert_array_equal(counts[g], counts_ref[g], err_msg=f"spike counts of {g}")
    for k in w_ref:
        # Same arithmetic in a different language: differences are rounding only (pow/exp).
        np.testing.assert_allclose(w[k], w_ref[k], rtol=1e-9, atol=1e-12, err_msg=f"weights of {k}")
    assert any(np.any(w_ref[k] != w_ref[k][0]) for k in w_ref)  # plasticity did something


@pytest.mark.standalone
@pytest.mark.slow
def test_cpp_standalone_matches_numpy(reference, tmp_path):
    _same(reference, _run_on("cpp_standalone", tmp_path))


@pytest.mark.slow
def test_cython_matches_numpy(reference_deterministic, tmp_path):
    _same(reference_deterministic, _run_on("cython", tmp_path, deterministic=True))


@pytest.mark.standalone
@pytest.mark.slow
def test_cpp_standalone_matches_numpy_deterministic(reference_deterministic, tmp_path):
    _same(reference_deterministic, _run_on("cpp_standalone", tmp_path, deterministic=True))


def test_standalone_refuses_network_operations(tmp_path):
    """cpp_standalone would silently drop a NetworkOperation; we refuse instead."""
    with devices.target("cpp_standalone", build_root=tmp_path) as dev:
        g = b2.NeuronGroup(1, "v : 1", name="g")
        op = b2.NetworkOperation(lambda: None, dt=1 * ms, name="pyop")
        net = b2.Network(g, op)
        with pytest.raises(DeviceError, match="NetworkOperation"):
            dev.run(net, 1 * ms)


@pytest.mark.parametrize("name", ["gpu", "", "GeNN"])
def test_unknown_devices_list_the_known_ones(name):
    """(genn and cuda_standalone that are not installed: tests/test_genn.py, tests/test_cuda.py)"""
    with pytest.raises(DeviceError, match="unknown device") as exc:
        devices.check_device(name)
    assert all(d in str(exc.value) for d in devices.DEVICES)


def test_target_resets_brian(tmp_path):
    with devices.target("cpp_standalone", build_root=tmp_path):
        assert b2.get_device().__class__.__name__ == "CPPStandaloneDevice"
    assert b2.get_device().__class__.__name__ == "RuntimeDevice"
    assert not any(tmp_path.iterdir())  # build folder removed


def test_network_operation_lowering_equals_timed_array():
    """The teaching lowering (Python switches the regime) gives the very same run on numpy."""
    p = ModelParams(sleep=SleepParams(rule="stochastic", lam=0.999))
    phases = [Wake(np.arange(3), 100 * ms), Sleep(300 * ms), Test(np.arange(3, 5), 100 * ms)]
    tl = lower(phases, p.dt)
    images = np.random.default_rng(0).random((5, 225)) * 0.25
    out = {}
    for lowering in ("timed_array", "network_operation"):
        b2.seed(11)
        built = build_network(declare(p), tl, images, np.random.default_rng(5), lowering=lowering)
        built.net.run(tl.duration)
        out[lowering] = (
            np.asarray(built.spikes["exc"].i[:]).copy(),
            np.asarray(built.spikes["exc"].t_[:]).copy(),
            {k: np.asarray(S.w[:]).copy() for k, S in built.synapses.items()},
        )
    (i1, t1, w1), (i2, t2, w2) = out["timed_array"], out["network_operation"]
    assert len(i1) > 50
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(t1, t2)
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])
