"""Build an explicit ``b2.Network`` of the paper's model for a lowered protocol.

The network has three groups (``inputs``, ``exc``, ``inh``) and four plastic pathways
(:data:`~sleep_brian.params.PATHWAYS`). Connectivity is drawn with numpy from the run's seed, so
it is the same on every device; the random streams during the run (input spikes, sleep noise,
stochastic decay) come from Brian2's generator, seeded by the caller through
:func:`sleep_brian.devices.target`'s ``b2.seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2 as b2
import numpy as np

from sleep_brian import equations as eq
from sleep_brian.errors import ConfigError
from sleep_brian.params import PATHWAYS, ModelParams
from sleep_brian.timeline import NO_IMAGE, Timeline, sleep_grid

__all__ = [
    "BuiltNetwork",
    "Connectivity",
    "draw_connectivity",
    "build_network",
    "snapshot_plan",
    "decay_namespace",
    "settle_weights",
    "regime_switcher",
    "neuron_step_code",
    "attach_step_code",
    "weight_bounds",
    "record_index",
    "run_data",
    "initial_weight",
]

#: (source group, target group, inhibitory presynapse) per pathway
PATHWAY_ENDS = {
    "input_e": ("inputs", "exc", False),
    "e_e": ("exc", "exc", False),
    "e_i": ("exc", "inh", False),
    "i_e": ("inh", "exc", True),
}


@dataclass
class Connectivity:
    """Presynaptic and postsynaptic indices per pathway."""

    i: dict[str, np.ndarray]
    j: dict[str, np.ndarray]

    def n(self, pathway: str) -> int:
        return len(self.i[pathway])


def draw_connectivity(params: ModelParams, rng: np.random.Generator) -> Connectivity:
    """The paper's connection rule: independent Bernoulli draws per pair with probability p.

    No E->E self-connections; an I->E synapse is removed where the reciprocal E->I synapse
    exists (if ``remove_reciprocal_ie``).
    """
    c = params.connectivity
    sizes = {"inputs": c.n_input, "exc": c.n_exc, "inh": c.n_inh}
    masks = {}
    for name in PATHWAYS:
        src, tgt, _ = PATHWAY_ENDS[name]
        masks[name] = rng.random((sizes[src], sizes[tgt])) < getattr(c, name).p
    np.fill_diagonal(masks["e_e"], False)
    if c.remove_reciprocal_ie:
        masks["i_e"] &= ~masks["e_i"].T
    ii, jj = {}, {}
    for name, m in masks.items():
        ii[name], jj[name] = np.nonzero(m)
    return Connectivity(ii, jj)


#: Finest snapshot grid (in time steps) worth recording; see :func:`snapshot_plan`.
MIN_SNAPSHOT_STEPS = 100


def snapshot_plan(timeline: Timeline, n_synapses: int, budget: int = 8_000_000) -> tuple[int, float]:
    # n_synapses: of the largest pathway; the budget holds per pathway.
    """Choose how often to snapshot weights and what fraction of synapses to record.

    Snapshots fall on a grid whose step divides the start and end of every sleep
    (:func:`~sleep_brian.protocol.sleep_grid`), so the weights right before and after each sleep
    are recorded exactly. (Weights before and after training need no snapshot: the initial ones
    are known, and Test phases leave weights unchanged, so the final ones are the trained ones.)
    If the grid times the largest pathway's synapses would exceed ``budget`` stored values per
    pathway, an evenly spaced subset of synapses is recorded (the fraction returned; see
    :func:`record_index`). A grid finer than ``MIN_SNAPSHOT_STEPS`` (odd
    sleep durations such as 4,321 ms) records nothing (fraction 0): bringing every weight up to
    date that often would cost what the event-driven decay saves.

    Note: with the stochastic rule each catch-up draws random numbers, so the snapshot plan is
    part of what a seed reproduces.
    """
    grid = sleep_grid(timeline) or timeline.n_steps
    if grid < MIN_SNAPSHOT_STEPS:
        return grid, 0.0
    n_snaps = timeline.n_steps // grid + 1
    frac = min(1.0, budget / max(1, n_snaps * n_synapses))
    return grid, frac


def record_index(n_synapses: int, fraction: float, limit: int | None = None) -> np.ndarray:
    """Indices of the synapses whose weights are snapshot: all, or an evenly spaced subset.

    Synapses are ordered by presynaptic neuron, so even spacing samples every presynaptic neuron
    alike. ``limit`` caps the indices (a build reused across seeds must record indices that exist
    for every seed's connectivity).
    """
    top = n_synapses if limit is None else min(n_synapses, limit)
    n_rec = max(1, int(round(fraction * n_synapses)))
    if n_rec >= top:
        return np.arange(top)
    return np.unique(np.floor(np.arange(n_rec) * (top / n_rec)).astype(np.int64))


def run_data(params: ModelParams, timeline: Timeline, images: np.ndarray, conn: Connectivity | None) -> dict[str, np.ndarray]:
    """A run's data as the values of the TimedArrays that hold it, by TimedArray name.

    ``images`` is the lookup table (one row per image, plus a blank row shown when no image is on
    screen), ``image_schedule`` the row on screen per slot, and, given ``conn``, ``conn_<pathway>``
    the dense 0/1 connection matrix of each pathway (read by the reusable build's connect step
    only: at 6,400 E neurons the E->E one alone is 330 MB, so a fresh build passes None).
    """
    c = params.connectivity
    table = np.vstack([images, np.zeros((1, c.n_input))])
    shown = np.where(timeline.image == NO_IMAGE, len(images), timeline.image).astype(float)
    data = {"images": table, "image_schedule": shown}
    if conn is None:
        return data
    sizes = {"inputs": c.n_input, "exc": c.n_exc, "inh": c.n_inh}
    for pw in PATHWAYS:
        src, tgt, _ = PATHWAY_ENDS[pw]
        m = np.zeros((sizes[src], sizes[tgt]))
        m[conn.i[pw], conn.j[pw]] = 1.0
        data[f"conn_{pw}"] = m
    return data


@dataclass
class BuiltNetwork:
    """The network and the handles a run needs to read it back."""

    net: b2.Network
    groups: dict[str, b2.NeuronGroup]
    synapses: dict[str, b2.Synapses]
    spikes: dict[str, b2.SpikeMonitor]
    weight_monitors: dict[str, b2.StateMonitor] = field(default_factory=dict)
    weight_record: dict[str, np.ndarray] = field(default_factory=dict)
    connectivity: Connectivity | None = None
    snapshot_steps: int | None = None
    initial_weights: dict[str, np.ndarray] = field(default_factory=dict)
    #: The TimedArrays that hold a run's data (see :func:`run_data`), by name; with
    #: ``reusable=True`` a compiled build takes new values for all of them through ``run_args``.
    data_arrays: dict[str, b2.TimedArray] = field(default_factory=dict)


def _neuron_namespace(p: ModelParams, timeline_arrays: dict) -> dict:
    n = p.neuron
    ns = {k: getattr(n, k) for k in ("tau_m", "tau_syn", "R", "v_rest", "v_reset", "v_min", "v_max")}
    ns.update({k: getattr(n, k) for k in ("v_th0", "th_min", "th_max", "tau_a", "delta_a")})
    # Noise is white: its sd per step scales with sqrt(dt / noise_dt_ref).
    ns["noise_step"] = n.noise_sd * np.sqrt(float(p.dt / n.noise_dt_ref))
    ns["noise_sigma"] = n.noise_sd / np.sqrt(n.noise_dt_ref)  # the same noise as an xi term (genn lowering)
    ns["sleep_dt_ref"] = p.sleep.dt_ref
    ns["clock_tick"] = float(p.dt / p.sleep.dt_ref)
    ns.update(timeline_arrays)
    return ns


def decay_namespace(p: ModelParams, pathway: str) -> tuple[str, dict]:
    """The decay code (with ``SLEEP_CLOCK`` placeholder) and its constants for one pathway."""
    s = p.sleep
    inhibitory = PATHWAY_ENDS[pathway][2]
    ns = {"lam": s.lam}
    if s.rule == "power":
        ns["w_tar"] = s.w_tar_inh if inhibitory else s.w_tar_exc
        return eq.POWER_LAW_DECAY, ns
    w0 = getattr(p.connectivity, pathway).w0
    base = w0 if s.baseline == "initial" else (s.w_tar_inh if inhibitory else s.w_tar_exc)
    if base == 0 or np.sign(base) != (-1 if inhibitory else 1):
        raise ConfigError(
            f"stochastic decay baseline for {pathway} is {base}; it must be nonzero with the weights' sign "
            "(set SleepParams.baseline='target' or a nonzero initial weight)."
        )
    ns["w_base"] = base
    ns["sigma_log"] = s.sigma_log
    return eq.STOCHASTIC_DECAY, ns


def weight_bounds(params: ModelParams, pathway: str) -> tuple[float, float]:
    """The hard bounds [w_lo, w_hi] of a pathway's weights."""
    c = eq.stdp_constants(params.stdp, inhibitory_pre=PATHWAY_ENDS[pathway][2])
    return c["w_lo"], c["w_hi"]


def initial_weight(params: ModelParams, pathway: str) -> float:
    """Every synapse's starting weight in ``pathway``: its ``w0``, within the bounds."""
    return float(np.clip(getattr(params.connectivity, pathway).w0, *weight_bounds(params, pathway)))


def settle_weights(params: ModelParams, pathway: str, w, last_sleep, clock_now, rng: np.random.Generator):
    """Apply the decay still owed at the end of a run (the numpy twin of the Brian2 code)."""
    code, ns = decay_namespace(params, pathway)
    lo, hi = weight_bounds(params, pathway)
    e = ns["lam"] ** (clock_now - np.asarray(last_sleep))
    w = np.asarray(w, dtype=float)
    if "w_tar" in ns:
        out = ns["w_tar"] * (w / ns["w_tar"]) ** e
    else:
        x = np.log(w / ns["w_base"]) * e + ns["sigma_log"] * np.sqrt(1 - e**2) * rng.standard_normal(w.shape)
        out = ns["w_base"] * np.exp(x)
    return np.clip(out, lo, hi)


#: How a protocol's schedule reaches the network (see :func:`build_network`).
LOWERINGS = ("timed_array", "network_operation", "genn")


def neuron_step_code(lowering: str = "timed_array") -> str:
    """What every LIF neuron runs once per step outside its equations.

    ``timed_array``/``network_operation``: after integration, before the threshold test: the
    regime flags from the schedule (unless a NetworkOperation sets them), then membrane noise
    and clipping. ``genn``: at the start of the step: flags and clipping (the noise is in the
    equations, :data:`~sleep_brian.equations.neurons.LIF_ADAPTIVE_NOISE_IN_EQUATIONS`). The sleep
    clock ticks separately (:func:`attach_step_code`).
    """
    if lowering == "genn":
        return eq.REGIME_UPDATE + eq.MEMBRANE_CLIP
    regime = eq.REGIME_UPDATE if lowering == "timed_array" else ""
    return regime + eq.MEMBRANE_NOISE_AND_CLIP


def attach_step_code(group: b2.NeuronGroup, dt, lowering: str = "timed_array", *, lif: bool = True) -> None:
    """Attach the per-step code in the paper's order: [integrate] -> flags, noise, clip ->
    [threshold, synapses: STDP] -> sleep clock tick (so this step's decay follows its STDP).

    The ``genn`` lowering keeps that order with ``run_regularly`` in the start slot only
    (GeNN's rule): the tick of step k runs first thing in step k+1 (``order=-30``, before the
    snapshot catch-up at -20 and before the flags of step k+1 are read), so every reader sees
    the same count as with the tick at the end of step k.
    """
    if lowering == "genn":
        if lif:
            group.run_regularly(neuron_step_code(lowering), dt=dt, when="start")
        group.run_regularly(eq.SLEEP_CLOCK_TICK, dt=dt, when="start", order=-30)
        return
    if lif:
        group.run_regularly(neuron_step_code(lowering), dt=dt, when="before_thresholds")
    group.run_regularly(eq.SLEEP_CLOCK_TICK, dt=dt, when="end")


def sleep_clock_at(params: ModelParams, timeline: Timeline, grid: int) -> b2.TimedArray:
    """The sleep clock's value at the start of every ``grid``-th step, as a TimedArray.

    The clock is a function of the schedule alone (it counts sleep steps), so code that may not
    read a neuron's ``sleep_clock`` (GeNN's host-side synaptic ``run_regularly``) reads this.
    """
    step_sleep = np.repeat(timeline.sleep.astype(float), timeline.slot_steps)
    at_step = np.concatenate([[0.0], np.cumsum(step_sleep)]) * float(params.dt / params.sleep.dt_ref)
    return b2.TimedArray(at_step[::grid], dt=grid * params.dt, name="sleep_clock_grid")


def regime_switcher(timeline: Timeline, groups: dict, images: np.ndarray, p_scale: float) -> b2.NetworkOperation:
    """The schedule as a Python ``NetworkOperation``: the readable twin of the TimedArray lowering.

    At the start of every slot it looks up the slot's regime and sets the flags that the
    equations read, and the input probabilities of the image on screen. It runs before the
    code that reads the flags (``when='start', order=-5``) and sets them to the values the
    TimedArray lowering would, so both produce the same simulation (tests/test_parity.py). Standalone devices cannot
    run Python during a simulation (:mod:`sleep_brian.devices` refuses it).
    """
    slot_s = float(timeline.slot)

    def switch_regime(t):
        k = min(int(round(float(np.asarray(t)) / slot_s)), len(timeline.sleep) - 1)
        sleep, plastic = float(timeline.sleep[k]), float(timeline.plastic[k])
        for g in groups.values():
            g.sleep = sleep
            g.plastic = plastic
        # Wake and test show an image; sleep and rest show nothing.
        shown = timeline.image[k]
        groups["inputs"].p = 0.0 if shown == NO_IMAGE else p_scale * (1 - sleep) * images[shown]

    return b2.NetworkOperation(switch_regime, dt=timeline.slot, when="start", order=-5, name="regime_switcher")


def build_network(
    params: ModelParams,
    timeline: Timeline,
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    record_weights: bool = True,
    snapshot_budget: int = 8_000_000,
    initial_weights: dict[str, np.ndarray] | None = None,
    lowering: str = "timed_array",
    connectivity: Connectivity | None = None,
    reusable: bool = False,
    record_limit: dict[str, int] | None = None,
) -> BuiltNetwork:
    """Build the paper's network for ``timeline`` on the currently selected Brian2 device.

    Parameters
    ----------
    params : ModelParams
    timeline : Timeline
        The lowered protocol (:func:`sleep_brian.protocol.lower`); its ``dt`` must equal ``params.dt``.
    images : array (n_images, n_input)
        Pixel intensities in [0, 1]; the timeline's image indices point into it.
    rng : numpy Generator or None
        Draws the connectivity when ``connectivity`` is not given.
    record_weights : bool
        Record weight snapshots right before and after every sleep (see :func:`snapshot_plan`).
    initial_weights : dict, optional
        Per pathway, weights to start from instead of the constant ``w0``.
    lowering : {"timed_array", "network_operation", "genn"}
        How the schedule reaches the network. ``"timed_array"`` (default, every device but
        GeNN): the schedule is data in TimedArrays read by ``run_regularly``, compiled with the
        model. ``"network_operation"`` (runtime devices only, for teaching): a Python function
        switches the regime at every slot (:func:`regime_switcher`); it gives identical results
        on numpy. ``"genn"`` (chosen for the genn device; runs on every device): the
        ``timed_array`` lowering within GeNN's rules: one clock (``b2.defaultclock.dt`` is set to
        ``params.dt``), ``run_regularly`` only at the start of a step (noise in the equations,
        :func:`attach_step_code`), no neuron variables read by synaptic ``run_regularly``
        (:func:`sleep_clock_at`); ``method`` must be ``euler``. On cpp_standalone it gives the
        same spikes and weights as ``timed_array`` (tests/test_parity.py).
    connectivity : Connectivity, optional
        Use these connections instead of drawing them from ``rng``.
    reusable : bool
        Build so that one compiled program serves other seeds and data (standalone
        ``run_args``): synapses are created by the program from the ``conn_<pathway>`` matrices
        (:func:`run_data`) instead of fixed index lists, and initial weights must be constants.
        The connections and results are the same as without it.
    record_limit : dict, optional
        Per pathway, the smallest synapse count among the seeds a reusable build will serve;
        recorded synapse indices stay below it.
    """
    if lowering not in LOWERINGS:
        raise ConfigError(f"lowering = {lowering!r}; expected one of {', '.join(LOWERINGS)}.")
    genn = lowering == "genn"
    if genn and params.method != "euler":
        raise ConfigError(
            f"the genn lowering puts the sleep noise in the equations (an xi term), which needs method='euler', "
            f"not {params.method!r}."
        )
    c = params.connectivity
    images = np.asarray(images, dtype=float)
    if images.ndim != 2 or images.shape[1] != c.n_input:
        raise ConfigError(f"images must have shape (n_images, {c.n_input}); got {images.shape}.")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ConfigError("image intensities must lie in [0, 1] (they are spike probabilities per ms).")
    if int(timeline.image.max(initial=0)) >= len(images):
        raise ConfigError(f"the protocol shows image {int(timeline.image.max())} but only {len(images)} were given.")
    if abs(float(timeline.dt / params.dt) - 1) > 1e-9:
        raise ConfigError(f"timeline dt {timeline.dt} differs from the model's dt {params.dt}; lower with dt=params.dt.")

    conn = connectivity if connectivity is not None else draw_connectivity(params, rng)
    # GeNN allows one clock: everything but run_regularly and monitors runs on the default one.
    clock = {} if genn else {"dt": params.dt}
    if genn:
        b2.defaultclock.dt = params.dt
    data = run_data(params, timeline, images, conn if reusable else None)
    slot = timeline.slot
    arrays = {
        "sleep_schedule": b2.TimedArray(timeline.sleep.astype(float), dt=slot, name="sleep_schedule"),
        "plastic_schedule": b2.TimedArray(timeline.plastic.astype(float), dt=slot, name="plastic_schedule"),
    }
    # A blank row after the images is what "no image" (NO_IMAGE) shows.
    image_schedule = b2.TimedArray(data["image_schedule"], dt=slot, name="image_schedule")
    # A 2-D TimedArray used as a lookup table: row k is image k, addressed as images(k*ms, i).
    image_table = b2.TimedArray(data["images"], dt=1 * b2.ms, name="images")
    data_arrays = {"images": image_table, "image_schedule": image_schedule}

    input_ns = dict(
        arrays,
        image_schedule=image_schedule,
        images=image_table,
        p_scale=params.input.gain * float(params.dt / params.input.prob_dt_ref),
        clock_tick=float(params.dt / params.sleep.dt_ref),
    )
    inputs = b2.NeuronGroup(
        c.n_input, eq.INPUT_BERNOULLI, threshold="rand() < p", name="inputs", namespace=input_ns, **clock
    )
    if lowering in ("timed_array", "genn"):
        inputs.run_regularly(eq.INPUT_STIMULUS_UPDATE, dt=slot)
    attach_step_code(inputs, params.dt, lowering, lif=False)
    ns = _neuron_namespace(params, arrays)
    groups = {"inputs": inputs}
    for name, size in (("exc", c.n_exc), ("inh", c.n_inh)):
        g = b2.NeuronGroup(
            size,
            eq.LIF_ADAPTIVE_NOISE_IN_EQUATIONS if genn else eq.LIF_ADAPTIVE,
            threshold=eq.LIF_THRESHOLD,
            reset=eq.LIF_RESET,
            method=params.method,
            namespace=ns,
            name=name,
            **clock,
        )
        g.v = params.neuron.v_rest
        attach_step_code(g, params.dt, lowering)
        groups[name] = g
    extra = []
    if lowering == "network_operation":
        extra.append(regime_switcher(timeline, groups, images, input_ns["p_scale"]))

    q_syn = float(params.neuron.syn_dt_ref / params.neuron.tau_syn)
    synapses, weight_monitors, weight_record, start_weights = {}, {}, {}, {}
    grid, frac = snapshot_plan(timeline, max(conn.n(p) for p in PATHWAYS), snapshot_budget)
    clock_grid = sleep_clock_at(params, timeline, grid) if genn and record_weights and frac > 0 else None
    for pw in PATHWAYS:
        src, tgt, inhibitory = PATHWAY_ENDS[pw]
        consts = eq.stdp_constants(params.stdp, inhibitory_pre=inhibitory)
        consts["q_syn"] = q_syn
        decay_code, decay_ns = decay_namespace(params, pw)
        consts.update(decay_ns)
        S = b2.Synapses(
            groups[src],
            groups[tgt],
            model=eq.STDP_MODEL,
            on_pre=eq.for_side(decay_code, "post") + eq.STDP_ON_PRE,
            on_post=eq.for_side(decay_code, "pre") + eq.STDP_ON_POST,
            namespace=consts,
            name=pw,
            **clock,
        )
        if reusable:
            # The program creates the synapses from a 0/1 matrix that run_args can replace; the
            # generator visits pairs in the order of np.nonzero, so synapse k is the same.
            mask = b2.TimedArray(data[f"conn_{pw}"], dt=1 * b2.ms, name=f"conn_{pw}")
            data_arrays[mask.name] = mask
            S.connect(condition=f"conn_{pw}(i*ms, j) > 0.5", namespace={f"conn_{pw}": mask, "ms": b2.ms})
        else:
            S.connect(i=conn.i[pw], j=conn.j[pw])
        w_const = initial_weight(params, pw)
        if initial_weights is not None and pw in initial_weights:
            if reusable:
                raise ConfigError("a reusable build starts from constant weights; initial_weights need a fresh build.")
            w_init = np.asarray(initial_weights[pw], dtype=float)
            if w_init.shape != (conn.n(pw),):
                raise ConfigError(f"initial_weights[{pw!r}] has shape {w_init.shape}; expected ({conn.n(pw)},).")
            S.w = w_init
        else:
            w_init = np.full(conn.n(pw), w_const)
            S.w = w_const  # a scalar, so that a reused build serves any synapse count
        start_weights[pw] = w_init
        synapses[pw] = S
        if record_weights and conn.n(pw) and frac > 0:
            # Bring every weight up to date before each snapshot (the decay is event-driven).
            if genn:
                S.namespace["sleep_clock_grid"] = clock_grid
                catch_up = decay_code.replace("SLEEP_CLOCK", "sleep_clock_grid(t)")
            else:
                catch_up = eq.for_side(decay_code, "post")
            S.run_regularly(catch_up, dt=grid * params.dt, when="start", order=-20)
            idx = record_index(conn.n(pw), frac, (record_limit or {}).get(pw))
            # when='start', order=-10: the state at the step boundary, before this step's
            # run_regularly updates, i.e. exactly the weights at the end of the previous phase.
            weight_monitors[pw] = b2.StateMonitor(
                S, "w", record=idx, dt=grid * params.dt, when="start", order=-10, name=f"w_{pw}"
            )
            weight_record[pw] = idx

    spikes = {name: b2.SpikeMonitor(groups[name], name=f"spikes_{name}") for name in ("exc", "inh")}
    net = b2.Network(
        *groups.values(), *synapses.values(), *spikes.values(), *weight_monitors.values(), *extra, name="sleep_net"
    )
    return BuiltNetwork(
        net=net,
        groups=groups,
        synapses=synapses,
        spikes=spikes,
        weight_monitors=weight_monitors,
        weight_record=weight_record,
        connectivity=conn,
        snapshot_steps=grid,
        initial_weights=start_weights,
        data_arrays=data_arrays,
    )
