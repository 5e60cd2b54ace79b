"""One run: data + model + protocol on a device -> responses -> readouts and metrics -> a record.

This is the single unit that the CLI, sweeps and notebooks call::

    from sleep_brian.experiment import RunConfig, run
    result = run(RunConfig(dataset="digits", seed=1, device="cpp_standalone"))
    result.record["accuracy"]["trained"]["accuracy_pca_qda"]

The protocol of a run is one simulation (one compiled program on standalone targets):

1. *untrained control* (optional, default on): the fit images, then the test images, shown with
   plasticity off to the freshly built network;
2. *training*: ``epochs`` passes of the paper's wake/sleep schedule over the training images;
3. *trained test*: the same fit and test images again, plasticity off.

The readouts are fitted on the responses to the fit images and scored on the test images, for
the trained network and for the control, so every accuracy comes with its untrained baseline.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import brian2 as b2
import numpy as np

from sleep_brian import devices, energy, metrics, readout, sleep_exit, store
from sleep_brian.data import load_dataset
from sleep_brian.encoding import encode_images
from sleep_brian.errors import ConfigError, DeviceError, SimulationError
from sleep_brian.model import Model
from sleep_brian.models import DEFAULT_MODEL
from sleep_brian.network import (
    LOWERINGS,
    BuiltNetwork,
    Connectivity,
    build_network,
    check_code,
    draw_connectivity,
    initial_weight_values,
    raster_window,
    run_data,
    settle_weights,
)
from sleep_brian.params import ScheduleParams, to_dict
from sleep_brian.protocol import Test, Timeline, align_to, lower, paper_schedule, sleep_grid

__all__ = [
    "RunConfig",
    "RunResult",
    "run",
    "run_many",
    "simulate",
    "brian_seed",
    "build_key",
    "schedule_key",
    "Streams",
    "plan",
    "response_counts",
    "span_counts",
    "spike_recording",
    "versions",
    "stream",
    "STREAMS",
    "RUNAWAY_FRACTION",
    "SILENT_ACTIVITY_RATIO",
]

#: A pathway has run away when at least this fraction of its weights sits at the bound away
#: from zero, or when its mean |w| has grown RUNAWAY_GROWTH-fold over training.
RUNAWAY_FRACTION = 0.1
RUNAWAY_GROWTH = 10.0
#: A pathway with at least this fraction of its weights at either bound is saturated.
SATURATED_FRACTION = 0.25
#: A trained network is silent when no read-out neuron fires on the test images, or when the
#: fraction of them that fire per image is below this fraction of the untrained control's.
#: Measured on Fashion-MNIST at 6,000 images (results/fashion-6000, the sleep-0 runs, which
#: carry the control): paper-stochastic keeps 1.5-3 % of its control's activity (0.2-0.5 % of
#: 400 neurons per image; readout 0.17 against the control's 0.65), `authors` has 6-9 times it.
SILENT_ACTIVITY_RATIO = 0.1


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run."""

    dataset: str = "digits"
    data_dir: str | None = None
    #: A declared :class:`~sleep_brian.model.Model`, or a name for :func:`models.get_model`
    #: (a built-in model or ``path/to/file.py:function``).
    model: Model | str = DEFAULT_MODEL
    schedule: ScheduleParams | None = None  # None: the model's own schedule, else the defaults
    seed: int = 1
    device: str = "cpp_standalone"
    control: bool = True
    lowering: str = "timed_array"

    def __post_init__(self):
        from sleep_brian import models  # the built-in models live above this layer, in models/

        object.__setattr__(self, "model", models.get_model(self.model))
        if self.schedule is None:
            object.__setattr__(self, "schedule", self.model.schedule or ScheduleParams())
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))
        if not isinstance(self.dataset, str):
            raise ConfigError(f"dataset = {self.dataset!r} must be a name such as 'digits'.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed = {self.seed!r} must be an integer >= 0.")
        if self.schedule.n_fit > self.schedule.n_train:
            raise ConfigError(
                f"n_fit = {self.schedule.n_fit} exceeds n_train = {self.schedule.n_train}: the readout is "
                "fitted on responses to training images; lower n_fit or raise n_train."
            )
        if not isinstance(self.schedule, ScheduleParams):
            raise ConfigError(f"schedule must be a ScheduleParams, got {type(self.schedule).__name__}.")
        devices.check_device(self.device)
        if self.lowering not in LOWERINGS:
            hint = " ('genn' is now called 'single_clock')" if self.lowering == "genn" else ""
            raise ConfigError(f"lowering = {self.lowering!r}; expected one of {', '.join(LOWERINGS)}{hint}.")
        if self.lowering == "network_operation" and self.device not in devices.RUNTIME:
            raise DeviceError(
                f"the network_operation lowering runs Python during the simulation, which {self.device} "
                "cannot; use --device numpy or cython, or the default timed_array lowering."
            )

    @property
    def variant(self) -> str:
        """The model's name: what sweeps and statistics group runs by."""
        return self.model.name

    def to_dict(self) -> dict:
        """JSON-safe: the model's whole declaration (equations included) under ``declaration``."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model"] = self.model.name
        d["variant"] = self.model.name
        d["declaration"] = self.model.to_dict()
        d["schedule"] = to_dict(self.schedule)
        d["seed"] = int(self.seed)
        return d

    def name(self) -> str:
        """Record folder name: readable prefix and a hash of the whole configuration."""
        r = self.schedule.sleep_fraction
        return f"{self.dataset}_{self.variant}_sleep{r:g}_seed{self.seed}_{self.device}_{store.config_key(self.to_dict())}"


@dataclass
class RunResult:
    record: dict
    arrays: dict
    path: Path | None = None
    #: The results of the runs whose simulation this one was (:func:`simulation_key`), if any.
    twins: list = dataclasses.field(default_factory=list)


#: Every random stream of a run derives from its master seed and one of these names. (The
#: dataset's subsets use ``SeedSequence(seed).spawn``, whose keys differ from all of these.)
#: New streams are appended, so that the existing ones keep their seeds; ``initial_weights``
#: draws the random initial weights of pathways declared with ``w_init``.
STREAMS = ("order", "connectivity", "settle", "brian", "initial_weights")


def stream(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of the random stream ``name`` of a run with master seed ``seed``."""
    return np.random.SeedSequence([int(seed), 1 + STREAMS.index(name)])


