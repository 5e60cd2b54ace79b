"""Neuron and input models (Brian2 strings).

The regime (wake, sleep, test) reaches every group through two per-neuron flags, ``sleep`` and
``plastic``, which :data:`REGIME_UPDATE` reads from the schedule's TimedArrays. Per-neuron flags
(not shared variables) and TimedArrays read only inside ``run_regularly`` keep the models legal
on GeNN as well as on the runtime and C++ targets (docs/targets.md).
"""

#: Current-based leaky integrate-and-fire neuron with an adaptive threshold (paper; docs/model.md).
#:
#: - ``v`` (volt): membrane potential; relaxes to ``v_rest`` with ``tau_m``, driven by
#:   ``R * I_syn``. Sleep noise and clipping to [v_min, v_max] are composed on by the network
#:   builder (the model declares ``sleep_noise`` and ``clip``), once per time step after
#:   integration, exactly as the paper adds "sd 2 mV per 1 ms step".
#: - ``I_syn`` (dimensionless, the paper's units): synaptic current, decays with ``tau_syn``;
#:   each presynaptic spike of weight w adds ``w * q_syn`` (``q_syn = syn_dt_ref / tau_syn``, so
#:   that ``tau_syn dI/dt = -I + sum of weights of spikes per step`` as in the paper's Euler form).
#: - ``a`` (volt): threshold adaptation, decays with ``tau_a``, ``+ delta_a`` per spike.
#:
#: The builder adds the regime variables to every group: ``sleep``, ``plastic`` (1): flags, 0 or
#: 1, set every step from the schedule; ``sleep_clock`` (1): sleep time so far in units of the
#: sleep rule's ``dt_ref`` (it drives the event-driven weight decay, see
#: :mod:`~sleep_brian.equations.homeostasis`).
LIF_ADAPTIVE = """
dv/dt = (-(v - v_rest) + R * I_syn) / tau_m : volt
dI_syn/dt = -I_syn / tau_syn : 1
da/dt = -a / tau_a : volt
"""

#: Spike when v exceeds the adaptive threshold, itself clipped to [th_min, th_max].
LIF_THRESHOLD = "v > clip(v_th0 + a, th_min, th_max)"

#: Reset to ``v_reset`` and raise the threshold.
LIF_RESET = """
v = v_reset
a += delta_a
"""

#: Read the regime flags from the schedule (TimedArrays ``sleep_schedule``, ``plastic_schedule``).
#: (With the teaching lowering, a Python NetworkOperation sets the same flags instead.)
REGIME_UPDATE = """
sleep = sleep_schedule(t)
plastic = plastic_schedule(t)
"""

#: At the *end* of every step: count it if asleep (``clock_tick`` = dt / sleep_dt_ref, a
#: constant, so the count does not depend on which clock runs the code). Counting at the end
#: means a synapse used during step k has been decayed for steps < k only: STDP of step k comes
#: first and step k's decay after it, the order of the paper's loop. A plain counter, not an
#: ODE, so that the membrane equations stay a linear system that ``method='exact'`` can solve.
SLEEP_CLOCK_TICK = """
sleep_clock += sleep * clock_tick
"""

#: Bernoulli (rate-coded) input: a spike in a step with probability ``p`` (dimensionless).
#: ``sleep_clock`` counts sleep time exactly as the neurons' does (:data:`SLEEP_CLOCK_TICK`).
#: ``sleep`` and ``plastic`` mirror the regime so that synapses can gate plasticity with a
#: presynaptic reference only (GeNN forbids postsynaptic references in ``on_post``).
INPUT_BERNOULLI = """
sleep_clock : 1
p : 1
sleep : 1
plastic : 1
"""

#: Set each input's spike probability from the image shown now. ``image_schedule(t)`` is the
#: index of the image on screen (a TimedArray over the schedule); ``images(k * ms, i)`` is pixel
#: ``i`` of image ``k`` (a 2-D TimedArray used as a lookup table, so the pixel data are stored
#: once however often an image is shown). No input during sleep. ``p_scale`` = gain * dt /
#: prob_dt_ref turns intensity into a per-step probability.
INPUT_STIMULUS_UPDATE = REGIME_UPDATE + """
p = p_scale * (1 - sleep) * images(image_schedule(t) * ms, i)
"""
