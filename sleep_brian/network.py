"""Build an explicit ``b2.Network`` from any declared :class:`~sleep_brian.model.Model`.

The builder lowers a declaration for a protocol's :class:`~sleep_brian.timeline.Timeline` and
composes the regime machinery onto it, the same for every model:

- every group gets the regime flags ``sleep`` and ``plastic`` and the sleep clock, read from the
  schedule's TimedArrays (or set by a Python ``NetworkOperation`` in the teaching lowering);
- the input layer shows the image on screen while awake and nothing while asleep;
- a population's declared :class:`~sleep_brian.model.Noise` is on during sleep only, and its
  declared clipping applies every step;
- a pathway's weight changes are gated by ``plastic_pre``/``plastic_post`` (0 in a pathway
  declared non-plastic), and its sleep rule is applied lazily: right before the synapse is used
  or its weight is recorded (:mod:`sleep_brian.equations.homeostasis`).

Connectivity is drawn with numpy from the run's seed, so it is the same on every device; the
random streams during the run (input spikes, sleep noise, stochastic decay) come from Brian2's
generator, seeded by the caller through :func:`sleep_brian.devices.target`'s ``b2.seed``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

import brian2 as b2
import numpy as np
from brian2.equations.codestrings import Expression
from brian2.equations.equations import SingleEquation
from brian2.utils.stringtools import word_substitute

from sleep_brian import equations as eq
from sleep_brian import sleep_exit as ex
from sleep_brian.errors import ConfigError, ModelError
from sleep_brian.model import DECAY_MARK, REGIME_VARIABLES, REPLICA_VARIABLES, Model, NeuronModel, Pathway, Population
from sleep_brian.timeline import NO_IMAGE, Timeline, sleep_grid

__all__ = [
    "BuiltNetwork",
    "Connectivity",
    "LOWERINGS",
    "draw_connectivity",
    "initial_weight_values",
    "normalize_schedule",
    "build_network",
    "build_replicas",
    "Replica",
    "Layout",
    "snapshot_plan",
    "settle_weights",
    "regime_switcher",
    "step_code",
    "attach_step_code",
    "neuron_namespace",
    "record_index",
    "run_data",
    "check_code",
    "raster_window",
    "SPIKE_RECORDING",
    "DECAY_SCHEDULES",
    "TRACE_PLACES",
    "NOISE_PLACES",
    "replica_data",
]

#: How a protocol's schedule reaches the network (see :func:`build_network`).
LOWERINGS = ("timed_array", "network_operation", "single_clock")

#: What the spike monitors record: ``"all"``, every spike of the run; ``"window"``, the spikes
#: within RASTER_HALF_WIDTH_S of the first sleep's start (the raster across the transition
#: that records keep; :func:`raster_window`). Responses, rates and event counts come from the
#: spike counts per slot, which every build records.
SPIKE_RECORDING = ("all", "window")
#: When the sleep rule's lazy decay is applied to a synapse (the decay owed since its last update,
#: :mod:`sleep_brian.equations.homeostasis`). ``"spikes"``: before every use of the synapse, at
#: every pre- and postsynaptic spike, asleep or awake. Awake, the sleep clock stands still, so the
#: decay owed is nil there, except at the first use after a sleep; computing that nil (for the
#: stochastic rule a ``randn``, a ``log``, an ``exp`` and two powers) was 57 % of a wake
#: simulation. ``"events"``: at spikes during sleep only, and once for every synapse at the
#: first step after each sleep (a custom Brian2 event, ``decay_due``, of the endpoint neurons:
#: its own synaptic pathways, ordered before the STDP pathways), so awake spikes cost only their
#: STDP. Both give every STDP update and every delivered spike the same up-to-date weight: for
#: deterministic rules bit for bit; the stochastic rule draws its noise at other events, which
#: changes the random stream but not the distribution (tests/test_decay_events.py). ``"auto"``:
#: ``"events"`` except on the single-clock lowering (GeNN has no custom events), and for the
#: pathways where an event cannot stand for the spike (an endpoint whose threshold draws random
#: numbers), which keep ``"spikes"``.
DECAY_SCHEDULES = ("auto", "events", "spikes")
#: Where the nearest-spike traces a synapse model declares (:class:`~sleep_brian.model.NeuronTrace`)
#: are kept. ``"neuron"``: once per neuron, multiplied by exp(-dt / tau) every step and set to 1
#: by the neuron's reset, with the ``on_post`` pathways of those synapses moved after the resets
#: ('after_resets') so that they see a presynaptic spike of the same step at 1; a synaptic event
#: then reads the trace instead of computing two ``exp`` and storing two traces and their last
#: update time per synapse. ``"synapse"``: per synapse, event-driven (reset to 1 in the
#: pathway), the form GeNN's fixed schedule needs. Both pair the same spikes with the same
#: windows; the values differ by rounding (a trace is exp(-dt/tau) ** k instead of a product of
#: exp(-(t_i - t_j)/tau)), ~1e-15 relative (tests/test_neuron_traces.py). ``"auto"``:
#: ``"neuron"`` except on the single-clock lowering.
TRACE_PLACES = ("auto", "neuron", "synapse")
#: Where the sleep noise is drawn. ``"every_step"``: ``v + sleep * noise_step * randn()`` for
#: every neuron in every step, a draw that is multiplied by 0 while awake. ``"asleep"``: for
#: the sleeping neurons only, by a custom Brian2 event (``asleep``, tested from the schedule
#: right before the step code) whose code adds the noise; the clip follows as before, so a
#: sleeping neuron gets the same clip(v + noise) from the same draw. While awake nothing is
#: drawn, which shifts the random stream of everything after the first awake step (not its
#: distribution: tests/test_noise_asleep.py). ``"auto"``: ``"asleep"`` except on the
#: single-clock lowering, whose noise is an ``xi`` term of the equations.
NOISE_PLACES = ("auto", "asleep", "every_step")
#: The custom event that triggers the decay (see DECAY_SCHEDULES).
DECAY_EVENT = "decay_due"
#: The custom event of the sleeping neurons that draws their noise (see NOISE_PLACES).
NOISE_EVENT = "asleep"
#: Half-width, in seconds, of the spike window kept around the first wake->sleep transition.
RASTER_HALF_WIDTH_S = 2.0


def raster_window(timelines: list) -> tuple[int, int] | None:
    """The steps ``[start, stop)`` within RASTER_HALF_WIDTH_S of the first sleep's start (of
    the end of the first wake block where there is no sleep): for several timelines, the
    smallest window holding each one's."""
    windows = []
    for tl in timelines:
        sleeps, wakes = tl.spans_of("sleep"), tl.spans_of("wake")
        centre = sleeps[0].start_step if sleeps else wakes[0].stop_step if wakes else None
        if centre is not None:
            half = int(round(RASTER_HALF_WIDTH_S / float(tl.dt)))
            windows.append((max(0, centre - half), centre + half))
    if not windows:
        return (0, 0)
    return min(w[0] for w in windows), max(w[1] for w in windows)


@dataclass
class Connectivity:
    """Presynaptic and postsynaptic indices per pathway, and the drawn initial weights of the
    pathways declared with ``w_init`` (``w[pathway][k]`` for synapse k)."""

    i: dict[str, np.ndarray]
    j: dict[str, np.ndarray]
    w: dict[str, np.ndarray] = field(default_factory=dict)

    def n(self, pathway: str) -> int:
        return len(self.i[pathway])


def draw_connectivity(model: Model, rng: np.random.Generator, weight_rng: np.random.Generator | None = None) -> Connectivity:
    """Draw every pathway's connections, in declaration order, from ``rng``.

    Self-connections are dropped where a pathway forbids them, then pairs that repeat an
    ``exclude_reciprocal_of`` pathway in the opposite direction. Then, for every pathway
    declared with ``w_init`` (in declaration order), a (n_source, n_target) matrix of initial
    weights is drawn from ``weight_rng`` (``rng`` if None, after the connections) and each
    synapse takes its entry; a model without ``w_init`` draws nothing more.
    """
    sizes = model.groups
    masks = {}
    for pw in model.pathways:
        masks[pw.name] = pw.connect.draw(sizes[pw.source], sizes[pw.target], rng)
    for pw in model.pathways:
        if not pw.connect.allow_self:
            np.fill_diagonal(masks[pw.name], False)
    for pw in model.pathways:
        if pw.connect.exclude_reciprocal_of is not None:
            masks[pw.name] &= ~masks[pw.connect.exclude_reciprocal_of].T
    ii, jj = {}, {}
    for name, m in masks.items():
        ii[name], jj[name] = np.nonzero(m)
    ww = {}
    for pw in model.pathways:
        if pw.w_init is not None:
            matrix = pw.w_init.draw(sizes[pw.source], sizes[pw.target], rng if weight_rng is None else weight_rng)
            ww[pw.name] = matrix[ii[pw.name], jj[pw.name]]
    return Connectivity(ii, jj, ww)


