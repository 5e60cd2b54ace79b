"""The energy estimate of a record counts the run's events exactly (sleep_brian.energy)."""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import energy
from sleep_brian.models.paper import PaperParams, declare
from sleep_brian.protocol import Test, Wake, lower

ms = b2.ms


def _case():
    model = declare(PaperParams())
    tl = lower([Wake(np.arange(2), 100 * ms), Test(np.arange(2), 100 * ms)], model.dt)  # 200 plastic steps, 200 not
    images = np.zeros((2, 225))
    images[0, :10] = 0.5  # 5 expected input spikes per step while image 0 is on
    sizes = model.groups
    arrays = {}
    for pw in model.pathways:
        # neuron 0 of the source has 3 synapses, neuron 1 one; targets 0, 1, 2 and 0
        arrays[f"i_{pw.name}"] = np.array([0, 0, 0, 1])
        arrays[f"j_{pw.name}"] = np.array([0, 1, 2, 0])
        assert sizes[pw.source] > 1 and sizes[pw.target] > 2
    # exc neuron 0 spikes twice while plastic (steps 5, 150) and once in the test (step 250);
    # exc neuron 1 once while plastic; inh neuron 0 once in the test: as cumulative counts per slot
    spikes = {"exc": ([0, 0, 1, 0], [5, 150, 60, 250]), "inh": ([0], [300])}
    n_slots = len(tl.sleep)
    for pop, (i, step) in spikes.items():
        per_slot = np.zeros((n_slots, model.population(pop).size), dtype=int)
        np.add.at(per_slot, (np.array(step) // tl.slot_steps, np.array(i)), 1)
        arrays[f"slot_counts_{pop}"] = np.vstack([np.zeros((1, per_slot.shape[1]), int), np.cumsum(per_slot, axis=0)])
    return model, tl, images, arrays


def test_events_are_spikes_times_fan_out_and_updates_only_while_plastic():
    model, tl, images, arrays = _case()
    c = energy.count_events(model, tl, images, arrays)
    assert c["spikes"] == {"exc": 4.0, "inh": 1.0}
    # image 0 is shown for 100 steps in the wake and 100 in the test: 5 spikes per step each
    assert c["input_spikes"] == pytest.approx(1000.0)
    mean_fan_out = 4 / 225
    assert c["synaptic_events"]["input_e"] == pytest.approx(1000 * mean_fan_out)
    # e_e: neuron 0 (3 synapses) spikes 3 times, neuron 1 (1 synapse) once
    assert c["synaptic_events"]["e_e"] == 3 * 3 + 1 * 1
    assert c["synaptic_events"]["i_e"] == 1 * 3
    # while plastic: pre events of exc 0 (2 x 3) and exc 1 (1 x 1), plus on_post: post spikes of
    # exc 0 (2, in-degree 2) and exc 1 (1, in-degree 1) onto e_e
    assert c["weight_updates"]["e_e"] == 2 * 3 + 1 + 2 * 2 + 1 * 1
    # input_e while plastic: 500 expected input spikes, plus the same post-synaptic term
    assert c["weight_updates"]["input_e"] == pytest.approx(500 * mean_fan_out + 5)
    # i_e: the inhibitory spike falls in the test, but exc's plastic spikes update it post-synaptically
    assert c["weight_updates"]["i_e"] == 5


def test_energy_prices_the_events_at_the_cited_figures():
    model, tl, images, arrays = _case()
    e = energy.estimate(model, tl, images, arrays)
    assert e["synaptic_events_j"] == pytest.approx(e["total_synaptic_events"] * 23.6e-12)
    assert e["weight_updates_j"] == pytest.approx(e["total_weight_updates"] * 120e-12)
    assert e["neuron_updates_j"] == pytest.approx(250 * 400 * 52e-12)
    assert e["total_j"] == pytest.approx(e["synaptic_events_j"] + e["weight_updates_j"] + e["neuron_updates_j"])
    assert "Davies et al. 2018" in e["basis"]
