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

from sleep_brian import devices, metrics, readout, store
from sleep_brian.data import load_dataset
from sleep_brian.encoding import encode_images
from sleep_brian.errors import ConfigError, DeviceError
from sleep_brian.network import BuiltNetwork, build_network, settle_weights, weight_bounds
from sleep_brian.params import PATHWAYS, ModelParams, ScheduleParams, to_dict
from sleep_brian.protocol import Test, Timeline, align_to, lower, paper_schedule, sleep_grid

__all__ = ["RunConfig", "RunResult", "run", "plan", "response_counts", "versions", "stream", "STREAMS"]


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run."""

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "paper"
    params: ModelParams | None = None  # None: the ``model`` preset's parameters
    schedule: ScheduleParams | None = None  # None: the ``model`` preset's schedule
    seed: int = 1
    device: str = "cpp_standalone"
    control: bool = True
    lowering: str = "timed_array"

    def __post_init__(self):
        import models  # the presets live above this layer's dependencies, in models/

        if self.params is None:
            object.__setattr__(self, "params", models.get_model(self.model))
        if self.schedule is None:
            object.__setattr__(self, "schedule", models.get_schedule(self.model))
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
        if not isinstance(self.params, ModelParams) or not isinstance(self.schedule, ScheduleParams):
            raise ConfigError("params must be a ModelParams and schedule a ScheduleParams.")
        devices.check_device(self.device)
        if self.lowering not in ("timed_array", "network_operation"):
            raise ConfigError(f"lowering = {self.lowering!r}; expected 'timed_array' or 'network_operation'.")
        if self.lowering == "network_operation" and self.device not in devices.RUNTIME:
            raise DeviceError(
                f"the network_operation lowering runs Python during the simulation, which {self.device} "
                "cannot; use --device numpy or cython, or the default timed_array lowering."
            )

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["params"] = to_dict(self.params)
        d["schedule"] = to_dict(self.schedule)
        d["seed"] = int(self.seed)
        return d

    def name(self) -> str:
        """Record folder name: readable prefix and a hash of the whole configuration."""
        r = self.schedule.sleep_fraction
        return f"{self.dataset}_{self.model}_sleep{r:g}_seed{self.seed}_{self.device}_{store.config_key(self.to_dict())}"


@dataclass
class RunResult:
    record: dict
    arrays: dict
    path: Path | None = None


#: Every random stream of a run derives from its master seed and one of these names. (The
#: dataset's subsets use ``SeedSequence(seed).spawn``, whose keys differ from all of these.)
STREAMS = ("order", "connectivity", "settle", "brian")


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
    s, p = config.schedule, config.params
    data = load_dataset(
        config.dataset, path=config.data_dir, side=p.input.side, n_train=s.n_train, n_test=s.n_test, seed=config.seed
    )
    x = encode_images(np.concatenate([data.x_train, data.x_test]), p.input)
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
        training += paper_schedule(order, s.presentation, s.sleep_fraction, s.wake_block, s.sleep_cap)
    phases = []
    if config.control:
        phases += [Test(fit_idx, s.presentation, "fit_untrained"), Test(test_idx, s.presentation, "test_untrained")]
        # A short rest after the control puts every sleep boundary on the grid that training
        # alone would have, so weight snapshots can be coarse and still exact (snapshot_plan).
        phases = align_to(phases, sleep_grid(lower(training, p.dt)) if training else 0, p.dt)
    phases += training
    phases += [Test(fit_idx, s.presentation, "fit"), Test(test_idx, s.presentation, "test")]
    return Plan(x, y, fit_idx, test_idx, lower(phases, p.dt), data.source)


def response_counts(spike_i: np.ndarray, spike_step: np.ndarray, span, n_neurons: int) -> np.ndarray:
    """Spike counts per shown image and neuron, (n_images, n_neurons), for one Wake/Test span."""
    sel = (spike_step >= span.start_step) & (spike_step < span.stop_step)
    img = (spike_step[sel] - span.start_step) // span.steps_per_image
    counts = np.zeros((len(span.images), n_neurons), dtype=np.int32)
    np.add.at(counts, (img, spike_i[sel]), 1)
    return counts


def _read_back(config: RunConfig, built: BuiltNetwork, timeline: Timeline, rng) -> dict:
    """Copy everything needed out of Brian2 objects into numpy arrays (before the device resets)."""
    dt = float(config.params.dt)
    out = {}
    for name, mon in built.spikes.items():
        out[f"spike_i_{name}"] = np.asarray(mon.i[:], dtype=np.int32)
        out[f"spike_step_{name}"] = np.round(np.asarray(mon.t_[:]) / dt).astype(np.int64)
    clock_now = float(np.asarray(built.groups["exc"].sleep_clock[:])[0])
    for pw, S in built.synapses.items():
        w = np.asarray(S.w[:], dtype=float)
        last = np.asarray(S.last_sleep[:], dtype=float)
        out[f"w_final_{pw}"] = settle_weights(config.params, pw, w, last, clock_now, rng)
        out[f"w_initial_{pw}"] = built.initial_weights[pw]
        out[f"i_{pw}"] = built.connectivity.i[pw].astype(np.int32)
        out[f"j_{pw}"] = built.connectivity.j[pw].astype(np.int32)
        if pw in built.weight_monitors:
            mon = built.weight_monitors[pw]
            out[f"w_snap_{pw}"] = np.asarray(mon.w[:], dtype=np.float32)
            out[f"snap_index_{pw}"] = built.weight_record[pw].astype(np.int32)
    out["snapshot_steps"] = np.array(built.snapshot_steps)
    return out


def _snapshot(arrays: dict, pathway: str, step: int, grid: int, final_step: int):
    """Recorded weights of ``pathway`` at time step ``step``, which must lie on the snapshot grid."""
    if step >= final_step:
        return arrays[f"w_final_{pathway}"][arrays[f"snap_index_{pathway}"]]
    if step % grid:
        raise AssertionError(f"step {step} is not on the snapshot grid of {grid} steps")
    return arrays[f"w_snap_{pathway}"][:, step // grid].astype(float)


def _keep_sleep_snapshots(arrays: dict, timeline: Timeline) -> None:
    """Replace the regular weight snapshots by those at the start and end of every sleep."""
    steps = np.array(timeline.sleep_boundaries(), dtype=np.int64)
    arrays["sleep_boundary_steps"] = steps
    grid = int(arrays["snapshot_steps"])
    for pw in PATHWAYS:
        if f"w_snap_{pw}" in arrays:
            if len(steps):
                arrays[f"w_sleep_boundary_{pw}"] = np.stack(
                    [_snapshot(arrays, pw, int(s), grid, timeline.n_steps) for s in steps], axis=1
                ).astype(np.float32)
            del arrays[f"w_snap_{pw}"]


def _summarise(config: RunConfig, pl: Plan, arrays: dict) -> dict:
    """Readouts and metrics from the arrays of a finished run."""
    tl, p = pl.timeline, config.params
    n_exc = p.connectivity.n_exc
    pres_s = tl.spans_of("test")[0].steps_per_image * float(p.dt)  # as simulated (whole steps)
    resp = {
        span.label: response_counts(arrays["spike_i_exc"], arrays["spike_step_exc"], span, n_exc)
        for span in tl.spans_of("test")
    }
    for label, counts in resp.items():
        arrays[f"counts_{label}"] = counts
    y_fit, y_test = pl.labels[pl.fit_idx], pl.labels[pl.test_idx]
    arrays["y_fit"], arrays["y_test"] = y_fit, y_test
    accuracy, rates = {}, {}
    for tag, suffix in (("trained", ""), ("untrained", "_untrained")):
        if f"fit{suffix}" not in resp:
            continue
        accuracy[tag] = readout.evaluate_readouts(resp[f"fit{suffix}"], y_fit, resp[f"test{suffix}"], y_test)
        rates[tag] = metrics.rate_stats(resp[f"test{suffix}"], pres_s)

    grid, end = int(arrays["snapshot_steps"]), tl.n_steps
    weights, flags = {}, {"nan_weights": [], "saturated": []}
    for pw in PATHWAYS:
        lo, hi = weight_bounds(p, pw)
        w_end = arrays[f"w_final_{pw}"]
        entry = {"n_synapses": int(len(w_end)), "final": metrics.weight_stats(w_end, lo, hi) if len(w_end) else {}}
        if not np.isfinite(w_end).all():
            flags["nan_weights"].append(pw)
        elif len(w_end) and entry["final"]["saturation"] > 0.5:
            flags["saturated"].append(pw)
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
                        "t_s": span.start_step * float(p.dt),
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
    dt_s = float(p.dt)
    return {
        "accuracy": accuracy,
        "rates": rates,
        "weights": weights,
        "flags": flags,
        "timeline": {
            "duration_s": tl.n_steps * dt_s,
            "wake_s": sum(s.stop_step - s.start_step for s in tl.spans_of("wake")) * dt_s,
            "sleep_s": sum(s.stop_step - s.start_step for s in tl.spans_of("sleep")) * dt_s,
            "test_s": sum(s.stop_step - s.start_step for s in tl.spans_of("test")) * dt_s,
            "n_sleeps": len(tl.spans_of("sleep")),
            "spans": [
                {"kind": s.kind, "label": s.label, "start_s": s.start_step * dt_s, "stop_s": s.stop_step * dt_s}
                for s in tl.spans
            ],
        },
    }


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
    t_start = time.perf_counter()
    name = config.name()
    if out_dir is not None and (Path(out_dir) / name).exists() and not overwrite:
        raise ConfigError(f"a record already exists at {Path(out_dir) / name}; pass overwrite=True (--overwrite).")
    if out_dir is not None:
        store.check_writable(out_dir)
    store.config_key(config.to_dict())  # fails now, not after the simulation, if it cannot be stored
    pl = plan(config)
    t_plan = time.perf_counter()
    conn_rng = np.random.default_rng(stream(config.seed, "connectivity"))
    settle_rng = np.random.default_rng(stream(config.seed, "settle"))
    brian_seed = int(stream(config.seed, "brian").generate_state(1)[0] % (2**31 - 1))
    if progress:
        print(
            f"sleep-brian: {config.dataset}, {len(pl.images)} images, sleep {config.schedule.sleep_fraction:g}, "
            f"seed {config.seed}, device {config.device}: simulating {float(pl.timeline.duration):.0f} s "
            f"({len(pl.timeline.spans_of('sleep'))} sleeps)",
            file=sys.stderr,
            flush=True,
        )
    with devices.target(config.device, build_root=build_root) as dev, devices.quiet_codegen_warnings():
        b2.seed(brian_seed)
        built = build_network(config.params, pl.timeline, pl.images, conn_rng, lowering=config.lowering)
        dev.run(built.net, pl.timeline.duration, report="stderr" if progress else None)
        arrays = _read_back(config, built, pl.timeline, settle_rng)
        timings = dict(dev.timings)
    summary = _summarise(config, pl, arrays)
    timings.update(plan_s=t_plan - t_start, total_s=time.perf_counter() - t_start)
    record = {
        "schema": 1,
        "name": name,
        "config": config.to_dict(),
        "seed": int(config.seed),
        "brian_seed": brian_seed,
        "device": config.device,
        "versions": versions(),
        "data": {
            "source": pl.source,
            "n_images": int(len(pl.images)),
            "n_fit": int(len(pl.fit_idx)),
            "n_test": int(len(pl.test_idx)),
        },
        "timings": timings,
        **summary,
    }
    for k in [k for k in arrays if k.startswith("spike_")]:
        del arrays[k]  # responses per image are kept; raw spike trains would dominate the file
    _keep_sleep_snapshots(arrays, pl.timeline)
    path = store.save(out_dir, name, record, arrays, overwrite=overwrite) if out_dir is not None else None
    return RunResult(record=record, arrays=arrays, path=path)
