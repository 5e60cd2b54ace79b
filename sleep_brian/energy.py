"""What a run would cost in energy on neuromorphic hardware, from the events it produced.

Every record carries this estimate (``record["energy"]``): the run's spikes, synaptic events
and plasticity updates counted from its own spike trains and connectivity, priced at the
per-operation energies measured on Intel's Loihi chip (Davies et al. 2018, "Loihi: a
neuromorphic manycore processor with on-chip learning", IEEE Micro 38(1):82-99, Table 1):

- a synaptic spike operation (one spike delivered through one synapse): 23.6 pJ;
- a synaptic update (one weight changed by the learning engine): 120 pJ;
- a neuron update: 52 pJ per neuron and time step (the figure for an inactive neuron; an
  active one costs 81 pJ, and most neurons are inactive in most steps).

It is an estimate of the computation's cost on such hardware, not a measurement of this
machine (a CPU spends nanojoules per synaptic event), and it is what makes runs comparable: a
sleep phase that saves accuracy but doubles the synaptic events shows it here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PJ_PER_SYNAPTIC_EVENT", "PJ_PER_SYNAPTIC_UPDATE", "PJ_PER_NEURON_UPDATE", "count_events", "estimate"]

#: Loihi, Davies et al. 2018, Table 1 (picojoules).
PJ_PER_SYNAPTIC_EVENT = 23.6
PJ_PER_SYNAPTIC_UPDATE = 120.0
PJ_PER_NEURON_UPDATE = 52.0


def count_events(model, timeline, images, arrays: dict) -> dict:
    """The run's spikes per population (from its cumulative counts per slot,
    ``slot_counts_<population>``), synaptic events per pathway (each presynaptic spike
    times the spiking neuron's number of outgoing synapses) and weight updates per plastic
    pathway (the synaptic events while plasticity is on plus, where the synapse has ``on_post``
    code, each postsynaptic spike then times the neuron's number of incoming synapses).

    Input spikes are not recorded: the input layer's are its expected spikes (the spike
    probabilities on screen summed over the run), spread over its synapses by the mean fan-out.
    """
    from sleep_brian.timeline import NO_IMAGE

    sizes = model.groups
    plastic = np.asarray(timeline.plastic, dtype=float)
    spikes, spikes_plastic = {}, {}
    for pop in model.populations:
        if f"slot_counts_{pop.name}" not in arrays:
            continue  # a population without threshold never spikes
        per_slot = np.diff(arrays[f"slot_counts_{pop.name}"].astype(float), axis=0)  # (n_slots, n)
        spikes[pop.name] = per_slot.sum(axis=0)
        spikes_plastic[pop.name] = plastic @ per_slot
    enc = model.inputs.encoding
    p_scale = enc.gain * float(model.dt / enc.prob_dt_ref)
    per_image = np.append(np.asarray(images, dtype=float).sum(axis=1), 0.0) * p_scale * timeline.slot_steps
    shown = np.where(timeline.image == NO_IMAGE, len(images), timeline.image)
    per_slot = per_image[shown] * (1 - np.asarray(timeline.sleep, dtype=float))
    inputs = {"all": float(per_slot.sum()), "plastic": float(per_slot[np.asarray(timeline.plastic, dtype=bool)].sum())}
    events, updates = {}, {}
    for pw in model.pathways:
        i, j = arrays[f"i_{pw.name}"], arrays[f"j_{pw.name}"]
        out_deg = np.bincount(i, minlength=sizes[pw.source]).astype(float)
        if pw.source == model.inputs.name:
            n, n_plastic = (inputs[k] * float(out_deg.mean()) for k in ("all", "plastic"))
        elif pw.source in spikes:
            n, n_plastic = float(spikes[pw.source] @ out_deg), float(spikes_plastic[pw.source] @ out_deg)
        else:
            n = n_plastic = 0.0
        events[pw.name] = n
        if pw.plastic:
            post = 0.0
            if pw.synapse.on_post and pw.target in spikes:
                post = float(spikes_plastic[pw.target] @ np.bincount(j, minlength=sizes[pw.target]).astype(float))
            updates[pw.name] = n_plastic + post
    return {"spikes": {k: float(v.sum()) for k, v in spikes.items()}, "input_spikes": inputs["all"],
            "synaptic_events": events, "weight_updates": updates}  # fmt: skip


def estimate(model, timeline, images, arrays: dict) -> dict:
    """The run's events (:func:`count_events`) and their energy in joules at Loihi's figures."""
    c = count_events(model, timeline, images, arrays)
    n_neurons = sum(p.size for p in model.populations)
    syn = sum(c["synaptic_events"].values())
    upd = sum(c["weight_updates"].values())
    joules = {
        "synaptic_events_j": syn * PJ_PER_SYNAPTIC_EVENT * 1e-12,
        "weight_updates_j": upd * PJ_PER_SYNAPTIC_UPDATE * 1e-12,
        "neuron_updates_j": n_neurons * int(timeline.n_steps) * PJ_PER_NEURON_UPDATE * 1e-12,
    }
    return {
        **c,
        "total_synaptic_events": syn,
        "total_weight_updates": upd,
        **joules,
        "total_j": sum(joules.values()),
        "basis": "Loihi per-operation energies (Davies et al. 2018, IEEE Micro 38(1), Table 1): "
                 f"{PJ_PER_SYNAPTIC_EVENT} pJ per synaptic event, {PJ_PER_SYNAPTIC_UPDATE} pJ per weight update, "
                 f"{PJ_PER_NEURON_UPDATE} pJ per neuron and step",
    }  # fmt: skip