def versions() -> dict:
    """Library versions that can change a result."""
    import scipy
    import sklearn

    import sleep_brian

    return {
        "sleep_brian": sleep_brian.__version__,
        "brian2": b2.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


@dataclass
class Plan:
    """The data and lowered protocol of a run (built before any simulation)."""

    images: np.ndarray  # (n_images, n_input), encoded
    labels: np.ndarray  # label per row of images
    fit_idx: np.ndarray
    test_idx: np.ndarray
    timeline: Timeline
    source: str


def plan(config: RunConfig) -> Plan:
    """Load and encode the data and lower the protocol of ``config``."""
    s, m = config.schedule, config.model
    enc = m.inputs.encoding
    data = load_dataset(config.dataset, path=config.data_dir, side=enc.side, n_train=s.n_train, n_test=s.n_test, seed=config.seed)
    x = encode_images(np.concatenate([data.x_train, data.x_test]), enc)
    y = np.concatenate([data.y_train, data.y_test])
    n_tr = len(data.x_train)
    train_idx = np.arange(n_tr)
    test_idx = np.arange(n_tr, n_tr + len(data.x_test))
    fit_idx = train_idx[: s.n_fit]
    rng = np.random.default_rng(stream(config.seed, "order"))
    distinct = train_idx[: s.repeat_batch] if s.repeat_batch else train_idx
    training = []
    for _ in range(s.epochs):
        order = np.resize(rng.permutation(distinct), n_tr)  # authors' quirk: cycles the same batch
        training += paper_schedule(order, s.presentation, s.sleep_fraction, s.wake_block, s.sleep_cap, m.sleep_exit)
    phases = []
    if config.control:
        phases += [Test(fit_idx, s.presentation, "fit_untrained"), Test(test_idx, s.presentation, "test_untrained")]
        # A short rest after the control puts every sleep boundary on the grid that training
        # alone would have, so weight snapshots can be coarse and still exact (snapshot_plan).
        phases = align_to(phases, sleep_grid(lower(training, m.dt)) if training else 0, m.dt)
    phases += training
    phases += [Test(fit_idx, s.presentation, "fit"), Test(test_idx, s.presentation, "test")]
    return Plan(x, y, fit_idx, test_idx, lower(phases, m.dt), data.source)


def span_counts(arrays: dict, population: str, span) -> np.ndarray:
    """Spike counts per shown image and neuron, (n_images, n_neurons), for one Wake/Test span,
    from a run's cumulative counts per slot (``slot_counts_<population>``; equal to
    :func:`response_counts` of its spikes)."""
    cum, slot = arrays[f"slot_counts_{population}"], int(arrays["slot_steps"])
    edges = span.start_step + np.arange(len(span.images) + 1) * span.steps_per_image
    if np.any(edges % slot):
        raise AssertionError(f"image boundaries of span {span.label!r} are not on the slot grid of {slot} steps")
    return np.diff(cum[edges // slot], axis=0).astype(np.int32)


def spikes_between(arrays: dict, population: str, start_step: int, stop_step: int) -> np.ndarray:
    """Spikes per neuron of ``population`` in steps ``[start, stop)`` (both on the slot grid)."""
    cum, slot = arrays[f"slot_counts_{population}"], int(arrays["slot_steps"])
    return (cum[stop_step // slot] - cum[start_step // slot]).astype(np.int64)


def response_counts(spike_i: np.ndarray, spike_step: np.ndarray, span, n_neurons: int) -> np.ndarray:
    """Spike counts per shown image and neuron, (n_images, n_neurons), for one Wake/Test span."""
    sel = (spike_step >= span.start_step) & (spike_step < span.stop_step)
    img = (spike_step[sel] - span.start_step) // span.steps_per_image
    counts = np.zeros((len(span.images), n_neurons), dtype=np.int32)
    np.add.at(counts, (img, spike_i[sel]), 1)
    return counts


def _check_finite(model: Model, state: dict, replica: int | None = None) -> None:
    """Refuse a run whose state went NaN or infinite: nothing read from it would be valid.

    ``state``: per population variable (``pop.var``) and pathway weight (``pathway.w``) the values
    of this run (its own replica's, in a network of several)."""
    bad = []
    for name, values in state.items():
        values = np.asarray(values, dtype=float)
        if not np.isfinite(values).all():
            what = "synapses" if name.endswith(".w") else "neurons"
            bad.append(f"{name} ({int((~np.isfinite(values)).sum())} of {values.size} {what})")
    if bad:
        where = f" (replica {replica})" if replica is not None else ""
        raise SimulationError(
            f"the state of model {model.name!r}{where} went NaN or infinite: {', '.join(bad)}. Check its equations, "
            "integration method and time step (e.g. method='exact' with equal time constants, or dt too large)."
        )


def _read_back(model: Model, built: BuiltNetwork, timelines: list, rngs: list, conns: list | None = None,
               initial: list | None = None) -> list:  # fmt: skip
    """Copy everything needed out of Brian2 objects into numpy arrays (before the device resets),
    one dict per replica of ``built`` (one for a network of one run).

    ``conns`` and ``initial``: per replica, its connectivity and initial weights (default: those
    the network was built with; a reused build passes the run's own). A replica whose state went
    NaN gets a :class:`SimulationError` in its place instead of arrays.
    """
    dt = float(model.dt)
    k = built.layout.k if built.layout is not None else 1
    conns = conns if conns is not None else [built.connectivity] if k == 1 else None
    if conns is None:
        raise AssertionError("a network of several replicas needs their connectivities")
    raw_spikes = {name: (np.asarray(mon.i[:], dtype=np.int64), np.round(np.asarray(mon.t_[:]) / dt).astype(np.int64))
                  for name, mon in built.spikes.items()}  # fmt: skip
    state = {f"{pop.name}.{var}": np.asarray(getattr(built.groups[pop.name], var)[:], dtype=float)
             for pop in model.populations for var in sorted(pop.neuron.variables)}  # fmt: skip
    clocks = np.asarray(built.groups[model.readout].sleep_clock[:], dtype=float)
    # cumulative spike counts at every sample (slot start), then the final count
    cum = {name: np.concatenate([np.asarray(mon.spike_count[:], dtype=np.int64),
                                 np.asarray(built.groups[name].spike_count[:], dtype=np.int64)[:, None]], axis=1)
           for name, mon in built.counts.items()}  # fmt: skip
    exits, asleep = None, {}
    if built.exit_counts is not None:
        asleep = {name: np.asarray(getattr(built.groups[name], sleep_exit.ASLEEP_COUNT)[:], dtype=np.int64)
                  for name in built.counts}  # fmt: skip
        ctrl = built.exit_counts.source
        exits = {v: np.concatenate([np.asarray(getattr(built.exit_counts, v)[:], dtype=float),
                                    np.asarray(getattr(ctrl, v)[:], dtype=float)[:, None]], axis=1)
                 for v in ("slept", "exits", "scales")}  # fmt: skip
    w_all, last_all, snaps = {}, {}, {}
    for pw, S in built.synapses.items():
        w_all[pw] = np.asarray(S.w[:], dtype=float)
        total = sum(c.n(pw) for c in conns)
        if len(w_all[pw]) != total:
            # A reused build creates synapses from the run's matrices; a mismatch means the
            # run_args did not reach the connect step, and nothing read here would be valid.
            raise DeviceError(f"{pw}: the simulation has {len(w_all[pw])} synapses, the run's connectivity {total}.")
        if model.rule_of(model.pathway(pw)) is not None:
            last_all[pw] = np.asarray(S.last_sleep[:], dtype=float)
        if pw in built.weight_monitors:
            snaps[pw] = np.asarray(built.weight_monitors[pw].w[:], dtype=np.float32)
    starts = {pw: np.concatenate([[0], np.cumsum([c.n(pw) for c in conns])]) for pw in built.synapses}
    outs = []
    for r in range(k):
        n_steps = timelines[r].n_steps
        syn = {pw: slice(int(starts[pw][r]), int(starts[pw][r + 1])) for pw in built.synapses}
        neurons = {g: slice(r * n, (r + 1) * n) for g, n in model.groups.items()}
        try:
            mine = {name: v[neurons[name.split(".")[0]]] for name, v in state.items()}
            mine.update({f"{pw}.w": w[syn[pw]] for pw, w in w_all.items()})
            _check_finite(model, mine, r if k > 1 else None)
        except SimulationError as exc:
            outs.append(exc)
            continue
        out = {}
        for name, (i, step) in raw_spikes.items():
            sl = neurons[name]
            sel = (i >= sl.start) & (i < sl.stop) & (step < n_steps)  # a replica rests after its protocol
            out[f"spike_i_{name}"] = (i[sel] - sl.start).astype(np.int32)
            out[f"spike_step_{name}"] = step[sel]
        tl = timelines[r]
        cols = np.arange(len(tl.sleep) + 1) * (tl.slot_steps // built.count_steps)
        for name, c in cum.items():
            out[f"slot_counts_{name}"] = c[neurons[name], :][:, cols].T.astype(np.int32)  # (n_slots + 1, n)
        out["slot_steps"] = np.array(tl.slot_steps)
        if exits is not None:
            # Per slot start and at the end, replica r's controller: steps slept, exits, rescalings.
            for v, c in exits.items():
                out[f"exit_{v}"] = c[r, cols]
            for name, c in asleep.items():
                out[f"spikes_asleep_{name}"] = c[neurons[name]]
        clock_now = float(clocks[neurons[model.readout].start])
        for pw in built.synapses:
            w = w_all[pw][syn[pw]]
            if pw in last_all:
                w = settle_weights(model, pw, w, last_all[pw][syn[pw]], clock_now, rngs[r])
            out[f"w_final_{pw}"] = w
            out[f"w_initial_{pw}"] = (initial[r][pw] if initial is not None else built.initial_weights[pw][syn[pw]])
            out[f"i_{pw}"] = conns[r].i[pw].astype(np.int32)
            out[f"j_{pw}"] = conns[r].j[pw].astype(np.int32)
            if pw in snaps:
                rec = built.layout.recorded(pw, r) if built.layout is not None else slice(None)
                n_snaps = -(-n_steps // int(built.snapshot_steps))  # the snapshots within this run
                out[f"w_snap_{pw}"] = snaps[pw][rec, :n_snaps]
                out[f"snap_index_{pw}"] = (built.weight_record[pw][rec] - starts[pw][r]).astype(np.int32)
        out["snapshot_steps"] = np.array(built.snapshot_steps)
        outs.append(out)
    return outs


def _snapshot(arrays: dict, pathway: str, step: int, grid: int, final_step: int):
    """Recorded weights of ``pathway`` at time step ``step``, which must lie on the snapshot grid."""
    if step >= final_step:
        return arrays[f"w_final_{pathway}"][arrays[f"snap_index_{pathway}"]]
    if step % grid:
        raise AssertionError(f"step {step} is not on the snapshot grid of {grid} steps")
    return arrays[f"w_snap_{pathway}"][:, step // grid].astype(float)


def snapshot_boundaries(timeline: Timeline, grid: int) -> list[int]:
    """The wake/sleep boundaries at which weights were snapshot: those on the snapshot grid
    (every sleep's start and end; every wake block's end in a run without sleep) and the end."""
    n = timeline.n_steps
    return [s for s in timeline.block_boundaries() if grid and (s % grid == 0 or s >= n)]


def _keep_boundary_snapshots(model: Model, arrays: dict, timeline: Timeline) -> None:
    """Replace the regular weight snapshots by those at the wake/sleep boundaries
    (``w_boundary_<pathway>``, one column per step of ``boundary_steps``; see
    :func:`snapshot_boundaries`)."""
    grid = int(arrays["snapshot_steps"])
    steps = np.array(snapshot_boundaries(timeline, grid), dtype=np.int64)
    arrays["boundary_steps"] = steps
    for pw in model.pathway_names:
        if f"w_snap_{pw}" in arrays:
            if len(steps):
                arrays[f"w_boundary_{pw}"] = np.stack(
                    [_snapshot(arrays, pw, int(s), grid, timeline.n_steps) for s in steps], axis=1
                ).astype(np.float32)
            del arrays[f"w_snap_{pw}"]


def _keep_raster_window(model: Model, arrays: dict, timeline: Timeline) -> None:
    """Keep the spikes within RASTER_HALF_WIDTH_S of the first sleep's start (or of the end of
    the first wake block when there is no sleep), for a raster across the transition
    (:func:`sleep_brian.network.raster_window`; a run built with ``spikes="window"`` recorded
    no others)."""
    sleeps, wakes = timeline.spans_of("sleep"), timeline.spans_of("wake")
    if not (sleeps or wakes):
        return
    lo, hi = raster_window([timeline])
    arrays["raster_window_steps"] = np.array([lo, sleeps[0].start_step if sleeps else wakes[0].stop_step, hi], dtype=np.int64)
    for name in (p.name for p in model.populations):
        if f"spike_step_{name}" in arrays:
            st = arrays[f"spike_step_{name}"]
            sel = (st >= lo) & (st < hi)
            arrays[f"raster_step_{name}"] = st[sel]
            arrays[f"raster_i_{name}"] = arrays[f"spike_i_{name}"][sel]


def _rf_pathway(model: Model) -> str | None:
    """The pathway from the input layer onto the readout population (the receptive fields), if one."""
    rf = model.input_pathways(model.readout)
    return rf[0].name if rf else None


def _rf_matrix(arrays: dict, model: Model, pathway: str, w_rec: np.ndarray) -> np.ndarray:
    """Input->readout weights as (n_input, n_readout) receptive fields (0 where there is no synapse)."""
    idx = arrays[f"snap_index_{pathway}"]
    m = np.zeros((model.inputs.size, model.population(model.readout).size))
    m[arrays[f"i_{pathway}"][idx], arrays[f"j_{pathway}"][idx]] = w_rec
    return m


def _stability(config: RunConfig, pl: Plan, arrays: dict) -> dict:
    """Weight and response statistics over training, at every wake/sleep boundary and per wake block.

    Weights: per pathway, the statistics of :func:`metrics.weight_stats` of the recorded synapses
    and their rank correlation with the previous boundary; the receptive-field correlation of
    the input->readout pathway (when at least 95 % of its synapses are recorded). Responses: the
    spike counts of the readout population to each training image, per wake block, summarised by
    :func:`metrics.response_stats` (a block of 35 images holds a few per class, so these are noisy
    per block and meant to be read as a trend).
    """
    tl, m = pl.timeline, config.model
    dt_s = float(m.dt)
    grid = int(arrays["snapshot_steps"])
    steps = snapshot_boundaries(tl, grid)
    out = {"t_s": [s * dt_s for s in steps], "weights": {}, "blocks": {}}
    rf = _rf_pathway(m)
    recorded = [pw for pw in m.pathway_names if f"w_snap_{pw}" in arrays] if steps else []
    if recorded:
        for pw in recorded:
            lo, hi = m.pathway(pw).bounds or (None, None)
            series: dict[str, list] = {}
            prev = None
            for s in steps:
                w = _snapshot(arrays, pw, int(s), grid, tl.n_steps)
                st = metrics.weight_stats(w, lo, hi) if len(w) else {}
                for k in ("mean", "sd", "abs_mean", "saturation", "entropy", "n_effective"):
                    series.setdefault(k, []).append(st.get(k, float("nan")))
                series.setdefault("rank_corr_prev", []).append(
                    metrics.rank_correlation(prev, w) if prev is not None else float("nan")
                )
                # A reused build may leave the last few synapses of a seed unrecorded
                # (network.record_index); they count as absent, which moves this little.
                if pw == rf and len(arrays[f"snap_index_{pw}"]) >= 0.95 * len(arrays[f"i_{pw}"]):
                    series.setdefault("rf_correlation", []).append(
                        metrics.receptive_field_correlation(_rf_matrix(arrays, m, pw, w))
                    )
                prev = w
            out["weights"][pw] = series
    blocks: dict[str, list] = {}
    ro = m.readout
    counts = []
    for span in tl.spans_of("wake"):
        c = span_counts(arrays, ro, span)
        counts.append(c)
        blocks.setdefault("t_s", []).append(span.stop_step * dt_s)
        rs = metrics.response_stats(c, pl.labels[span.images])
        for k, v in rs.items():
            blocks.setdefault(k, []).append(v)
        blocks.setdefault("rate_hz", []).append(float(c.mean() / (span.steps_per_image * dt_s)) if c.size else float("nan"))
    out["blocks"] = blocks
    if counts:
        arrays["counts_wake"] = np.concatenate(counts).astype(np.int32)
        arrays["wake_images"] = np.concatenate([s.images for s in tl.spans_of("wake")]).astype(np.int32)
    return out


def _flags(weights: dict, rates: dict) -> dict:
    """What makes a run's result suspect: NaN weights, runaway or saturated pathways, silence.

    Runaway: >= RUNAWAY_FRACTION of a pathway's weights at the bound away from zero, or its mean
    |w| grown >= RUNAWAY_GROWTH-fold (the authors' STDP without sleep: 0.15 -> 4.3, with 35 % of
    the weights at the lower bound and the rest spread up to the upper one). Saturated: >=
    SATURATED_FRACTION at either bound (bimodal STDP, or weights decayed onto the lower bound).
    Silent: no read-out neuron fires on the test images, or, where the run has its untrained
    control, the fraction that fires per image is below SILENT_ACTIVITY_RATIO of the control's.
    """
    flags = {"nan_weights": [], "runaway": [], "saturated": [], "silent": False}
    for pw, entry in weights.items():
        st = entry.get("final") or {}
        if entry.get("nan"):
            flags["nan_weights"].append(pw)
            continue
        if not st:
            continue
        far = st["frac_at_min"] if entry.get("inhibitory") else st["frac_at_max"]
        start = (entry.get("before_training") or {}).get("abs_mean", float("nan"))
        growth = st["abs_mean"] / start if start and np.isfinite(start) else float("nan")
        if far >= RUNAWAY_FRACTION or growth >= RUNAWAY_GROWTH:
            flags["runaway"].append(pw)
        if st["saturation"] >= SATURATED_FRACTION:
            flags["saturated"].append(pw)
    trained, untrained = rates.get("trained"), rates.get("untrained")
    if trained is not None and trained.get("rate_max_hz") == 0:
        flags["silent"] = True
    elif trained is not None and untrained:
        # Relative to the control, not absolute: how many neurons answer an image is the model's
        # own (a winner-take-all layer answers with few), and a run has its control beside it.
        active, control = trained.get("mean_active_per_sample"), untrained.get("mean_active_per_sample")
        if active is not None and control and active < SILENT_ACTIVITY_RATIO * control:
            flags["silent"] = True
    return flags


def _summarise(config: RunConfig, pl: Plan, arrays: dict) -> dict:
    """Readouts and metrics from the arrays of a finished run."""
    tl, m = pl.timeline, config.model
    ro = m.readout
    pres_s = tl.spans_of("test")[0].steps_per_image * float(m.dt)  # as simulated (whole steps)
    resp = {span.label: span_counts(arrays, ro, span) for span in tl.spans_of("test")}
    for label, counts in resp.items():
        arrays[f"counts_{label}"] = counts
    y_fit, y_test = pl.labels[pl.fit_idx], pl.labels[pl.test_idx]
    arrays["y_fit"], arrays["y_test"] = y_fit, y_test
    arrays["labels"] = pl.labels.astype(np.int32)
    accuracy, rates = {}, {}
    for tag, suffix in (("trained", ""), ("untrained", "_untrained")):
        if f"fit{suffix}" not in resp:
            continue
        accuracy[tag] = readout.evaluate_readouts(resp[f"fit{suffix}"], y_fit, resp[f"test{suffix}"], y_test)
        paper = readout.paper_protocol_accuracy(resp[f"fit{suffix}"], y_fit, resp[f"test{suffix}"], y_test)
        if paper is not None:
            accuracy[tag]["accuracy_paper_protocol"] = paper
        rates[tag] = metrics.rate_stats(resp[f"test{suffix}"], pres_s)

    grid, end = int(arrays["snapshot_steps"]), tl.n_steps
    weights = {}
    for decl in m.pathways:
        pw = decl.name
        lo, hi = decl.bounds or (None, None)
        w_end = arrays[f"w_final_{pw}"]
        entry = {"n_synapses": int(len(w_end)), "source": decl.source, "target": decl.target,
                 "inhibitory": bool(decl.inhibitory), "plastic": bool(decl.plastic)}  # fmt: skip
        if not np.isfinite(w_end).all():
            entry["nan"] = True
            weights[pw] = entry
            continue
        entry["final"] = metrics.weight_stats(w_end, lo, hi) if len(w_end) else {}
        if len(w_end):
            # Exact: training starts from the initial weights, and Test phases change nothing,
            # so the final weights are those at the end of training.
            w0 = arrays[f"w_initial_{pw}"]
            entry["before_training"] = metrics.weight_stats(w0, lo, hi)
            entry["after_training"] = entry["final"]
            entry["rank_corr_training"] = metrics.rank_correlation(w0, w_end)
        if f"w_snap_{pw}" in arrays:
            entry["recorded_fraction"] = len(arrays[f"snap_index_{pw}"]) / max(1, len(w_end))
            sleeps = []
            for span in tl.spans_of("sleep"):
                a = _snapshot(arrays, pw, span.start_step, grid, end)
                b = _snapshot(arrays, pw, span.stop_step, grid, end)
                sleeps.append(
                    {
                        "t_s": span.start_step * float(m.dt),
                        "rank_corr": metrics.rank_correlation(a, b),
                        "abs_mean_before": float(np.abs(a).mean()),
                        "abs_mean_after": float(np.abs(b).mean()),
                        "saturation_after": metrics.weight_stats(b, lo, hi)["saturation"],
                    }
                )
            entry["sleeps"] = sleeps
            rc = [s["rank_corr"] for s in sleeps if np.isfinite(s["rank_corr"])]
            entry["sleep_rank_corr_mean"] = float(np.mean(rc)) if rc else float("nan")
        weights[pw] = entry
    flags = _flags(weights, rates)
    finite = all(not w.get("nan") for w in weights.values())
    stability = _stability(config, pl, arrays) if finite else {}
    dt_s = float(m.dt)
    episodes = sleep_exit.sleep_episodes(tl, arrays, m.sleep_exit.on_timeout if m.sleep_exit else None)
    return {
        "status": "flagged" if (flags["nan_weights"] or flags["runaway"] or flags["saturated"] or flags["silent"]) else "ok",
        "accuracy": accuracy,
        "rates": rates,
        "population_rates": _population_rates(m, tl, arrays),
        "energy": energy.estimate(m, tl, pl.images, arrays),
        "weights": weights,
        "flags": flags,
        "stability": stability,
        "timeline": {
            "dt_s": dt_s,
            "duration_s": tl.n_steps * dt_s,
            "wake_s": sum(s.stop_step - s.start_step for s in tl.spans_of("wake")) * dt_s,
            # The time slept: a sleep exit's idle rest of an episode is not sleep.
            "sleep_s": sum(e["actual_s"] for e in episodes),
            "sleep_scheduled_s": sum(s.stop_step - s.start_step for s in tl.spans_of("sleep")) * dt_s,
            "sleeps": episodes,
            "test_s": sum(s.stop_step - s.start_step for s in tl.spans_of("test")) * dt_s,
            "n_sleeps": len(tl.spans_of("sleep")),
            "spans": [
                {"kind": s.kind, "label": s.label, "start_s": s.start_step * dt_s, "stop_s": s.stop_step * dt_s}
                for s in tl.spans
            ],
        },
    }


def _population_rates(model: Model, tl: Timeline, arrays: dict) -> dict:
    """Mean firing rate (Hz) of every population in each kind of phase (wake, sleep, test)."""
    dt_s = float(model.dt)
    out = {}
    for pop in model.populations:
        if f"slot_counts_{pop.name}" not in arrays:
            continue  # a population that never spikes (no threshold)
        entry = {}
        for kind in ("wake", "sleep", "test"):
            spans = tl.spans_of(kind)
            n_steps = sum(s.stop_step - s.start_step for s in spans)
            n = sum(int(spikes_between(arrays, pop.name, s.start_step, s.stop_step).sum()) for s in spans)
            if kind == "sleep" and f"spikes_asleep_{pop.name}" in arrays:
                # A sleep exit's idle rest of an episode is no sleep: the time and spikes slept.
                n_steps = sum(sleep_exit.slept_stop(tl, arrays, s) - s.start_step for s in spans)
                n = int(arrays[f"spikes_asleep_{pop.name}"].sum())
            if n_steps:
                entry[kind] = n / (pop.size * n_steps * dt_s)
        out[pop.name] = entry
    return out


@dataclass
class Streams:
    """The random streams of a run, all derived from its master seed (:func:`stream`)."""

    connectivity: Connectivity
    settle_rng: np.random.Generator
    brian_seed: int

    @classmethod
    def derive(cls, model: Model, seed: int) -> "Streams":
        conn = draw_connectivity(model, np.random.default_rng(stream(seed, "connectivity")),
                                 np.random.default_rng(stream(seed, "initial_weights")))  # fmt: skip
        return cls(conn, np.random.default_rng(stream(seed, "settle")), brian_seed(seed))


@dataclass
class _Prepared:
    """A checked run, planned and with its random streams, ready to simulate."""

    config: RunConfig
    name: str
    plan: Plan
    streams: Streams
    t_start: float
    t_plan: float
    #: Runs whose simulation is this one's (:func:`simulation_key`): their records are made
    #: from this run's arrays.
    twins: list = dataclasses.field(default_factory=list)


def _prepare(config: RunConfig, out_dir, overwrite: bool, twins: dict | None = None) -> _Prepared:
    """Check everything that can be checked before simulating, plan, and derive the streams.

    ``twins``: per run name, the configurations whose simulation that run's is (prepared too)."""
    t_start = time.perf_counter()
    name = config.name()
    store.check_new(out_dir, name, overwrite)
    store.config_key(config.to_dict())  # fails now, not after the simulation, if it cannot be stored
    pl = plan(config)
    with devices.quiet_codegen_warnings():
        check_code(config.model)
    same = [_prepare(c, out_dir, overwrite) for c in (twins or {}).get(name, ())]
    return _Prepared(config, name, pl, Streams.derive(config.model, config.seed), t_start, time.perf_counter(), same)


def _announce(prep: _Prepared) -> None:
    c, pl = prep.config, prep.plan
    print(
        f"sleep-brian: {c.dataset}, {len(pl.images)} images, sleep {c.schedule.sleep_fraction:g}, "
        f"seed {c.seed}, device {c.device}: simulating {float(pl.timeline.duration):.0f} s "
        f"({len(pl.timeline.spans_of('sleep'))} sleeps)",
        file=sys.stderr,
        flush=True,
    )


def _finish(prep: _Prepared, arrays: dict, timings: dict, out_dir, overwrite: bool, build: dict | None = None,
            timed: bool = False) -> RunResult:  # fmt: skip
    """Readouts, metrics and the record of a simulated run; save it if ``out_dir`` is given.

    The runs whose simulation this was (``prep.twins``) get theirs from the same arrays: each
    record is its own configuration's (its planned sleeps, its name), its ``build`` names the
    run that was simulated (``same_simulation_as``) and its ``timings`` are that run's
    (``timed``: a twin was prepared when its task began, so its own clock would count the
    task's earlier runs)."""
    config, pl = prep.config, prep.plan
    twin_arrays = [dict(arrays) for _ in prep.twins]  # before this run's summary adds to them
    summary = _summarise(config, pl, arrays)
    if not timed:
        timings.update(plan_s=prep.t_plan - prep.t_start, total_s=time.perf_counter() - prep.t_start)
    twins = [_finish(t, a, dict(timings), out_dir, overwrite, timed=True,
                     build={**(build or {"reused": False}), "same_simulation_as": prep.name})
             for t, a in zip(prep.twins, twin_arrays)]  # fmt: skip
    record = {
        "schema": 2,
        "name": prep.name,
        "config": config.to_dict(),
        "seed": int(config.seed),
        # a replica's draws come from its batch's generator (sleep_brian.replicas.batch_seed)
        "brian_seed": (build or {}).get("batch_brian_seed", prep.streams.brian_seed),
        "device": config.device,
        "versions": versions(),
        "data": {
            "source": pl.source,
            "n_images": int(len(pl.images)),
            "n_fit": int(len(pl.fit_idx)),
            "n_test": int(len(pl.test_idx)),
        },
        "timings": timings,
        "build": build or {"reused": False},
        **summary,
    }
    _keep_raster_window(config.model, arrays, pl.timeline)
    for k in [k for k in arrays if k.startswith(("spike_", "slot_counts_"))]:
        del arrays[k]  # responses per image are kept; raw spike trains would dominate the file
    _keep_boundary_snapshots(config.model, arrays, pl.timeline)
    path = store.save(out_dir, prep.name, record, arrays, overwrite=overwrite) if out_dir is not None else None
    return RunResult(record=record, arrays=arrays, path=path, twins=twins)


def brian_seed(seed: int) -> int:
    """The seed of Brian2's generator (input spikes, noise, stochastic decay) for master ``seed``."""
    return int(stream(seed, "brian").generate_state(1)[0] % (2**31 - 1))


def spike_recording(device: str) -> str:
    """What a run's spike monitors record on ``device``: the raster window only
    (:data:`sleep_brian.network.SPIKE_RECORDING`) where the run can be split into parts (not on
    GeNN, which runs once, nor on brian2cuda, whose run-time bookkeeping differs); every spike
    elsewhere (the read-back keeps the window's)."""
    return "window" if device in ("numpy", "cython", "cpp_standalone") else "all"


def simulate(model: Model, timeline: Timeline, images, *, seed: int, device: str = "cpp_standalone",
             lowering: str = "timed_array", build_root=None, progress: bool = False,
             streams: Streams | None = None, spikes: str = "all", decay: str = "auto",
             traces: str = "auto", noise: str = "auto") -> tuple[dict, dict]:
    """Simulate a lowered protocol on a fresh network: the core of every run and protocol.

    Connectivity, the final decay catch-up and Brian2's generator derive from the master
    ``seed`` (:class:`Streams`; pass ``streams`` if they are derived already). Returns
    ``(arrays, timings)``: spike trains per population (``spike_i_*``, ``spike_step_*``: every
    spike, or with ``spikes="window"`` those of the raster window), cumulative spike counts per
    slot (``slot_counts_*``), initial and final weights and connectivity per pathway, and weight
    snapshots (see :func:`sleep_brian.network.snapshot_plan`). ``decay``: when the sleep rule's
    decay reaches the synapses (:data:`sleep_brian.network.DECAY_SCHEDULES`); ``traces``: where
    the STDP traces are kept (:data:`sleep_brian.network.TRACE_PLACES`); ``noise``: where the sleep
    noise is drawn (:data:`sleep_brian.network.NOISE_PLACES`).
    """
    st = Streams.derive(model, seed) if streams is None else streams
    # The build cache's key: what this build's code depends on but the seed and the data (they
    # change the few files holding array sizes and the seed, which make then recompiles); a new
    # schedule shape starts from a build of the same model and lowering (its family).
    cache_key = {"label": f"{model.name}, fresh build", "family": {"declaration": model.to_dict(), "lowering": lowering},
                 "n_images": int(len(images)), "slot_steps": int(timeline.slot_steps),
                 "n_slots": int(len(timeline.sleep)), "snapshot_grid": int(sleep_grid(timeline)), "spikes": spikes,
                 "decay": decay, "traces": traces, "noise": noise}  # fmt: skip
    with devices.target(device, build_root=build_root, cache_key=cache_key) as dev, devices.quiet_codegen_warnings():
        dev.seed(st.brian_seed)
        built = build_network(
            model, timeline, images, None, connectivity=st.connectivity, lowering=devices.lowering_for(device, lowering),
            spikes=spikes, decay=decay, traces=traces, noise=noise,
        )  # fmt: skip
        dev.run(built, timeline.duration, report="stderr" if progress else None)
        (arrays,) = _read_back(model, built, [timeline], [st.settle_rng])
        timings = dict(dev.timings)
    if isinstance(arrays, Exception):
        raise arrays
    return arrays, timings


def run(
    config: RunConfig,
    *,
    out_dir=None,
    overwrite: bool = False,
    progress: bool = True,
    build_root=None,
) -> RunResult:
    """Run ``config`` end to end; write a record under ``out_dir`` if given.

    Every input is checked before the simulation starts, and the record is written only after
    the run has finished, atomically: a failed run leaves no partial record.
    """
    return _run_prepared(_prepare(config, out_dir, overwrite), out_dir, overwrite, progress, build_root)


def _run_prepared(prep: _Prepared, out_dir, overwrite: bool, progress: bool, build_root) -> RunResult:
    """Simulate one prepared run on a fresh build and make its record (and its twins')."""
    config, pl = prep.config, prep.plan
    # As in _run_compiled: the run's time starts now, not when every run of its group was prepared.
    plan_s, now = prep.t_plan - prep.t_start, time.perf_counter()
    prep.t_start, prep.t_plan = now - plan_s, now
    if progress:
        _announce(prep)
    arrays, timings = simulate(
        config.model,
        pl.timeline,
        pl.images,
        seed=config.seed,
        device=config.device,
        lowering=config.lowering,
        build_root=build_root,
        progress=progress,
        streams=prep.streams,
        spikes=spike_recording(config.device),
    )
    return _finish(prep, arrays, timings, out_dir, overwrite)


def schedule_key(config: RunConfig) -> str:
    """Everything of a run's configuration that its compiled code depends on, known without
    loading data: the model, the schedule, the device, the control and the lowering. Runs with
    different keys never share a build (the sweep groups runs by it)."""
    return store.config_key(
        {
            "declaration": config.model.to_dict(),
            "schedule": to_dict(config.schedule),
            "device": config.device,
            "control": config.control,
            "lowering": config.lowering,
        }
    )


def _regimes(tl: Timeline) -> dict:
    """What a lowered timeline makes the network do, step by step: its regimes and spans (not
    the images shown, nor what a sleep planned)."""
    return {"slot_steps": int(tl.slot_steps), "sleep": tl.sleep.astype(int).tolist(),
            "plastic": tl.plastic.astype(int).tolist(),
            "spans": [(s.kind, s.start_step, s.stop_step, s.steps_per_image) for s in tl.spans]}  # fmt: skip


def simulation_key(config: RunConfig) -> str:
    """Runs with equal keys are the same simulation: the configuration but its sleep fraction,
    and the same regimes in its lowered training protocol. A sleep cap makes every longer sleep
    the same (the ``authors`` model sleeps at most 10 s per 35 s of wake, so every level from
    30 % is one run); the fraction then changes only what the record plans. Known without
    loading data: the regimes do not depend on the images."""
    s, m = config.schedule, config.model
    tl = lower(paper_schedule(np.zeros(s.n_train, dtype=int), s.presentation, s.sleep_fraction, s.wake_block,
                              s.sleep_cap, m.sleep_exit), m.dt)  # fmt: skip
    d = config.to_dict()
    d["schedule"] = {k: v for k, v in d["schedule"].items() if k != "sleep_fraction"}
    return store.config_key({"config": d, **_regimes(tl)})


def same_simulations(configs) -> dict[int, list[int]]:
    """Per run that is simulated (by index, first of its kind), the runs that are the same
    simulation (:func:`simulation_key`) and take their records from it."""
    first: dict[str, int] = {}
    out: dict[int, list[int]] = {}
    for k, c in enumerate(configs):
        key = simulation_key(c)
        if key in first:
            out[first[key]].append(k)
        else:
            first[key] = k
            out[k] = []
    return out


def build_key(config: RunConfig, pl: Plan | None = None) -> str:
    """What a compiled program depends on: runs with equal keys can share one build.

    :func:`schedule_key` plus the number of images and the lowered timeline's regimes and spans;
    not the seed, the dataset or the order of the images.
    """
    pl = plan(config) if pl is None else pl
    tl = pl.timeline
    shape = {
        "schedule_key": schedule_key(config),
        "n_images": int(len(pl.images)),
        **_regimes(tl),
    }
    return store.config_key(shape)


def run_many(configs, *, out_dir=None, overwrite: bool = False, progress: bool = True, build_root=None, on_error=None,
             replicas: int | str = "auto", workers: int = 1):  # fmt: skip
    """Run several configurations, as replicas of one simulation and compiling once where they can.

    Runs that share a model, device and lowering are simulated ``replicas`` at a time as one
    network (:mod:`sleep_brian.replicas`; ``"auto"``: as many as
    :func:`sleep_brian.replicas.choose_replicas` allows). Each replica's record equals in form
    that of the run alone, with the same connectivity, data and protocol, but another sample of
    the run's random draws; ``replicas=1`` gives exactly the runs of :func:`run`. Runs left
    alone go on as before: on cpp_standalone with brian2 >= 2.6
    (:func:`devices.reuse_supported`), configurations with the same :func:`build_key` share one
    compiled program (their seed, images and connectivity reach it through ``run_args``); every
    other case runs :func:`run` per configuration. Results then equal those of :func:`run`
    (tests/test_sweep.py). A run that is the same simulation as an earlier one of ``configs``
    (:func:`simulation_key`: a sleep cap makes longer sleeps equal) is not simulated again: its
    record is made from that run's arrays, with its own configuration (tests/test_sweep.py).

    Parameters
    ----------
    on_error : callable(config, exception), optional
        Called when a run fails; the others go on. Without it the exception propagates.
    replicas : int or "auto"
        Runs per simulation (at most; see :func:`sleep_brian.replicas.choose_replicas`).
    workers : int
        Processes sharing this machine's memory (a sweep's workers), for ``replicas="auto"``.

    Returns
    -------
    list
        A :class:`RunResult` (or, with ``on_error``, None for a failed run) per configuration.
    """
    from sleep_brian import replicas as rep

    configs = list(configs)
    results: list = [None] * len(configs)

    def fail(k, exc):
        if on_error is None:
            raise exc
        on_error(configs[k], exc)

    if not configs:
        return results
    if replicas != "auto" and (isinstance(replicas, bool) or not isinstance(replicas, (int, np.integer)) or replicas < 1):
        raise ConfigError(f"replicas = {replicas!r}; expected a whole number >= 1 or 'auto'.")
    # Runs that are the same simulation as another (a sleep cap) are not simulated again: their
    # records come from that run's arrays (_finish).
    sims = same_simulations(configs)
    reps = list(sims)
    twins = {configs[k].name(): [configs[j] for j in sims[k]] for k in reps if sims[k]}
    distinct = [configs[k] for k in reps]
    found: list = [None] * len(distinct)

    def fail_all(r, exc):
        for k in (reps[r], *sims[reps[r]]):
            fail(k, exc)

    alone = list(range(len(distinct)))
    if replicas != 1 and len(distinct) > 1 and all(c.lowering != "network_operation" for c in distinct):
        preps: dict[int, _Prepared] = {}
        for k, c in enumerate(distinct):
            try:
                preps[k] = _prepare(c, out_dir, overwrite, twins)
            except Exception as exc:  # noqa: BLE001 - recorded by on_error, the others go on
                fail_all(k, exc)
        order = list(preps)
        plist = [preps[k] for k in order]
        n_rep = rep.choose_replicas(plist, distinct[0].device, workers=workers) if replicas == "auto" else replicas
        alone = []
        for batch in rep.batches(plist, n_rep) if plist else []:
            members = [order[n] for n in batch]
            if len(members) == 1:
                alone += members
                continue
            try:
                outs = rep.run_replicas([preps[k] for k in members], out_dir=out_dir, overwrite=overwrite,
                                        progress=progress, build_root=build_root)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the batch failed: each of its runs fails
                for k in members:
                    fail_all(k, exc)
                continue
            for k, out in zip(members, outs):
                if isinstance(out, Exception):
                    fail_all(k, out)
                else:
                    found[k] = out
    _run_alone(distinct, sorted(alone), found, out_dir, overwrite, progress, build_root, fail_all, twins)
    for r, k in enumerate(reps):
        if found[r] is not None:
            results[k] = found[r]
            for j, twin in zip(sims[k], found[r].twins):
                results[j] = twin
    return results


def _run_alone(configs, members, results, out_dir, overwrite, progress, build_root, fail, twins=None) -> None:
    """Run ``configs[k]`` for k in ``members`` one simulation each, sharing builds where possible."""
    if not members:
        return
    preps: dict[int, _Prepared] = {}
    for k in members:
        try:
            preps[k] = _prepare(configs[k], out_dir, overwrite, twins)
        except Exception as exc:  # noqa: BLE001 - recorded by on_error, the others go on
            fail(k, exc)
    if not devices.reuse_supported(configs[members[0]].device) or any(configs[k].lowering != "timed_array" for k in members):
        for k, prep in preps.items():
            try:
                results[k] = _run_prepared(prep, out_dir, overwrite, progress, build_root)
            except Exception as exc:  # noqa: BLE001 - recorded by on_error, the others go on
                fail(k, exc)
        return
    groups: dict[str, list[int]] = {}
    for k, prep in preps.items():
        groups.setdefault(build_key(prep.config, prep.plan), []).append(k)
    for key, group in groups.items():
        _run_group(key, [preps[k] for k in group], results, group, out_dir, overwrite, progress, build_root, fail)


def _run_group(key, preps, results, members, out_dir, overwrite, progress, build_root, fail):
    """Compile once for ``preps`` (one build key) and run each through ``run_args``."""
    first = preps[0]
    c0, pl0 = first.config, first.plan
    failed: set[int] = set()

    def fail_once(k, exc):
        failed.add(k)
        fail(k, exc)

    limit = {pw: min(p.streams.connectivity.n(pw) for p in preps) for pw in c0.model.pathway_names}
    try:
        cache_key = {"label": f"{c0.model.name}, reusable build", "build_key": key, "spikes": spike_recording(c0.device),
                     "family": {"declaration": c0.model.to_dict(), "lowering": c0.lowering, "reusable": True}}  # fmt: skip
        with devices.target(c0.device, build_root=build_root, cache_key=cache_key) as dev, devices.quiet_codegen_warnings():
            dev.prepare_reuse()
            built = build_network(
                c0.model, pl0.timeline, pl0.images, None, connectivity=first.streams.connectivity,
                reusable=True, record_limit=limit, spikes=spike_recording(c0.device),
            )  # fmt: skip
            dev.compile(built, pl0.timeline.duration)
            build_info = {"reused": True, "key": key, "directory": str(dev.directory), "n_runs": len(preps), **dev.timings}
            for pos, (k, prep) in enumerate(zip(members, preps)):
                try:
                    results[k] = _run_compiled(dev, built, prep, out_dir, overwrite, progress, {**build_info, "index": pos})
                except Exception as exc:  # noqa: BLE001 - recorded by fail, the others go on
                    fail_once(k, exc)
    except Exception as exc:  # noqa: BLE001 - the build failed: every member not yet run fails
        for k in members:
            if results[k] is None and k not in failed:
                fail_once(k, exc)


def _run_compiled(dev, built: BuiltNetwork, prep: _Prepared, out_dir, overwrite, progress, build_info) -> RunResult:
    """One run of a group on its compiled program: its data and seed in, its record out."""
    # total_s of a run in a group counts its planning and its own run, not the group's build or
    # the runs before it (the build's time is in "build").
    plan_s, now = prep.t_plan - prep.t_start, time.perf_counter()
    prep.t_start, prep.t_plan = now - plan_s, now
    if progress:
        _announce(prep)
    model, conn = prep.config.model, prep.streams.connectivity
    data = run_data(model, prep.plan.timeline, prep.plan.images, conn)
    timings = dev.run_compiled({built.data_arrays[n]: v for n, v in data.items()}, prep.streams.brian_seed)
    # The compiled network's handles, with this run's synapses and initial weights.
    w0 = initial_weight_values(model, conn)
    (arrays,) = _read_back(model, built, [prep.plan.timeline], [prep.streams.settle_rng], [conn], [w0])
    dev.discard_results()
    if isinstance(arrays, Exception):
        raise arrays
    return _finish(prep, arrays, timings, out_dir, overwrite, build=build_info)