def initial_weight_values(model: Model, conn: Connectivity) -> dict[str, np.ndarray]:
    """Every synapse's starting weight per pathway: the drawn ``w_init`` values, else ``w0``."""
    out = {}
    for pw in model.pathways:
        if pw.w_init is not None:
            if pw.name not in conn.w:
                raise ModelError(
                    f"pathway {pw.name!r} declares w_init, but the connectivity holds no initial weights for it; "
                    "draw it with sleep_brian.network.draw_connectivity(model, rng)."
                )
            out[pw.name] = np.asarray(conn.w[pw.name], dtype=float)
        else:
            out[pw.name] = np.full(conn.n(pw.name), pw.initial_weight())
    return out


def normalize_schedule(timeline: Timeline) -> np.ndarray:
    """Per slot, 1 where a weight normalisation runs at the slot's start: at the start and end of
    every image shown in a Wake phase (see ``Pathway.normalize``), else 0."""
    marks = np.zeros(len(timeline.sleep))
    for span in timeline.spans_of("wake"):
        for step in range(span.start_step, span.stop_step + 1, span.steps_per_image):
            if step % timeline.slot_steps:
                raise AssertionError(f"image boundary {step} is not on the slot grid of {timeline.slot_steps} steps")
            if step // timeline.slot_steps < len(marks):
                marks[step // timeline.slot_steps] = 1.0
    return marks


#: Rescale the weights onto each target neuron so that their |w| sum to ``normalize_total``
#: where ``normalize_schedule`` says so (factor 1 elsewhere, and where the sum is 0).
NORMALIZE_CODE = """
w = w * (1 + normalize_schedule(t) * int(SUM_post != 0) * (normalize_total / (sgn * SUM_post + int(SUM_post == 0)) - 1))
"""


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


def run_data(model: Model, timeline: Timeline, images: np.ndarray, conn: Connectivity | None) -> dict[str, np.ndarray]:
    """A run's data as the values of the TimedArrays that hold it, by TimedArray name.

    ``images`` is the lookup table (one row per image, plus a blank row shown when no image is on
    screen), ``image_schedule`` the row on screen per slot, and, given ``conn``, ``conn_<pathway>``
    the dense 0/1 connection matrix of each pathway (read by the reusable build's connect step
    only: at 6,400 excitatory neurons the recurrent one alone is 330 MB, so a fresh build passes
    None), and ``winit_<pathway>`` the dense matrix of drawn initial weights of each pathway
    declared with ``w_init`` (0 where there is no synapse; read by the reusable build's weight
    initialisation).
    """
    table = np.vstack([images, np.zeros((1, model.inputs.size))])
    shown = np.where(timeline.image == NO_IMAGE, len(images), timeline.image).astype(float)
    data = {"images": table, "image_schedule": shown}
    if conn is None:
        return data
    sizes = model.groups
    for pw in model.pathways:
        m = np.zeros((sizes[pw.source], sizes[pw.target]))
        m[conn.i[pw.name], conn.j[pw.name]] = 1.0
        data[f"conn_{pw.name}"] = m
    for pw in model.pathways:
        if pw.w_init is not None:
            w = np.zeros((sizes[pw.source], sizes[pw.target]))
            w[conn.i[pw.name], conn.j[pw.name]] = initial_weight_values(model, conn)[pw.name]
            data[f"winit_{pw.name}"] = w
    return data


@dataclass
class BuiltNetwork:
    """The network and the handles a run needs to read it back."""

    model: Model
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
    #: Where each replica lies (:func:`build_replicas`); one replica for :func:`build_network`.
    layout: "Layout | None" = None
    #: Per spiking population, the monitor of its cumulative spike count at every slot start.
    counts: dict[str, b2.StateMonitor] = field(default_factory=dict)
    #: Time steps per sample of ``counts``.
    count_steps: int = 1
    #: ``(start_step, stop_step)``: the spike monitors record only within it (``spikes="window"``).
    spike_window: tuple[int, int] | None = None
    #: The sleep exit's counters at every slot start (:mod:`sleep_brian.sleep_exit`), if any.
    exit_counts: b2.StateMonitor | None = None

    def run(self, duration, report=None, report_period=10 * b2.second) -> None:
        """Run the network for ``duration``: in one go, or, with a spike window, in three parts
        with the spike monitors active in the middle one only (no cost outside the window).

        On cpp_standalone the program's simulation time (``last_run_info``) is then the sum of
        the three parts, as for one run."""
        # namespace={}: every name the code uses is in its group's namespace; without it Brian2
        # would also look among this function's locals, and warn where one shares a name with a
        # model variable (as the window's bounds did with the neurons' adaptation 'a').
        if self.spike_window is None:
            self.net.run(duration, report=report, report_period=report_period, namespace={})
            return
        total = int(round(float(duration / self.model.dt)))
        a, b = (min(max(0, s), total) for s in self.spike_window)
        parts = [(a, False), (b - a, True), (total - b, False)]
        standalone = type(b2.get_device()).__name__ == "CPPStandaloneDevice"
        if standalone:
            b2.device.insert_code("main", "double _sleep_brian_run_time = 0.0;")
        for steps, active in parts:
            if steps <= 0:
                continue
            for mon in self.spikes.values():
                mon.active = active
            self.net.run(steps * self.model.dt, report=report, report_period=report_period, namespace={})
            if standalone:
                b2.device.insert_code("main", "_sleep_brian_run_time += Network::_last_run_time;")
        if standalone:
            b2.device.insert_code("main", "Network::_last_run_time = _sleep_brian_run_time;")

    @property
    def objects(self):
        return self.net.objects


@dataclass
class Replica:
    """One run's share of a network built for several (:func:`build_replicas`): its lowered
    protocol, its images, its connections and (optionally) the weights it starts from."""

    timeline: Timeline
    images: np.ndarray
    connectivity: Connectivity
    initial_weights: dict[str, np.ndarray] | None = None


@dataclass
class Layout:
    """Where each of ``k`` replicas of one model lies in the network built for all of them.

    Replica r holds neurons ``[r * n, (r + 1) * n)`` of every group of per-replica size n, the
    synapses ``synapse_starts[pw][r]:synapse_starts[pw][r + 1]`` of every pathway, and the
    recorded synapses ``record_starts[pw][r]:record_starts[pw][r + 1]`` of the weight monitors.
    """

    k: int
    sizes: dict[str, int]
    synapse_starts: dict[str, np.ndarray]
    record_starts: dict[str, np.ndarray] = field(default_factory=dict)
    n_steps: tuple[int, ...] = ()

    def neurons(self, group: str, r: int) -> slice:
        n = self.sizes[group]
        return slice(r * n, (r + 1) * n)

    def synapses(self, pathway: str, r: int) -> slice:
        s = self.synapse_starts[pathway]
        return slice(int(s[r]), int(s[r + 1]))

    def recorded(self, pathway: str, r: int) -> slice:
        s = self.record_starts[pathway]
        return slice(int(s[r]), int(s[r + 1]))


def settle_weights(model: Model, pathway: str, w, last_sleep, clock_now, rng: np.random.Generator):
    """Apply the sleep decay still owed at the end of a run (the rule's numpy twin)."""
    pw = model.pathway(pathway)
    rule = model.rule_of(pw)
    w = np.asarray(w, dtype=float)
    if rule is None or rule.settle is None:
        return w
    out = rule.settle(w, clock_now - np.asarray(last_sleep), rule.constants(pw), rng)
    return np.clip(out, *pw.bounds)


def _clock_tick(model: Model) -> float:
    """Sleep-clock units per time step (the sleep rules' dt_ref; 1 ms when there is none)."""
    rules = [model.rule_of(pw) for pw in model.pathways if model.rule_of(pw) is not None]
    return float(model.dt / (rules[0].dt_ref if rules else 1 * b2.ms))


def step_code(nm: NeuronModel, lowering: str = "timed_array", noise: bool = True) -> str:
    """What a population of neuron model ``nm`` runs once per step outside its equations.

    ``timed_array``/``network_operation``: after integration, before the threshold test: the
    regime flags from the schedule (unless a NetworkOperation sets them), then the sleep noise
    and clipping the neuron declares. ``single_clock``: at the start of the step, flags and
    clipping (the noise is an ``xi`` term in the equations, :func:`_equations`). Clipping at
    the start of step k+1 instead of before the threshold test of step k is the same whenever
    the clip range holds every threshold value (as in the paper's neuron: the threshold, at most
    0 mV, lies inside [-100, 40] mV), since then a clip never decides a spike. ``noise=False``:
    without the noise (drawn for sleeping neurons only, by a custom event: :data:`NOISE_PLACES`).
    """
    lines = [eq.REGIME_UPDATE.strip()] if lowering != "network_operation" else []
    noisy = nm.sleep_noise.variable if nm.sleep_noise is not None and lowering != "single_clock" and noise else None
    for var, (lo, hi) in nm.clip.items():
        x = f"{var} + sleep * noise_step * randn()" if var == noisy else var
        lines.append(f"{var} = clip({x}, {lo}, {hi})")
    if noisy is not None and noisy not in nm.clip:
        lines.append(f"{noisy} = {noisy} + sleep * noise_step * randn()")
    return "\n" + "\n".join(lines) + "\n"


def attach_step_code(group: b2.NeuronGroup, dt, lowering: str = "timed_array", code: str | None = None) -> None:
    """Attach the per-step code in the paper's order: [integrate] -> flags, noise, clip ->
    [threshold, synapses: STDP] -> sleep clock tick (so this step's decay follows its STDP).

    The ``single_clock`` lowering keeps that order with ``run_regularly`` in the start slot only
    (GeNN's rule): the tick of step k runs first thing in step k+1 (``order=-30``, before the
    snapshot catch-up at -20 and before the flags of step k+1 are read), so every reader sees
    the same count as with the tick at the end of step k.
    """
    if lowering == "single_clock":
        if code is not None:
            group.run_regularly(code, dt=dt, when="start")
        group.run_regularly(eq.SLEEP_CLOCK_TICK, dt=dt, when="start", order=-30)
        return
    if code is not None:
        group.run_regularly(code, dt=dt, when="before_thresholds")
    group.run_regularly(eq.SLEEP_CLOCK_TICK, dt=dt, when="end")


def neuron_namespace(nm: NeuronModel, dt, clock_tick: float, arrays: dict) -> dict:
    """A neuron group's namespace: the model's parameters, the sleep noise's per-step constants,
    the sleep-clock tick and the schedule's TimedArrays."""
    ns = dict(nm.params, clock_tick=clock_tick, **arrays)
    if nm.sleep_noise is not None:
        # White noise: its sd per step scales with sqrt(dt / dt_ref).
        ns["noise_step"] = nm.sleep_noise.sd * np.sqrt(float(dt / nm.sleep_noise.dt_ref))
        ns["noise_sigma"] = nm.sleep_noise.sd / np.sqrt(nm.sleep_noise.dt_ref)  # the same noise as an xi term
    return ns


def _equations(pop: Population, single_clock: bool, sums: tuple = ()) -> b2.Equations:
    """The neuron's equations plus the regime variables (and, single-clock, the noise term), and
    the summed-weight variables ``sums`` of the normalised pathways onto it."""
    nm = pop.neuron
    eqs = b2.Equations(nm.equations)
    if single_clock and nm.sleep_noise is not None:
        var = nm.sleep_noise.variable
        single = eqs[var]
        if single.type != "differential equation":
            raise ModelError(f"population {pop.name!r}: the single-clock lowering puts sleep noise into d{var}/dt, "
                             f"but {var} is not a differential equation.")  # fmt: skip
        noisy = SingleEquation(single.type, var, single.dim, single.var_type,
                               expr=Expression(f"{single.expr.code} + sleep * noise_sigma * xi"), flags=single.flags)  # fmt: skip
        eqs = b2.Equations([noisy if name == var else e for name, e in eqs.items()])
    return eqs + b2.Equations("\n".join(f"{v} : 1" for v in (*REGIME_VARIABLES, *sums)))


def _sleep_clock_at(model: Model, timelines: list, grid: int, n_steps: int) -> b2.TimedArray:
    """The sleep clock's value at the start of every ``grid``-th step, as a TimedArray
    (per replica, (n_points, K), when there are several timelines).

    The clock is a function of the schedule alone (it counts sleep steps), so code that may not
    read a neuron's ``sleep_clock`` (GeNN's host-side synaptic ``run_regularly``) reads this.
    """
    columns = []
    for tl in timelines:
        step_sleep = np.repeat(tl.sleep.astype(float), tl.slot_steps)
        step_sleep = np.concatenate([step_sleep, np.zeros(n_steps - len(step_sleep))])  # at rest after its end
        at_step = np.concatenate([[0.0], np.cumsum(step_sleep)]) * _clock_tick(model)
        columns.append(at_step[::grid])
    values = columns[0] if len(columns) == 1 else np.stack(columns, axis=1)
    return b2.TimedArray(values, dt=grid * model.dt, name="sleep_clock_grid")


def regime_switcher(model: Model, timeline: Timeline, groups: dict, images: np.ndarray, p_scale: float) -> b2.NetworkOperation:
    """The schedule as a Python ``NetworkOperation``: the readable twin of the TimedArray lowering.

    At the start of every slot it looks up the slot's regime and sets the flags that the
    equations read, and the input probabilities of the image on screen. It runs before the
    code that reads the flags (``when='start', order=-5``) and sets them to the values the
    TimedArray lowering would, so both produce the same simulation (tests/test_parity.py).
    Standalone devices cannot run Python during a simulation (:mod:`sleep_brian.devices`
    refuses it).
    """
    slot_s = float(timeline.slot)
    inputs = groups[model.inputs.name]

    def switch_regime(t):
        k = min(int(round(float(np.asarray(t)) / slot_s)), len(timeline.sleep) - 1)
        sleep, plastic = float(timeline.sleep[k]), float(timeline.plastic[k])
        for g in groups.values():
            g.sleep = sleep
            g.plastic = plastic
        # Wake and test show an image; sleep and rest show nothing.
        shown = timeline.image[k]
        inputs.p = 0.0 if shown == NO_IMAGE else p_scale * (1 - sleep) * images[shown]

    return b2.NetworkOperation(switch_regime, dt=timeline.slot, when="start", order=-5, name="regime_switcher")


def _gate(code: str | None, plastic: bool) -> str:
    """Synapse code with the plasticity flags fixed at 0 for a pathway declared non-plastic."""
    if code is None:
        return ""
    return code if plastic else word_substitute(code, {"plastic_pre": "0", "plastic_post": "0"})


def build_network(
    model: Model,
    timeline: Timeline,
    images: np.ndarray,
    rng: np.random.Generator | None = None,
    *,
    record_weights: bool = True,
    snapshot_budget: int = 8_000_000,
    initial_weights: dict[str, np.ndarray] | None = None,
    lowering: str = "timed_array",
    connectivity: Connectivity | None = None,
    reusable: bool = False,
    record_limit: dict[str, int] | None = None,
    spikes: str = "all",
    decay: str = "auto",
    traces: str = "auto",
    noise: str = "auto",
) -> BuiltNetwork:
    """Build ``model`` for ``timeline`` on the currently selected Brian2 device.

    Parameters
    ----------
    model : Model
        Any declared model (:mod:`sleep_brian.model`).
    timeline : Timeline
        The lowered protocol (:func:`sleep_brian.protocol.lower`); its ``dt`` must equal ``model.dt``.
    images : array (n_images, n_input)
        Spike probabilities per step in [0, 1]; the timeline's image indices point into it.
    rng : numpy Generator or None
        Draws the connectivity when ``connectivity`` is not given.
    record_weights : bool
        Record weight snapshots right before and after every sleep (see :func:`snapshot_plan`).
    initial_weights : dict, optional
        Per pathway, weights to start from instead of the constant ``w0`` (or the ``w_init``
        draw that ``connectivity`` holds).
    lowering : {"timed_array", "network_operation", "single_clock"}
        How the schedule reaches the network. ``"timed_array"`` (default, every device but
        GeNN): the schedule is data in TimedArrays read by ``run_regularly``, compiled with the
        model (on cuda_standalone with every object on the default clock:
        :func:`on_default_clock`). ``"network_operation"`` (runtime devices only, for teaching):
        a Python function switches the regime at every slot (:func:`regime_switcher`); it gives
        identical results on numpy. ``"single_clock"`` (chosen for genn; runs on every device):
        the ``timed_array`` lowering within GeNN's rules: one clock (``b2.defaultclock.dt`` is
        set to ``model.dt``), ``run_regularly`` only at the start of a step (noise in the
        equations, :func:`step_code`), no neuron variables read by synaptic ``run_regularly``
        (:func:`_sleep_clock_at`); noisy neurons must use ``method='euler'``. On cpp_standalone it gives the same spikes and weights as
        ``timed_array`` (tests/test_parity.py).
    connectivity : Connectivity, optional
        Use these connections instead of drawing them from ``rng``.
    reusable : bool
        Build so that one compiled program serves other seeds and data (standalone
        ``run_args``): synapses are created by the program from the ``conn_<pathway>`` matrices
        (:func:`run_data`) instead of fixed index lists, and initial weights must be constants
        or ``w_init`` draws (read from the ``winit_<pathway>`` matrices of :func:`run_data`).
        The connections and results are the same as without it.
    record_limit : dict, optional
        Per pathway, the smallest synapse count among the seeds a reusable build will serve;
        recorded synapse indices stay below it.
    spikes : {"all", "window"}
        What the spike monitors record (:data:`SPIKE_RECORDING`). Either way every population's
        spikes are counted per slot of the schedule (``spike_count``, sampled by the
        ``counts_<population>`` monitors), which is all that responses, rates and event counts
        need.
    decay : {"auto", "events", "spikes"}
        When the sleep rule's decay reaches a synapse (:data:`DECAY_SCHEDULES`): ``"auto"``
        (default) applies it at decay events (spikes in sleep, and once after each sleep) where
        the lowering allows, so that awake spikes do not compute a decay that is nil.
    traces : {"auto", "neuron", "synapse"}
        Where the synapse models' nearest-spike traces are kept (:data:`TRACE_PLACES`):
        ``"auto"`` (default) once per neuron where the lowering allows.
    noise : {"auto", "asleep", "every_step"}
        Where the sleep noise is drawn (:data:`NOISE_PLACES`): ``"auto"`` (default) for the
        sleeping neurons only where the lowering allows.
    """
    _check_build(model, timeline, images, lowering)
    conn = connectivity if connectivity is not None else draw_connectivity(model, rng)
    run = Replica(timeline, np.asarray(images, dtype=float), conn, initial_weights)
    return _build(model, [run], record_weights=record_weights, snapshot_budget=snapshot_budget, lowering=lowering,
                  reusable=reusable, record_limit=record_limit, spikes=spikes, decay=decay, traces=traces,
                  noise=noise)  # fmt: skip


def build_replicas(
    model: Model,
    runs,
    *,
    record_weights: bool = True,
    snapshot_budget: int = 8_000_000,
    lowering: str = "timed_array",
    spikes: str = "all",
    decay: str = "auto",
    traces: str = "auto",
    noise: str = "auto",
) -> BuiltNetwork:
    """Build K independent replicas of ``model`` as one network: one compiled simulation.

    Every group holds K times its declared size (replica r owns neurons ``[r n, (r + 1) n)``,
    each with the constants ``replica`` = r and ``local_i``, its index within the replica), and
    every pathway the K replicas' synapses, concatenated with per-replica offsets: no synapse
    crosses replicas. Each replica reads its own column of the schedule (``sleep_schedule(t,
    replica)``, ...), so replicas may differ in seed, data, sleep fraction or any other part of
    the protocol; a replica whose protocol ends early rests (no input, no plasticity) until the
    longest one ends. The fixed cost of a time step (one call per code object) is shared by all
    K; the work per neuron and per synaptic event is not.

    Per replica, the simulation is the one :func:`build_network` builds for that run alone: the
    same connections, initial weights and schedule; with deterministic inputs (no random draws
    during the run) the same spikes and weights, bit for bit (tests/test_replicas.py). Random
    draws (input spikes, noise, stochastic decay) come from one generator for the whole network,
    so with them a replica is a different sample of the same process. Weight snapshots fall on
    a grid dividing every replica's sleep boundaries, with each replica recording the synapses
    it would record alone (the snapshot budget holds per replica and pathway).

    Parameters
    ----------
    model : Model
        The model every replica runs.
    runs : sequence of Replica
        Per replica, its lowered protocol, images (spike probabilities per step) and connections.
    record_weights, snapshot_budget, lowering, spikes, decay, traces, noise
        As in :func:`build_network` (the ``network_operation`` lowering runs one replica only).
    """
    runs = list(runs)
    if not runs:
        raise ConfigError("build_replicas needs at least one Replica.")
    for r in runs:
        if not isinstance(r, Replica):
            raise ConfigError(f"build_replicas takes sleep_brian.network.Replica objects, got {type(r).__name__}.")
        _check_build(model, r.timeline, r.images, lowering)
    if len(runs) > 1 and lowering == "network_operation":
        raise ConfigError("the network_operation lowering switches one schedule from Python; replicas need "
                          "lowering='timed_array' or 'single_clock'.")  # fmt: skip
    runs = [dataclasses.replace(r, images=np.asarray(r.images, dtype=float)) for r in runs]
    return _build(model, runs, record_weights=record_weights, snapshot_budget=snapshot_budget, lowering=lowering,
                  spikes=spikes, decay=decay, traces=traces, noise=noise)  # fmt: skip


def _build(model: Model, runs: list, *, record_weights: bool, snapshot_budget: int, lowering: str,
           reusable: bool = False, record_limit: dict | None = None, spikes: str = "all",
           decay: str = "auto", traces: str = "auto", noise: str = "auto") -> BuiltNetwork:  # fmt: skip
    """The builder behind :func:`build_network` (one replica) and :func:`build_replicas`."""
    if spikes not in SPIKE_RECORDING:
        raise ConfigError(f"spikes = {spikes!r}; expected one of {', '.join(SPIKE_RECORDING)}.")
    single = lowering == "single_clock"
    k = len(runs)
    for r in runs:
        for pw in model.pathways:
            if r.connectivity.n(pw.name) == 0:
                raise ModelError(
                    f"pathway {pw.name!r} drew no synapses (p too small for its populations); raise p or remove the pathway."
                )
    if reusable and k > 1:
        raise ConfigError("a reusable build (run_args) serves one replica; build replicas fresh (reusable=False).")
    default_clock = on_default_clock(lowering)
    if default_clock:
        b2.defaultclock.dt = model.dt
    if k == 1:
        data = run_data(model, runs[0].timeline, runs[0].images, runs[0].connectivity if reusable else None)
    else:
        data = replica_data(model, [r.timeline for r in runs], [r.images for r in runs])
    ctx = _Context(model, [r.timeline for r in runs], lowering, data, clock={} if default_clock else {"dt": model.dt},
                   tick=_clock_tick(model))  # fmt: skip
    ctx.decay_pathways, ctx.decay_groups = _decay_plan(model, lowering, decay)
    ctx.traces = _trace_plan(model, lowering, traces)
    ctx.noise_asleep = _noise_plan(lowering, noise)
    ctx.exit = ex.exit_plan(model, lowering)
    conns = [r.connectivity for r in runs]
    starts = {pw.name: np.concatenate([[0], np.cumsum([c.n(pw.name) for c in conns])]).astype(np.int64)
              for pw in model.pathways}  # fmt: skip
    layout = Layout(k, dict(model.groups), starts, n_steps=tuple(r.timeline.n_steps for r in runs))

    groups = {model.inputs.name: _input_layer(ctx)}
    for pop in model.populations:
        groups[pop.name] = _population(ctx, pop)
    extra, exit_counts = [], None
    # Linked before any pathway is made: the synapses take their references to the groups' variables then.
    if ctx.exit is not None:
        ctrl = ex.controller(ctx.exit, k, {"sleep_schedule": ctx.schedules["sleep_schedule"]}, ctx.code, ctx.clock)
        extra.append(ctrl)
        for name, g in groups.items():
            ex.link(ctx.exit, ctrl, g, name, model.groups[name], k)
            if name in ctx.exit.accumulates:
                extra.append(ex.reducer(ctx.exit, ctrl, g, name, model.groups[name], k, ctx.clock))
        # The controller's counters at every slot start: each sleep's length slept and its end.
        exit_counts = b2.StateMonitor(ctrl, ["slept", "exits", "scales"], record=True, dt=ctx.slot, when="start",
                                      order=-50, name="exit_counts")  # fmt: skip
        extra.append(exit_counts)
    if lowering == "network_operation":
        extra.append(regime_switcher(model, runs[0].timeline, groups, runs[0].images, ctx.p_scale))

    grid, fracs = _replica_snapshot_plan(model, runs, snapshot_budget)
    record = record_weights and any(f > 0 for f in fracs)
    if single and record and any(model.rule_of(pw) for pw in model.pathways):
        ctx.clock_grid = _sleep_clock_at(model, [r.timeline for r in runs], grid, ctx.n_steps)
    synapses, weight_monitors, weight_record, start_weights = {}, {}, {}, {}
    for pw in model.pathways:
        S, start_weights[pw.name] = _pathway(ctx, pw, groups, runs, reusable, grid, record)
        synapses[pw.name] = S
        if record:
            parts = [record_index(c.n(pw.name), f, (record_limit or {}).get(pw.name)) + starts[pw.name][r]
                     for r, (c, f) in enumerate(zip(conns, fracs))]  # fmt: skip
            idx = np.concatenate(parts)
            layout.record_starts[pw.name] = np.concatenate([[0], np.cumsum([len(p) for p in parts])])
            # when='start', order=-10: the state at the step boundary, before this step's
            # run_regularly updates, i.e. exactly the weights at the end of the previous phase.
            weight_monitors[pw.name] = b2.StateMonitor(
                S, "w", record=idx, dt=grid * model.dt, when="start", order=-10, name=f"w_{pw.name}"
            )
            weight_record[pw.name] = idx

    spiking = [pop.name for pop in model.populations if pop.neuron.threshold is not None]
    # Counts per slot: at a slot's start, spike_count holds the spikes of every earlier step.
    counts = {name: b2.StateMonitor(groups[name], "spike_count", record=True, dt=ctx.slot, when="start", order=-10,
                                    name=f"counts_{name}") for name in spiking}  # fmt: skip
    window = raster_window([r.timeline for r in runs]) if spikes == "window" else None
    monitors = {name: b2.SpikeMonitor(groups[name], name=f"spikes_{name}") for name in spiking}
    net = b2.Network(*groups.values(), *synapses.values(), *monitors.values(), *counts.values(),
                     *weight_monitors.values(), *extra, name="sleep_net")  # fmt: skip
    return BuiltNetwork(
        model=model,
        net=net,
        groups=groups,
        synapses=synapses,
        spikes=monitors,
        weight_monitors=weight_monitors,
        weight_record=weight_record,
        connectivity=conns[0] if k == 1 else None,
        counts=counts,
        count_steps=int(round(float(ctx.slot / model.dt))),
        spike_window=window,
        snapshot_steps=grid,
        initial_weights=start_weights,
        data_arrays=ctx.data_arrays,
        layout=layout,
        exit_counts=exit_counts,
    )


def on_default_clock(lowering: str) -> bool:
    """Whether a build puts every object on Brian2's default clock (set to the model's dt) rather
    than on clocks of its own (of the same dt: the same schedule, so the same simulation).

    GeNN allows one clock (the ``single_clock`` lowering). brian2cuda 1.0a7 needs it too, for
    any lowering: its synapse template reads ``defaultclock``, which is undeclared when every
    object has a clock of its own, and it refills its random-number buffers once per clock.
    Elsewhere the build keeps its own clocks, so it leaves the user's default clock alone."""
    if lowering == "single_clock":
        return True
    device = b2.get_device()
    return type(device).__module__.split(".")[0] == "brian2cuda"


def _replica_snapshot_plan(model: Model, runs: list, budget: int) -> tuple[int, list[float]]:
    """The snapshot grid shared by all replicas and the fraction of synapses each records.

    The grid divides every replica's own grid (:func:`snapshot_plan`), so each replica's sleep
    boundaries lie on it; each replica records the fraction it would record alone, so that the
    budget holds per replica (memory grows with K: :func:`sleep_brian.experiment.choose_replicas`
    accounts for it)."""
    plans = [snapshot_plan(r.timeline, max((r.connectivity.n(pw.name) for pw in model.pathways), default=0), budget)
             for r in runs]  # fmt: skip
    if len(runs) == 1:
        return plans[0][0], [plans[0][1]]
    grid = 0
    for g, _ in plans:
        grid = math.gcd(grid, g)
    if grid < MIN_SNAPSHOT_STEPS:
        return grid, [0.0] * len(runs)
    n_snaps = max(r.timeline.n_steps for r in runs) // grid + 1
    fracs = [min(1.0, budget / max(1, n_snaps * max((r.connectivity.n(pw.name) for pw in model.pathways), default=0)))
             for r in runs]  # fmt: skip
    return grid, fracs


def replica_data(model: Model, timelines: list, images: list) -> dict[str, np.ndarray]:
    """The data of K replicas as the values of the TimedArrays that hold it (cf. :func:`run_data`).

    ``images``: every replica's lookup table stacked (replica r's image k at row
    ``offset_r + k``), plus one blank row; ``image_schedule``: (n_slots, K), the row on screen per
    slot of the shared schedule and replica (the blank row where no image is shown and after a
    replica's protocol has ended).
    """
    slot_steps, n_slots = _shared_slots(timelines)
    table = np.vstack([*images, np.zeros((1, model.inputs.size))])
    blank = len(table) - 1
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in images])])
    shown = np.full((n_slots, len(timelines)), float(blank))
    for r, tl in enumerate(timelines):
        rows = np.where(tl.image == NO_IMAGE, blank, offsets[r] + tl.image).astype(float)
        shown[: tl.n_steps // slot_steps, r] = np.repeat(rows, tl.slot_steps // slot_steps)
    return {"images": table, "image_schedule": shown}


def _shared_slots(timelines: list) -> tuple[int, int]:
    """The slot (in steps) that divides every timeline's slot, and the number of such slots
    until the longest timeline ends."""
    slot = 0
    for tl in timelines:
        slot = math.gcd(slot, tl.slot_steps)
    return slot, max(tl.n_steps for tl in timelines) // slot


def _per_slot(timelines: list, values, fill: float = 0.0) -> np.ndarray:
    """Per-slot arrays of K timelines (``values(tl)``) on their shared slots, as (n_slots, K),
    ``fill`` after a timeline's end; each value is held over its timeline's slot (for marks that
    must fire once per slot, see :func:`_normalize_marks`)."""
    slot, n_slots = _shared_slots(timelines)
    out = np.full((n_slots, len(timelines)), float(fill))
    for r, tl in enumerate(timelines):
        out[: tl.n_steps // slot, r] = np.repeat(np.asarray(values(tl), dtype=float), tl.slot_steps // slot)
    return out


def _normalize_marks(timelines: list) -> np.ndarray:
    """:func:`normalize_schedule` of K timelines on their shared slots: a mark on the first shared
    slot of each marked slot only (a normalisation happens once per image boundary)."""
    slot, n_slots = _shared_slots(timelines)
    out = np.zeros((n_slots, len(timelines)))
    for r, tl in enumerate(timelines):
        marks = normalize_schedule(tl)
        rep = tl.slot_steps // slot
        out[np.flatnonzero(marks) * rep, r] = 1.0
    return out


def _check_build(model: Model, timeline: Timeline, images, lowering: str) -> None:
    """What :func:`build_network` refuses before it creates anything."""
    if not isinstance(model, Model):
        raise ConfigError(f"build_network needs a sleep_brian.model.Model, got {type(model).__name__}.")
    if lowering not in LOWERINGS:
        hint = " ('genn' is now called 'single_clock')" if lowering == "genn" else ""
        raise ConfigError(f"lowering = {lowering!r}; expected one of {', '.join(LOWERINGS)}{hint}.")
    if lowering == "single_clock":
        for pop in model.populations:
            if pop.neuron.sleep_noise is not None and pop.neuron.method != "euler":
                raise ConfigError(
                    f"population {pop.name!r}: the single_clock lowering puts the sleep noise in the equations "
                    f"(an xi term), which needs method='euler', not {pop.neuron.method!r}."
                )
        normalized = [pw.name for pw in model.pathways if pw.normalize is not None]
        if normalized:
            raise ConfigError(
                f"pathway(s) {', '.join(normalized)} declare normalize, which needs a summed variable and a synaptic "
                "run_regularly after the groups' update; the single_clock lowering (GeNN) allows neither. "
                "Use lowering='timed_array' (numpy, cython, cpp_standalone, cuda_standalone) or drop normalize."
            )
    n_input = model.inputs.size
    images = np.asarray(images, dtype=float)
    if images.ndim != 2 or images.shape[1] != n_input:
        raise ConfigError(f"images must have shape (n_images, {n_input}); got {images.shape}.")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ConfigError("image intensities must lie in [0, 1] (they are spike probabilities per step).")
    shown = timeline.image[timeline.image != NO_IMAGE]
    if shown.size and int(shown.max()) >= len(images):
        raise ConfigError(f"the protocol shows image {int(shown.max())} but only {len(images)} were given.")
    if abs(float(timeline.dt / model.dt) - 1) > 1e-9:
        raise ConfigError(f"timeline dt {timeline.dt} differs from the model's dt {model.dt}; lower with dt=model.dt.")


#: The schedule's TimedArrays, read as ``name(t)``; with replicas ``name(t, replica)``.
_SCHEDULE_CALL = re.compile(r"\b(sleep_schedule|plastic_schedule|image_schedule|normalize_schedule|sleep_clock_grid)\(t\)")


class _Context:
    """What every part of one build shares: the model, the schedule's TimedArrays, the clock."""

    def __init__(self, model: Model, timelines: list, lowering: str, data: dict, *, clock: dict, tick: float):
        self.model, self.timelines, self.lowering, self.data = model, timelines, lowering, data
        self.k = len(timelines)
        self.single = lowering == "single_clock"
        self.clock, self.tick = clock, tick
        if self.k == 1:
            tl = timelines[0]
            slot, sleep, plastic = tl.slot, tl.sleep.astype(float), tl.plastic.astype(float)
        else:
            steps, _ = _shared_slots(timelines)
            slot = steps * model.dt
            sleep = _per_slot(timelines, lambda tl: tl.sleep)  # 0 (awake, at rest) after a replica's end
            plastic = _per_slot(timelines, lambda tl: tl.plastic)
        self.slot = slot
        self.n_steps = max(tl.n_steps for tl in timelines)
        self.schedules = {
            "sleep_schedule": b2.TimedArray(sleep, dt=slot, name="sleep_schedule"),
            "plastic_schedule": b2.TimedArray(plastic, dt=slot, name="plastic_schedule"),
        }
        # A blank row after the images is what "no image" (NO_IMAGE) shows.
        self.image_schedule = b2.TimedArray(data["image_schedule"], dt=slot, name="image_schedule")
        # A 2-D TimedArray used as a lookup table: row k is image k, addressed as images(k*ms, i).
        self.image_table = b2.TimedArray(data["images"], dt=1 * b2.ms, name="images")
        #: The TimedArrays that hold the run's data, by name (run_args replaces them).
        self.data_arrays = {"images": self.image_table, "image_schedule": self.image_schedule}
        enc = model.inputs.encoding
        self.p_scale = enc.gain * float(model.dt / enc.prob_dt_ref)
        self.norm_table = None
        self.clock_grid = None
        #: Pathways whose sleep decay runs on decay events, and the populations that emit them.
        self.decay_pathways, self.decay_groups = set(), set()
        #: Per group, the neuron traces it keeps (name -> time constant); None: per synapse.
        self.traces: dict | None = None
        #: Whether the sleep noise is drawn for sleeping neurons only (NOISE_PLACES).
        self.noise_asleep = False
        #: The model's early end of sleep, if it declares one (:mod:`sleep_brian.sleep_exit`).
        self.exit: ex.ExitPlan | None = None

    def regime(self, code: str) -> str:
        """Regime code (flags from the schedule) for this build: gated by the sleep exit if any."""
        return ex.gate_regime(code) if self.exit is not None else code

    def code(self, code: str | None, side: str = "") -> str | None:
        """``code`` reading the schedule as this build does: per replica (the column of the
        replica of the neuron, or of the ``side`` neuron of a synapse) when there are several."""
        if code is None or self.k == 1:
            return code
        code = _SCHEDULE_CALL.sub(lambda m: f"{m.group(1)}(t, replica{'_' + side if side else ''})", code)
        return code.replace("* ms, i)", "* ms, local_i)")  # a pixel of the replica's own image

    def add_layout(self, group: b2.NeuronGroup, n: int) -> None:
        """Set the replica constants of a group holding K replicas of n neurons."""
        if self.k > 1:
            group.replica = np.repeat(np.arange(self.k), n)
            group.local_i = np.tile(np.arange(n), self.k)


def _replica_variables(k: int) -> str:
    return "\n".join(f"{v} : integer (constant)" for v in REPLICA_VARIABLES) if k > 1 else ""


def _input_layer(ctx: _Context) -> b2.NeuronGroup:
    """The Bernoulli input group: the image on screen while awake, nothing while asleep."""
    ns = dict(ctx.schedules, image_schedule=ctx.image_schedule, images=ctx.image_table, p_scale=ctx.p_scale,
              clock_tick=ctx.tick)  # fmt: skip
    model = ctx.model
    n = model.inputs.size
    decls, trace_step, resets, factors = _trace_parts(ctx, model.inputs.name, model.dt)
    ns.update(factors)
    exit_decls = ctx.exit.declarations(model.inputs.name) if ctx.exit is not None else ""
    events = ctx.exit.events(model.inputs.name) if ctx.exit is not None else {}
    inputs = b2.NeuronGroup(n * ctx.k, eq.INPUT_BERNOULLI + _replica_variables(ctx.k) + "\n" + decls + "\n" + exit_decls,
                            threshold="rand() < p", reset=resets or None, name=model.inputs.name, namespace=ns,
                            events=events or None, **ctx.clock)  # fmt: skip
    ctx.add_layout(inputs, n)
    if ctx.lowering in ("timed_array", "single_clock"):
        inputs.run_regularly(ctx.code(ctx.regime(eq.INPUT_STIMULUS_UPDATE)), dt=ctx.slot)
    if ctx.exit is not None:
        # An exit can fall within a slot: the flags follow it every step.
        trace_step = ctx.code(ctx.regime(eq.REGIME_UPDATE)) + (trace_step or "")
    attach_step_code(inputs, model.dt, ctx.lowering, trace_step or None)
    return inputs


def _population(ctx: _Context, pop: Population) -> b2.NeuronGroup:
    """One declared population, with the regime variables, sleep noise and per-step code."""
    nm = pop.neuron
    sums = tuple(pw.sum_variable for pw in ctx.model.pathways if pw.normalize is not None and pw.target == pop.name)
    eqs = _equations(pop, ctx.single, sums)
    if ctx.k > 1:
        eqs = eqs + b2.Equations(_replica_variables(ctx.k))
    if ctx.exit is not None:
        eqs = eqs + b2.Equations(ctx.exit.declarations(pop.name))
    reset = nm.reset
    if nm.threshold is not None:
        # Spikes so far: sampled once per slot, it gives every count the readouts need without
        # recording each spike (an integer, so exact however many).
        eqs = eqs + b2.Equations("spike_count : integer")
        reset = (reset or "").rstrip() + "\nspike_count += 1"
        if ctx.exit is not None:
            # The spikes of the time slept (an exited episode's idle rest is no sleep): the
            # sleep rates' numerator, as the slot counts cannot split a slot at an exit.
            eqs = eqs + b2.Equations(f"{ex.ASLEEP_COUNT} : integer")
            reset = reset + f"\n{ex.ASLEEP_COUNT} += int(sleep > 0.5)"
    decls, trace_step, trace_resets, factors = _trace_parts(ctx, pop.name, ctx.model.dt)
    if factors:
        eqs = eqs + b2.Equations(decls)
        reset = reset.rstrip() + "\n" + trace_resets
    events = {}
    if pop.name in ctx.decay_groups:
        # The decay is due at a spike during sleep and once at the first step after a sleep
        # (the clock has moved since the neuron's last decay event). Brian2 tests custom events
        # after the spike test ('after_thresholds'), which has by then marked a refractory
        # neuron's spike in lastspike (and made it refractory, so its threshold would now
        # read false); without refractoriness the spike test changes nothing, so its
        # condition (deterministic: see _decay_plan) gives the same answer again.
        eqs = eqs + b2.Equations(f"{DECAY_MARK} : 1")
        spiked = "lastspike == t" if nm.refractory not in (False, None) else f"({nm.threshold})"
        events[DECAY_EVENT] = f"(sleep > 0.5 and {spiked}) or (sleep < 0.5 and sleep_clock > {DECAY_MARK})"
    noise_event = ctx.noise_asleep and nm.sleep_noise is not None
    if noise_event:
        # The schedule, not the flag: the flags are set by the step code, after this test.
        asleep = "sleep > 0.5" if ctx.lowering == "network_operation" else ctx.code(ctx.regime("sleep_schedule(t) > 0.5"))
        events[NOISE_EVENT] = asleep
    if ctx.exit is not None:
        events.update(ctx.exit.events(pop.name))
    g = b2.NeuronGroup(
        pop.size * ctx.k,
        eqs,
        threshold=nm.threshold,
        reset=reset,
        refractory=nm.refractory,
        method=nm.method,
        namespace={**neuron_namespace(nm, ctx.model.dt, ctx.tick, ctx.schedules), **factors},
        name=pop.name,
        events=dict(events),  # a copy: Brian2 adds the spike event to the dict it is given
        **ctx.clock,
    )
    if DECAY_EVENT in events:
        g.run_on_event(DECAY_EVENT, f"{DECAY_MARK} = sleep_clock")
    if NOISE_EVENT in events:
        # Tested and applied right before the step code (order 0), which clips after the noise.
        var = nm.sleep_noise.variable
        g.set_event_schedule(NOISE_EVENT, when="before_thresholds", order=-2)
        g.run_on_event(NOISE_EVENT, f"{var} = {var} + noise_step * randn()", when="before_thresholds", order=-1)
    ctx.add_layout(g, pop.size)
    for var, value in nm.initial.items():
        setattr(g, var, value)
    code = ctx.code(ctx.regime(step_code(nm, ctx.lowering, noise=not noise_event)))
    attach_step_code(g, ctx.model.dt, ctx.lowering, code.rstrip() + "\n" + trace_step if trace_step else code)
    return g


def _pathway(ctx: _Context, pw: Pathway, groups: dict, runs: list, reusable: bool, grid: int,
             record: bool) -> tuple[b2.Synapses, np.ndarray]:  # fmt: skip
    """One declared pathway: its synapses with gating, the lazy sleep rule (and its catch-up
    before snapshots), normalisation, connections and initial weights. Returns the synapses and
    the weights they start from (all replicas', concatenated)."""
    model = ctx.model
    syn, rule = pw.synapse, model.rule_of(pw)
    consts = dict(syn.params, sgn=pw.sign)
    if pw.bounds is not None:
        consts.update(w_lo=float(pw.bounds[0]), w_hi=float(pw.bounds[1]))
    decay_code = ""
    per_neuron = ctx.traces is not None
    lowered = syn if per_neuron else syn.per_synapse()
    syn_model, pre_code, post_code = lowered.model, lowered.on_pre, lowered.on_post
    if rule is not None:
        consts.update(rule.constants(pw))
        decay_code = rule.code
        syn_model = syn_model.rstrip() + "\nlast_sleep : 1\n"
    on_pre, on_post = _gate(pre_code, pw.plastic), _gate(post_code or None, pw.plastic)
    if pw.normalize is not None:
        # The sum onto each target, updated every step in the 'groups' slot (Brian2's summed
        # variable), so that at a slot's start it holds every change up to the last step.
        syn_model = syn_model.rstrip() + f"\n{pw.sum_variable}_post = w : 1 (summed)\n"
    events = {}
    if pw.name in ctx.decay_pathways:
        # The decay on its own pathways, triggered by the endpoints' decay events (see
        # DECAY_SCHEDULES); a source without them is the input layer, silent in sleep.
        on_pre = {"pre": on_pre} if on_pre else {}
        on_post = {"post": on_post} if on_post else {}
        if pw.source in ctx.decay_groups:
            on_pre["decay_pre"], events["decay_pre"] = eq.for_side(decay_code, "post"), DECAY_EVENT
        on_post["decay_post"], events["decay_post"] = eq.for_side(decay_code, "pre"), DECAY_EVENT
    else:
        on_pre = eq.for_side(decay_code, "post") + on_pre
        on_post = (eq.for_side(decay_code, "pre") + on_post) if on_post else None
    if ctx.exit is not None and pw.name in ctx.exit.group_of:
        # The sleep exit's sums (and, scale_to_target, its rescaling): sleep_brian.sleep_exit.
        on_pre = on_pre if isinstance(on_pre, dict) else ({"pre": on_pre} if on_pre else {})
        on_post = on_post if isinstance(on_post, dict) else ({"post": on_post} if on_post else {})
        events.setdefault("pre", "spike")
        if "post" in on_post:
            events.setdefault("post", "spike")
        on_pre["exit_sum"] = ex.sum_code(ctx.exit, pw.name, eq.for_side(decay_code, "post"))
        events["exit_sum"] = ex.CHECK_EVENT
        if ctx.exit.scaling:
            on_pre["exit_scale"], events["exit_scale"] = ex.scale_code(ctx.exit, pw.name), ex.END_EVENT
    # Every pathway acts in the step of its spike: one scalar delay of 0 instead of Brian2's
    # default per-synapse delay array (8 bytes per synapse and pathway, ~80 MB per pathway of
    # the paper's network at 6,400 E; benchmarks/scaling.py).
    names = [n for side, code in (("pre", on_pre), ("post", on_post)) if code
             for n in (code if isinstance(code, dict) else [side])]  # fmt: skip
    S = b2.Synapses(
        groups[pw.source],
        groups[pw.target],
        model=syn_model,
        on_pre=on_pre,
        on_post=on_post or None,
        on_event=events or "spike",
        delay={n: 0 * b2.ms for n in names},
        namespace=consts,
        name=pw.name,
        **ctx.clock,
    )
    for name, order in (("decay_pre", -2), ("decay_post", -2), ("exit_sum", -10), ("exit_scale", -5)):
        if name in events:
            _decay_only(getattr(S, name), order)
    if per_neuron and syn.traces and "post" in S._synaptic_updaters:
        # After the resets, which set the traces of this step's spikes to 1: a presynaptic spike
        # of the same step pairs as pre before post (NeuronTrace). Nothing of the resets reads a
        # weight, so the weights are the same.
        S.post.when = "after_resets"
    conn = runs[0].connectivity
    if reusable:
        # The program creates the synapses from a 0/1 matrix that run_args can replace; the
        # generator visits pairs in the order of np.nonzero, so synapse k is the same.
        mask = b2.TimedArray(ctx.data[f"conn_{pw.name}"], dt=1 * b2.ms, name=f"conn_{pw.name}")
        ctx.data_arrays[mask.name] = mask
        S.connect(condition=f"conn_{pw.name}(i*ms, j) > 0.5", namespace={f"conn_{pw.name}": mask, "ms": b2.ms})
    elif len(runs) == 1:
        S.connect(i=conn.i[pw.name], j=conn.j[pw.name])
    else:
        # Replica r's neurons are offset by r times the group size: no synapse crosses replicas,
        # and within a replica the synapses keep their order (so does every sum over them).
        n_src, n_tgt = model.groups[pw.source], model.groups[pw.target]
        S.connect(i=np.concatenate([r.connectivity.i[pw.name] + k * n_src for k, r in enumerate(runs)]),
                  j=np.concatenate([r.connectivity.j[pw.name] + k * n_tgt for k, r in enumerate(runs)]))  # fmt: skip
    w_start = _initial_weights(ctx, pw, S, runs, reusable)
    if pw.normalize is not None:
        if ctx.norm_table is None:
            marks = normalize_schedule(ctx.timelines[0]) if ctx.k == 1 else _normalize_marks(ctx.timelines)
            ctx.norm_table = b2.TimedArray(marks, dt=ctx.slot, name="normalize_schedule")
        S.namespace.update(normalize_schedule=ctx.norm_table, normalize_total=float(pw.normalize))
        # 'after_groups': after this step's summation ('groups'), before any synapse acts.
        S.run_regularly(ctx.code(NORMALIZE_CODE.replace("SUM", pw.sum_variable), "post"), dt=ctx.slot,
                        when="after_groups", name=f"{pw.name}_normalize")  # fmt: skip
        if rule is not None and any(tl.spans_of("sleep") for tl in ctx.timelines) and not record:
            # The sums must be of up-to-date weights: bring them up to date at the end of
            # every sleep (the snapshots below do it when weights are recorded).
            S.run_regularly(eq.for_side(decay_code, "post"), dt=grid * model.dt, when="start", order=-20)
    if record and rule is not None:
        # Bring every weight up to date before each snapshot (the decay is event-driven).
        if ctx.single:
            S.namespace["sleep_clock_grid"] = ctx.clock_grid
            catch_up = ctx.code(decay_code.replace("SLEEP_CLOCK", "sleep_clock_grid(t)"), "pre")
        else:
            catch_up = eq.for_side(decay_code, "post")
        S.run_regularly(catch_up, dt=grid * model.dt, when="start", order=-20)
    return S, w_start


def _decay_only(pathway, order: int = -2) -> None:
    """Run a decay pathway's own code only, first in the synapses slot of its step.

    Brian2 prepends to every pathway the update of the synapses' event-driven variables (the
    STDP traces) and appends ``lastupdate = t``. A decay pathway reads no trace; advancing the
    traces there would advance them in two steps where the STDP pathway alone advances them in
    one, which changes their last bits. ``order=-2``: before every STDP pathway (Brian2's
    ``pre`` pathways run at -1, ``post`` ones at +1), so each sees the weight up to date.
    """
    code = pathway.code

    def update_abstract_code(*args, **kwargs):
        pathway.abstract_code = code + "\n"

    pathway.update_abstract_code = update_abstract_code
    pathway.order = order


def _decay_plan(model: Model, lowering: str, decay: str) -> tuple[set, set]:
    """The pathways whose sleep decay runs on decay events, and the populations emitting them
    (:data:`DECAY_SCHEDULES`)."""
    if decay not in DECAY_SCHEDULES:
        raise ConfigError(f"decay = {decay!r}; expected one of {', '.join(DECAY_SCHEDULES)}.")
    if decay == "spikes" or (decay == "auto" and lowering == "single_clock"):
        return set(), set()
    if lowering == "single_clock":
        raise ConfigError("decay='events' needs custom Brian2 events, which the single_clock lowering (GeNN's rules) "
                          "does not use; pass decay='auto' or 'spikes'.")  # fmt: skip
    pops = {p.name: p for p in model.populations}

    def can_emit(name: str) -> bool:
        if name == model.inputs.name:
            return True  # silent in sleep: it needs no event
        threshold = pops[name].neuron.threshold
        # A threshold that draws random numbers would draw them again for the event.
        return threshold is not None and not re.search(r"\b(rand|randn|poisson)\s*\(", threshold)

    pathways = set()
    for pw in model.pathways:
        if model.rule_of(pw) is None:
            continue
        if can_emit(pw.source) and can_emit(pw.target):
            pathways.add(pw.name)
        elif decay == "events":
            raise ConfigError(f"pathway {pw.name!r}: a threshold of {pw.source!r} or {pw.target!r} draws random numbers, "
                              "so no decay event can stand for its spikes; pass decay='auto' (it keeps decay at "
                              "spikes there) or 'spikes'.")  # fmt: skip
    groups = {end for pw in model.pathways if pw.name in pathways for end in (pw.source, pw.target)}
    return pathways, groups - {model.inputs.name}


def _trace_plan(model: Model, lowering: str, traces: str) -> dict | None:
    """Per group, the neuron traces it keeps (name -> time constant), or None when the traces
    are kept per synapse (:data:`TRACE_PLACES`)."""
    if traces not in TRACE_PLACES:
        raise ConfigError(f"traces = {traces!r}; expected one of {', '.join(TRACE_PLACES)}.")
    if traces == "synapse" or (traces == "auto" and lowering == "single_clock"):
        return None
    if lowering == "single_clock":
        raise ConfigError("traces='neuron' moves on_post pathways after the resets, which GeNN's fixed schedule (the "
                          "single_clock lowering) does not allow; pass traces='auto' or 'synapse'.")  # fmt: skip
    plan: dict = {}
    for pw in model.pathways:
        for name, tr in pw.synapse.traces.items():
            group = pw.source if tr.side == "pre" else pw.target
            tau = pw.synapse.params[tr.tau]
            have = plan.setdefault(group, {})
            if name in have and not np.isclose(float(have[name]), float(tau), rtol=1e-12, atol=0):
                raise ModelError(f"pathway {pw.name!r}: trace {name!r} of {group!r} decays with {tau}, another pathway's "
                                 f"with {have[name]}; a neuron keeps one trace per name (rename one).")  # fmt: skip
            have[name] = tau
    for group, names in plan.items():
        if group == model.inputs.name:
            declared = {"p", *REGIME_VARIABLES}
        else:
            neuron = next(p for p in model.populations if p.name == group).neuron
            if neuron.threshold is None:
                raise ModelError(f"population {group!r} never spikes (no threshold), so it cannot keep the trace(s) "
                                 f"{sorted(names)} its synapses read.")  # fmt: skip
            declared = b2.Equations(neuron.equations).names
        clash = set(names) & set(declared)
        if clash:
            raise ModelError(f"population {group!r} declares {sorted(clash)}, which its synapses' traces need as names.")
    return plan


def _noise_plan(lowering: str, noise: str) -> bool:
    """Whether the sleep noise is drawn for sleeping neurons only (:data:`NOISE_PLACES`)."""
    if noise not in NOISE_PLACES:
        raise ConfigError(f"noise = {noise!r}; expected one of {', '.join(NOISE_PLACES)}.")
    if noise == "asleep" and lowering == "single_clock":
        raise ConfigError("noise='asleep' needs a custom Brian2 event, which the single_clock lowering (noise as an xi "
                          "term, GeNN's rules) does not use; pass noise='auto' or 'every_step'.")  # fmt: skip
    return noise != "every_step" and lowering != "single_clock"


def _trace_parts(ctx: _Context, group: str, dt) -> tuple[str, str, str, dict]:
    """A group's neuron traces: their declarations, their per-step decay, their reset to 1 and
    the namespace of the decay factors (each exp(-dt / tau), computed once)."""
    names = (ctx.traces or {}).get(group, {})
    decls = "\n".join(f"{n} : 1" for n in names)
    step = "\n".join(f"{n} = {n} * trace_factor_{n}" for n in names)
    resets = "\n".join(f"{n} = 1" for n in names)
    return decls, step, resets, {f"trace_factor_{n}": float(np.exp(-float(dt / tau))) for n, tau in names.items()}


def _initial_weights(ctx: _Context, pw: Pathway, S: b2.Synapses, runs: list, reusable: bool) -> np.ndarray:
    """Set the synapses' starting weights (constant w0, drawn w_init, or given) and return them."""
    if len(runs) > 1:
        parts = []
        for r in runs:
            given = r.initial_weights is not None and pw.name in r.initial_weights
            parts.append(_given_weights(pw, r) if given else initial_weight_values(ctx.model, r.connectivity)[pw.name])
        w_start = np.concatenate(parts)
        S.w = w_start
        return w_start
    run = runs[0]
    conn = run.connectivity
    n_syn = conn.n(pw.name)
    given = run.initial_weights is not None and pw.name in run.initial_weights
    if pw.w_init is not None and not given:
        # Random initial weights, drawn with numpy (draw_connectivity). A reusable build
        # reads them from a matrix that run_args can replace, like the connections.
        w_init = initial_weight_values(ctx.model, conn)[pw.name]
        if reusable:
            table = b2.TimedArray(ctx.data[f"winit_{pw.name}"], dt=1 * b2.ms, name=f"winit_{pw.name}")
            ctx.data_arrays[table.name] = table
            S.namespace[table.name] = table
            S.namespace["ms"] = b2.ms
            S.w = f"winit_{pw.name}(i*ms, j)"
        else:
            S.w = w_init
        return w_init
    if given:
        if reusable:
            raise ConfigError("a reusable build starts from constant weights; initial_weights need a fresh build.")
        w_init = _given_weights(pw, run)
        S.w = w_init
        return w_init
    S.w = pw.initial_weight()  # a scalar, so that a reused build serves any synapse count
    return np.full(n_syn, pw.initial_weight())


def _given_weights(pw: Pathway, run: Replica) -> np.ndarray:
    n_syn = run.connectivity.n(pw.name)
    w_init = np.asarray(run.initial_weights[pw.name], dtype=float)
    if w_init.shape != (n_syn,):
        raise ConfigError(f"initial_weights[{pw.name!r}] has shape {w_init.shape}; expected ({n_syn},).")
    return w_init


_CHECKED: set[str] = set()


def check_code(model: Model) -> None:
    """Generate the code of ``model`` once on Brian2's numpy target, to report unit mismatches
    and unknown names as :class:`~sleep_brian.errors.ModelError` before a long build or run.

    Builds the whole model (regime machinery included) for a one-step protocol and runs it for
    zero time, which makes Brian2 resolve every identifier and check every unit. Checked models
    are remembered by their :meth:`~sleep_brian.model.Model.key`.
    """
    key = model.key()
    if key in _CHECKED:
        return
    from sleep_brian.protocol import Test, lower  # protocol sits above this module

    dev, target = b2.get_device(), b2.prefs.codegen.target
    if type(dev).__name__ != "RuntimeDevice":
        return  # a standalone build in progress: its own build reports the error
    tl = lower([Test(np.zeros(1, dtype=int), model.dt)], model.dt)
    names = {model.inputs.name: "input layer", **{p.name: "population" for p in model.populations},
             **{p.name: "pathway" for p in model.pathways}}  # fmt: skip
    try:
        b2.prefs.codegen.target = "numpy"
        built = build_network(model, tl, np.zeros((1, model.inputs.size)), np.random.default_rng(0),
                              record_weights=False, connectivity=_one_synapse_each(model))  # fmt: skip
        built.net.run(0 * b2.ms)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - Brian2 says what; we add where and the fix
        # Brian2 names the failing object (e.g. 'in_e_pre', 'exc_run_regularly_1'): find its part
        named = re.search(r"object named '([^']+)'", str(exc))
        obj = named.group(1) if named else ""
        owners = [n for n in names if obj == n or obj.startswith(n + "_")]
        where = f"{names[max(owners, key=len)]} {max(owners, key=len)!r}" if owners else "the model"
        cause = exc.__cause__ or exc
        hint = ""
        if isinstance(cause, b2.DimensionMismatchError) or "units" in str(cause).lower():
            hint = " Check the units of the parameters its strings use (each value needs its Brian2 unit)."
        elif "could not be resolved" in str(cause) or isinstance(cause, KeyError):
            hint = " Every name its strings use must be a declared variable, a parameter in params, or a builder name."
        raise ModelError(f"model {model.name!r}, {where}: Brian2 rejects its code: {cause}.{hint}") from None
    finally:
        b2.prefs.codegen.target = target
    _CHECKED.add(key)


def _one_synapse_each(model: Model) -> Connectivity:
    """A connectivity with one synapse per pathway, enough to generate every code object."""
    i = {pw.name: np.zeros(1, dtype=np.int64) for pw in model.pathways}
    j = {pw.name: np.zeros(1, dtype=np.int64) for pw in model.pathways}
    w = {pw.name: np.full(1, pw.initial_weight()) for pw in model.pathways if pw.w_init is not None}
    return Connectivity(i, dict(j), w)
