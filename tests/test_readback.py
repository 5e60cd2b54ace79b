"""Read back only what is used: spike counts per slot instead of every training spike.

Every build counts each neuron's spikes (``spike_count``) and samples the counts at every slot;
responses per image, firing rates per phase and event counts come from those samples. A run
built with ``spikes="window"`` (what ``run`` uses on numpy, Cython and cpp_standalone) records
individual spikes only within the raster window around the first sleep. Both must be the same
simulation and give the same numbers as the spikes themselves.
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian.experiment import RunConfig, plan, response_counts, run, simulate, span_counts
from sleep_brian.models.paper import PaperParams, declare
from sleep_brian.network import raster_window
from sleep_brian.params import ScheduleParams
from sleep_brian.protocol import Sleep, Test, Wake, lower

ms, second = b2.ms, b2.second


def _case():
    model = declare(PaperParams())
    # wake 3 s so that the raster window (2 s either side of the first sleep) is a strict part
    tl = lower([Wake(np.arange(30), 100 * ms), Sleep(1 * second), Wake(np.arange(30, 40), 100 * ms),
                Test(np.arange(40, 45), 100 * ms)], model.dt)  # fmt: skip
    images = np.random.default_rng(0).random((45, 225)) * 0.3
    return model, tl, images


@pytest.fixture(scope="module")
def numpy_all():
    model, tl, images = _case()
    return simulate(model, tl, images, seed=3, device="numpy", spikes="all")[0]


def test_counts_per_slot_equal_the_spikes(numpy_all):
    model, tl, _ = _case()
    a = numpy_all
    assert len(a["spike_i_exc"]) > 300  # a silent network would prove nothing
    for pop in ("exc", "inh"):
        n = model.population(pop).size
        np.testing.assert_array_equal(a[f"slot_counts_{pop}"][-1], np.bincount(a[f"spike_i_{pop}"], minlength=n))
        for span in tl.spans_of("wake") + tl.spans_of("test"):
            np.testing.assert_array_equal(span_counts(a, pop, span),
                                          response_counts(a[f"spike_i_{pop}"], a[f"spike_step_{pop}"], span, n))  # fmt: skip


@pytest.mark.parametrize("device", ["numpy", pytest.param("cpp_standalone", marks=pytest.mark.standalone)])
def test_recording_only_the_window_is_the_same_simulation(device, numpy_all, tmp_path):
    """The run split in three parts (spike monitors on in the middle one only) changes no spike
    and no weight; the spikes kept are exactly those of the full recording within the window."""
    model, tl, images = _case()
    w, timings = simulate(model, tl, images, seed=3, device=device, spikes="window", build_root=tmp_path)
    lo, hi = raster_window([tl])
    assert 0 < lo < hi < tl.n_steps
    for k, want in numpy_all.items():
        if k.startswith("spike_"):
            continue
        if device == "numpy" or not k.startswith("w_"):
            np.testing.assert_array_equal(w[k], want, err_msg=k)
        else:  # the same arithmetic in C++: rounding only (tests/test_parity.py)
            np.testing.assert_allclose(w[k], want, rtol=1e-9, atol=1e-12, err_msg=k)
    for pop in ("exc", "inh"):
        st, i = numpy_all[f"spike_step_{pop}"], numpy_all[f"spike_i_{pop}"]
        sel = (st >= lo) & (st < hi)
        np.testing.assert_array_equal(w[f"spike_step_{pop}"], st[sel])
        np.testing.assert_array_equal(w[f"spike_i_{pop}"], i[sel])
    assert len(w["spike_i_exc"]) < 0.9 * len(numpy_all["spike_i_exc"])  # the window left spikes out
    if device == "cpp_standalone":
        # the program's loop time sums the three parts (not the last part's alone)
        assert timings["simulation_s"] > 0


def test_a_run_keeps_the_raster_and_per_image_responses():
    sch = ScheduleParams(n_train=60, n_fit=30, n_test=20, presentation=100 * ms, wake_block=3 * second, sleep_fraction=0.3)
    config = RunConfig(dataset="digits", seed=2, schedule=sch, device="numpy", control=False)
    res = run(config, progress=False)
    a, tl = res.arrays, plan(config).timeline
    lo, centre, hi = a["raster_window_steps"]
    assert centre == tl.spans_of("sleep")[0].start_step and (lo, hi) == raster_window([tl])
    assert len(a["raster_i_exc"]) and a["raster_step_exc"].min() >= lo and a["raster_step_exc"].max() < hi
    assert not any(k.startswith(("spike_", "slot_counts_")) for k in a)  # neither is stored
    assert a["counts_test"].shape == (20, 200) and a["counts_wake"].shape[0] == 60
    # the population rates come from the counts: spikes in the test phases (fit and test
    # images) over neurons and time
    rate = (a["counts_fit"].sum() + a["counts_test"].sum()) / (200 * (30 + 20) * 0.1)
    assert res.record["population_rates"]["exc"]["test"] == pytest.approx(rate)
    assert res.record["energy"]["spikes"]["exc"] >= a["counts_fit"].sum() + a["counts_test"].sum() + a["counts_wake"].sum()


def test_a_windowed_run_reports_no_name_clash():
    """The run in three parts must not let Brian2 resolve the model's names among the run
    function's locals (a local 'a' shadowed the neurons' adaptation 'a' with a warning). Brian2's
    logger does not propagate to the root logger, so a handler of our own listens to it."""
    import logging

    from sleep_brian.experiment import RunConfig, run
    from sleep_brian.params import ScheduleParams

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(f"{record.name}: {record.getMessage()}")

    keep = Keep()
    logging.getLogger("brian2").addHandler(keep)
    sched = ScheduleParams(n_train=6, n_fit=6, n_test=4, presentation=50 * b2.ms, wake_block=0.3 * b2.second,
                           sleep_fraction=0.5)  # fmt: skip
    try:
        run(RunConfig(device="numpy", schedule=sched, control=False), progress=False)
    finally:
        logging.getLogger("brian2").removeHandler(keep)
    clashes = [m for m in keep.messages if "resolution_conflict" in m]
    assert not clashes, clashes
