"""The run's plumbing: response counting, random streams, presets, record safety."""

import json

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import store
from sleep_brian.errors import ConfigError, DataError
from sleep_brian.experiment import STREAMS, RunConfig, response_counts, stream
import dataclasses

from sleep_brian.model import InputLayer, Model, Population
from sleep_brian.models.paper import PaperParams as ModelParams
from sleep_brian.models.paper import lif_neuron
from sleep_brian.network import build_network
from sleep_brian.protocol import Sleep, Test, lower

ms = b2.ms


def test_response_counts_by_hand():
    tl = lower([Test(np.array([4, 7, 9]), 10 * ms)], 1 * ms)
    span = tl.spans[0]
    # neuron 0 fires at steps 0 and 9 (image 0), neuron 1 at 10 (image 1) and 29 (image 2);
    # a spike at step 30 is after the span and must not count.
    i = np.array([0, 0, 1, 1, 0])
    steps = np.array([0, 9, 10, 29, 30])
    counts = response_counts(i, steps, span, n_neurons=2)
    np.testing.assert_array_equal(counts, [[2, 0], [0, 1], [0, 1]])


def test_random_streams_are_distinct():
    """Every stream of a run, and the dataset's subset streams, give different numbers."""
    seed = 7
    states = {name: tuple(stream(seed, name).generate_state(4)) for name in STREAMS}
    data_streams = [tuple(s.generate_state(4)) for s in np.random.SeedSequence(seed).spawn(2)]
    all_states = list(states.values()) + data_streams
    assert len(set(all_states)) == len(all_states)
    assert tuple(stream(seed + 1, "connectivity").generate_state(4)) != states["connectivity"]


def test_model_preset_fills_the_model_and_its_schedule():
    cfg = RunConfig(model="authors", device="numpy")
    assert cfg.model.name == "authors" and cfg.model.pathway("e_e").synapse.name == "stdp_authors"
    assert cfg.schedule.repeat_batch == 300 and float(cfg.schedule.sleep_cap) == 10.0
    default = RunConfig(device="numpy")
    assert default.model.name == "paper-stochastic" and default.model.pathway("e_e").synapse.name == "stdp_causal"
    assert default.model.sleep_rule.name == "stochastic"


def test_presentation_must_be_whole_steps():
    with pytest.raises(ConfigError, match="whole number of time steps"):
        lower([Test(np.arange(2), 1.5 * ms)], 1 * ms)


def test_damaged_record_gives_a_clear_error_and_load_skips_it(tmp_path):
    store.save(tmp_path, "good", {"a": 1})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / store.RECORD_FILE).write_text("{not json")
    with pytest.raises(DataError, match="not a readable record"):
        store.load_record(bad)
    with pytest.warns(UserWarning, match="not a readable record"):
        records = store.load_records(tmp_path)
    assert records == [{"a": 1}]


def test_unwritable_out_dir_fails_before_simulating(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write records"):
        store.check_writable(blocker / "runs")


def test_config_with_path_data_dir_is_storable(tmp_path):
    cfg = RunConfig(device="numpy", data_dir=tmp_path)
    json.dumps(cfg.to_dict())  # a Path would make the record unwritable after the run
    assert cfg.data_dir == str(tmp_path)


def test_sleep_noise_is_added_after_integration():
    """The paper adds the noise to v after the Euler step, right before the threshold test.

    From v = v_rest with tau_m = 30 ms, one sleep step must leave v - v_rest with sd exactly
    noise_sd = 2 mV. Noise added before integration would be shrunk by the leak to
    2 mV x (1 - dt / tau_m) = 1.933 mV. With N = 20,000 the sd's standard error is
    2 / sqrt(2 N) = 0.010 mV, so the two differ by ~6.7 SE; the test allows 4 SE.
    """
    p = ModelParams()
    n = 20_000
    silent = dataclasses.replace(lif_neuron(p), threshold=None, reset=None)
    model = Model("noise", InputLayer(side=1), [Population("exc", n, silent), Population("out", 1, lif_neuron(p))], [],
                  readout="out")
    tl = lower([Sleep(1 * ms)], p.dt)
    b2.seed(3)
    built = build_network(model, tl, np.zeros((0, 1)), np.random.default_rng(0))
    built.net.run(1 * ms)
    dv = (np.asarray(built.groups["exc"].v_) - float(p.neuron.v_rest)) * 1e3
    se = 2.0 / np.sqrt(2 * n)
    assert abs(dv.std() - 2.0) < 4 * se


def test_flags_catch_runaway_saturation_and_silence():
    from sleep_brian.experiment import _flags

    def entry(start, end, at_min=0.0, at_max=0.0):
        return {
            "inhibitory": False,
            "before_training": {"abs_mean": start},
            "final": {"abs_mean": end, "frac_at_min": at_min, "frac_at_max": at_max, "saturation": at_min + at_max},
        }

    healthy = {"input_e": entry(0.15, 0.16), "i_e": entry(0.5, 0.45)}
    assert _flags(healthy, {"trained": {"rate_max_hz": 3.0}}) == {
        "nan_weights": [], "runaway": [], "saturated": [], "silent": False,
    }  # fmt: skip
    # the authors' STDP without sleep (measured): mean |w| 0.15 -> 4.3, 35 % at the lower bound
    authors = {"input_e": entry(0.15, 4.3, at_min=0.35, at_max=0.003)}
    f = _flags(authors, {})
    assert f["runaway"] == ["input_e"] and f["saturated"] == ["input_e"]
    # inhibitory weights run away toward their negative bound (frac_at_min)
    f = _flags({"i_e": {**entry(0.5, 0.6, at_min=0.2), "inhibitory": True}}, {})
    assert f["runaway"] == ["i_e"] and f["saturated"] == []
    f = _flags({"input_e": {"n_synapses": 3, "nan": True}}, {"trained": {"rate_max_hz": 0.0}})
    assert f["nan_weights"] == ["input_e"] and f["silent"]
    # nearly silent: paper-stochastic without sleep at 6,000 Fashion-MNIST images (seed 1,
    # measured): 0.22 % of E neurons fire per test image, against 14.2 % in its untrained control
    quiet = {"trained": {"rate_max_hz": 0.14, "mean_active_per_sample": 0.0022},
             "untrained": {"rate_max_hz": 13.8, "mean_active_per_sample": 0.142}}  # fmt: skip
    assert _flags(healthy, quiet)["silent"]
    # the same activity is not silence for a model whose control answers as sparsely
    sparse = {**quiet, "untrained": {"rate_max_hz": 13.8, "mean_active_per_sample": 0.004}}
    assert not _flags(healthy, sparse)["silent"]
    # without a control only a network that never fires is silent
    assert not _flags(healthy, {"trained": quiet["trained"]})["silent"]
