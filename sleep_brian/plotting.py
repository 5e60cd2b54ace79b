"""Figures from records (never from a running simulation).

Every function draws into an ``ax`` it is given (or a new figure's) and returns the Axes; none
calls ``plt.show``. Figures are plain :class:`matplotlib.figure.Figure` objects, so the library
never touches pyplot's global state; :func:`save` writes PNG and PDF.

=============================  ===============================================================
function                       input
=============================  ===============================================================
accuracy_vs_sleep              a sweep table (:func:`sleep_brian.store.load`)
accuracy_and_spread            a sweep table: accuracy and its sd over seeds, control as a band
weights_over_time              one record (its ``stability``), sleeps shaded
responses_over_time            one record (response metrics per wake block), sleeps shaded
weight_histograms              one record's arrays: weights right before and after a sleep
receptive_fields               one record's arrays: input->E weights as images
raster                         one record's arrays: spikes across the first wake->sleep switch
forgetting_matrix              a task-accuracy matrix (sleep_brian.protocols.class_incremental)
=============================  ===============================================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleep_brian import store
from sleep_brian.errors import ConfigError

__all__ = [
    "new_axes",
    "save",
    "accuracy_vs_sleep",
    "accuracy_and_spread",
    "weights_over_time",
    "responses_over_time",
    "weight_histograms",
    "receptive_fields",
    "raster",
    "forgetting_matrix",
    "FORMATS",
]

FORMATS = ("png", "pdf")
SLEEP_COLOUR = "#8da0cb"


def _figure(nrows=1, ncols=1, size=(5.0, 3.5), sharex=False):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError("plotting needs matplotlib: pip install 'sleep-brian[plot]'.") from exc
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, sharex=sharex)


def new_axes(size=(5.0, 3.5)):
    """A fresh Axes on its own figure."""
    return _figure(size=size)[1][0, 0]


def save(fig, path, formats=FORMATS) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix of ``formats``; return the files written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"format {fmt!r}; choose from {', '.join(FORMATS)}.")
        f = path.with_suffix("." + fmt)
        fig.savefig(f, dpi=150)
        out.append(f)
    return out


def record_dt_s(record: dict) -> float:
    """The simulation time step of a record, in seconds."""
    return float(record["timeline"]["dt_s"])


def _declaration(record: dict) -> dict:
    """The declared model of a record (``config.declaration``)."""
    decl = record.get("config", {}).get("declaration")
    if not decl:
        raise ConfigError(f"record {record.get('name')!r} holds no model declaration (written before sleep-brian 0.3).")
    return decl


def rf_pathway(record: dict) -> str | None:
    """The pathway from the input layer onto the readout population: its weights are receptive fields."""
    decl = _declaration(record)
    for pw in decl["pathways"]:
        if pw["source"] == decl["inputs"]["name"] and pw["target"] == decl["readout"]:
            return pw["name"]
    return None


def _shade_sleeps(ax, record: dict) -> None:
    for i, sp in enumerate(s for s in record["timeline"]["spans"] if s["kind"] == "sleep"):
        ax.axvspan(sp["start_s"], sp["stop_s"], color=SLEEP_COLOUR, alpha=0.35, lw=0, label="sleep" if i == 0 else None)


def accuracy_vs_sleep(df, *, metric: str = "accuracy", dataset: str | None = None, ax=None):
    """Mean accuracy against sleep fraction, one line per variant, with bootstrap 95 % CIs;
    the untrained control (mean over the runs that have it) as a dashed line."""
    from sleep_brian import statistics

    ax = new_axes() if ax is None else ax
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if df.empty:
        raise ConfigError(f"no runs to plot{' for ' + dataset if dataset else ''}.")
    summary = statistics.summarize(df, metric)
    for variant, g in summary.groupby("variant", sort=True):
        g = g.sort_values("sleep_fraction")
        x, m = g["sleep_fraction"].to_numpy(float), g["mean"].to_numpy(float)
        err = np.vstack([m - g["ci_lo"].to_numpy(float), g["ci_hi"].to_numpy(float) - m])
        ax.errorbar(x, m, yerr=err, marker="o", capsize=3, label=str(variant))
    untrained = store.untrained_column(metric)
    if untrained != metric and untrained in df.columns and np.isfinite(df[untrained].astype(float)).any():
        ax.axhline(float(np.nanmean(df[untrained].astype(float))), ls="--", color="grey", label="untrained")
    ax.set_xlabel("sleep fraction (sleep time / wake time)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(dataset or ", ".join(sorted(df["dataset"].unique())))
    ax.legend(fontsize="small")
    return ax


def accuracy_and_spread(df, *, metric: str = "accuracy", dataset: str | None = None):
    """Two panels against sleep fraction, one colour per variant: the mean accuracy with its
    bootstrap 95 % CI, the untrained control as a band (its mean +- sd over the seeds that have
    it) and the sd over seeds. Returns the Figure."""
    from sleep_brian import statistics

    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if df.empty:
        raise ConfigError(f"no runs to plot{' for ' + dataset if dataset else ''}.")
    fig, axes = _figure(1, 2, size=(5.0, 3.6))
    acc, spread = axes[0, 0], axes[0, 1]
    summary = statistics.summarize(df, metric)
    untrained = store.untrained_column(metric)
    x_all = np.sort(summary["sleep_fraction"].astype(float).unique())
    for k, (variant, g) in enumerate(summary.groupby("variant", sort=True)):
        colour = f"C{k}"
        g = g.sort_values("sleep_fraction")
        x, m = g["sleep_fraction"].to_numpy(float), g["mean"].to_numpy(float)
        err = np.vstack([m - g["ci_lo"].to_numpy(float), g["ci_hi"].to_numpy(float) - m])
        acc.errorbar(x, m, yerr=err, marker="o", capsize=3, color=colour, label=str(variant))
        spread.plot(x, g["sd"].to_numpy(float), marker="o", color=colour, label=str(variant))
        if untrained != metric and untrained in df.columns:
            u = df.loc[df["variant"] == variant, untrained].astype(float).to_numpy()
            u = u[np.isfinite(u)]
            if len(u):
                sd = float(u.std(ddof=1)) if len(u) > 1 else 0.0
                acc.fill_between([x_all[0], x_all[-1]], u.mean() - sd, u.mean() + sd, color=colour, alpha=0.15,
                                 label=f"{variant}: untrained (n={len(u)})")  # fmt: skip
    acc.set_xlabel("sleep fraction (sleep time / wake time)")
    acc.set_ylabel(metric.replace("_", " "))
    acc.legend(fontsize="x-small")
    spread.set_xlabel("sleep fraction (sleep time / wake time)")
    spread.set_ylabel("sd over seeds")
    spread.set_ylim(bottom=0)
    fig.suptitle(dataset or ", ".join(sorted(df["dataset"].unique())))
    return fig


def weights_over_time(record: dict, *, pathway=None, stat: str = "abs_mean", ax=None):
    """A weight statistic of one pathway (or of each of a sequence of pathways; default: the
    receptive fields, :func:`rf_pathway`) at every wake/sleep boundary, sleeps shaded."""
    ax = new_axes() if ax is None else ax
    stab = record.get("stability") or {}
    pathway = rf_pathway(record) if pathway is None else pathway
    pathways = [pathway] if isinstance(pathway, str) else list(pathway)
    for pw in pathways:
        series = stab.get("weights", {}).get(pw, {})
        if stat not in series:
            raise ConfigError(f"the record has no {stat!r} over time for {pw!r}; available: {', '.join(series) or 'none'}.")
    _shade_sleeps(ax, record)
    for pw in pathways:
        label = f"{pw} {stat}" if len(pathways) == 1 else pw
        kw = {"color": "k"} if len(pathways) == 1 else {}
        ax.plot(stab["t_s"], stab["weights"][pw][stat], marker=".", label=label, **kw)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{pathways[0] if len(pathways) == 1 else 'weights'}: {stat.replace('_', ' ')}")
    ax.legend(fontsize="small")
    return ax


def responses_over_time(record: dict, *, stat: str = "calinski_harabasz", ax=None):
    """A response metric per wake block (participation ratio, class selectivity, CH score, rate)."""
    ax = new_axes() if ax is None else ax
    blocks = (record.get("stability") or {}).get("blocks", {})
    if stat not in blocks:
        raise ConfigError(f"the record has no {stat!r} per block; available: {', '.join(blocks) or 'none'}.")
    _shade_sleeps(ax, record)
    ax.plot(blocks["t_s"], blocks[stat], marker=".", color="C3", label=stat.replace("_", " "))
    ax.set_xlabel("time (s)")
    ax.set_ylabel(stat.replace("_", " "))
    ax.legend(fontsize="small")
    return ax


def _boundary_column(arrays: dict, step: int) -> int:
    steps = list(np.asarray(arrays["boundary_steps"]))
    if step not in steps:
        raise ConfigError(f"no weight snapshot at step {step}.")
    return steps.index(step)


def weight_histograms(record: dict, arrays: dict, *, pathway: str | None = None, sleep: int = 0, bins: int = 40, ax=None):
    """Histograms of one pathway's weights (default: :func:`rf_pathway`) right before and right
    after sleep number ``sleep``."""
    ax = new_axes() if ax is None else ax
    pathway = rf_pathway(record) if pathway is None else pathway
    sleeps = [s for s in record["timeline"]["spans"] if s["kind"] == "sleep"]
    if not sleeps:
        raise ConfigError("the run has no sleep: nothing to compare before and after.")
    if not 0 <= sleep < len(sleeps):
        raise ConfigError(f"sleep = {sleep}; the run has sleeps 0..{len(sleeps) - 1}.")
    key = f"w_boundary_{pathway}"
    if key not in arrays:
        raise ConfigError(f"the record has no weight snapshots of {pathway!r}.")
    dt_s = record_dt_s(record)
    sp = sleeps[sleep]
    a = arrays[key][:, _boundary_column(arrays, int(round(sp["start_s"] / dt_s)))]
    b = arrays[key][:, _boundary_column(arrays, int(round(sp["stop_s"] / dt_s)))]
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=bins)
    ax.hist(a, bins=edges, alpha=0.6, label="before sleep", color="C0")
    ax.hist(b, bins=edges, alpha=0.6, label="after sleep", color=SLEEP_COLOUR)
    ax.set_xlabel(f"{pathway} weight")
    ax.set_ylabel("synapses")
    ax.set_title(f"sleep {sleep + 1} at {sp['start_s']:.0f} s")
    ax.legend(fontsize="small")
    return ax


def receptive_fields(arrays: dict, *, pathway: str, n_input: int, n_target: int, n_show: int = 16,
                     which: str = "final", fig=None):  # fmt: skip
    """Weights of ``pathway`` (input layer -> a population) onto its first ``n_show`` target
    neurons, each as a side x side image.

    Returns the grid of Axes (one per neuron)."""
    side = int(round(np.sqrt(n_input)))
    if side * side != n_input:
        raise ConfigError(f"n_input = {n_input} is not a square image size.")
    w = arrays[f"w_{which}_{pathway}"]
    n_exc = n_target
    m = np.zeros((n_input, n_exc))
    m[arrays[f"i_{pathway}"], arrays[f"j_{pathway}"]] = w
    cols = int(np.ceil(np.sqrt(n_show)))
    rows = int(np.ceil(n_show / cols))
    if fig is None:
        fig, axes = _figure(rows, cols, size=(1.2, 1.2))
    else:
        axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    vmax = float(np.abs(m).max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < min(n_show, n_exc):
            ax.imshow(m[:, k].reshape(side, side), cmap="magma", vmin=0, vmax=vmax)
            ax.set_title(f"{k}", fontsize=7)
        else:
            ax.set_axis_off()
    return axes


def raster(arrays: dict, *, populations, dt_s: float = 1e-3, ax=None):
    """Spikes of each population (``[(name, size), ...]``, stacked upwards in that order) around
    the first wake->sleep transition (the dashed line)."""
    ax = new_axes(size=(6.0, 3.5)) if ax is None else ax
    if "raster_window_steps" not in arrays:
        raise ConfigError("the record has no raster window (recorded by sleep-brian >= 0.2 runs).")
    lo, centre, hi = (int(x) for x in arrays["raster_window_steps"])
    offset = 0
    for k, (name, size) in enumerate(populations):
        if f"raster_step_{name}" in arrays:
            ax.plot(arrays[f"raster_step_{name}"] * dt_s, arrays[f"raster_i_{name}"] + offset, "|", ms=2,
                    color="k" if k == 0 else f"C{2 + k}", label=name)  # fmt: skip
        offset += size
    ax.axvline(centre * dt_s, ls="--", color="grey")
    ax.axvspan(centre * dt_s, hi * dt_s, color=SLEEP_COLOUR, alpha=0.25, lw=0, label="sleep")
    ax.set_xlim(lo * dt_s, hi * dt_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def forgetting_matrix(acc_matrix, *, task_names=None, ax=None):
    """The task-accuracy matrix ``A[i, j]`` (accuracy on task j after training task i)."""
    ax = new_axes(size=(4.0, 3.5)) if ax is None else ax
    A = np.asarray(acc_matrix, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ConfigError(f"acc_matrix has shape {A.shape}; expected a square (tasks, tasks) matrix.")
    im = ax.imshow(np.where(np.tril(np.ones_like(A)) > 0, A, np.nan), vmin=0, vmax=1, cmap="viridis")
    for i in range(A.shape[0]):
        for j in range(i + 1):
            ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center", fontsize=8, color="w" if A[i, j] < 0.6 else "k")
    names = task_names or [f"T{k + 1}" for k in range(A.shape[0])]
    ax.set_xticks(range(A.shape[0]), names)
    ax.set_yticks(range(A.shape[0]), names)
    ax.set_xlabel("tested on task")
    ax.set_ylabel("after training task")
    ax.figure.colorbar(im, ax=ax, label="accuracy")
    return ax


def sg_weights_over_training(records: list[dict], *, layer: str = "input_hidden", stat: str = "abs_mean",
                             variant: str | None = None, dataset: str | None = None, ax=None):
    """An SG-SNN weight statistic of one layer at the end of every epoch, one line per sleep
    fraction (mean over seeds), for one variant and dataset (default: the first of each)."""
    ax = new_axes() if ax is None else ax
    sg = [r for r in records if r.get("model") == "sg-snn" and r.get("status") != "failed" and r.get("stability")]
    if not sg:
        raise ConfigError("no SG-SNN records with weight statistics to plot.")
    variant = variant or sorted({r["config"]["variant"] for r in sg})[0]
    dataset = dataset or sorted({r["config"]["dataset"] for r in sg})[0]
    sel = [r for r in sg if r["config"]["variant"] == variant and r["config"]["dataset"] == dataset]
    by_level: dict[float, list] = {}
    for r in sel:
        series = r["stability"]["weights"].get(layer, {}).get(stat)
        if series is None:
            raise ConfigError(f"{r['name']} has no {stat!r} for layer {layer!r}.")
        by_level.setdefault(r["config"]["sleep_fraction"], []).append((r["stability"]["epoch"], series))
    for i, (level, runs) in enumerate(sorted(by_level.items())):
        epochs = runs[0][0]
        mean = np.mean([s for _, s in runs if len(s) == len(epochs)], axis=0)
        ax.plot(epochs, mean, ".-", color=f"C{i}", label=f"sleep {level:g} (n={len(runs)})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{layer}: {stat.replace('_', ' ')}")
    ax.set_title(f"{variant}, {dataset}")
    ax.legend(fontsize="x-small")
    return ax


def _example_record(records: list[dict], name: str | None):
    if name is not None:
        for r in records:
            if r.get("name") == name:
                return r
        raise ConfigError(f"no record named {name!r} in the folder.")
    records = [r for r in records if r.get("model", "paper") != "sg-snn"]  # time courses are the STDP-SNN's
    ok = [r for r in records if r.get("status") != "failed" and r.get("timeline", {}).get("n_sleeps", 0) > 0]
    ok = ok or [r for r in records if r.get("status") != "failed"]
    if not ok:
        return None
    return min(ok, key=lambda r: (r["config"]["schedule"]["sleep_fraction"], r["seed"], r["name"]))


def _no_sleep_twin(records: list[dict], ex: dict):
    """The sleep-0 run with the same dataset, variant and seed as ``ex`` (or None)."""
    c = ex["config"]
    for r in records:
        rc = r.get("config", {})
        if (
            r is not ex
            and r.get("status") != "failed"
            and rc.get("dataset") == c["dataset"]
            and rc.get("variant") == c.get("variant")
            and r.get("seed") == ex["seed"]
            and rc.get("schedule", {}).get("sleep_fraction") == 0
        ):
            return r
    return None


def make_figures(folders, out_dir, *, formats=FORMATS, record: str | None = None) -> list[Path]:
    """Every figure one or more folders of records support, written to ``out_dir``; returns the files.

    A sweep gives ``accuracy_vs_sleep``; an example run (``record``, or the run with the least
    non-zero sleep) gives weights and responses over time, weight histograms across its first
    sleep, receptive fields and a raster; a class-incremental result (``forgetting.json``) gives
    its accuracy matrices.
    """
    import json

    import pandas as pd

    folders = [Path(f) for f in ([folders] if isinstance(folders, (str, Path)) else folders)]
    out_dir = Path(out_dir)
    records, home = [], {}
    for f in folders:
        for r in store.load_records(f):
            records.append(r)
            home[r["name"]] = f
    written: list[Path] = []
    forgetting = next((f / "forgetting.json" for f in folders if (f / "forgetting.json").exists()), None)
    if not records and forgetting is None:
        where = " ".join(map(str, folders))
        raise ConfigError(f"no records under {where}; run `sleep-brian sweep --out FOLDER` (or `run`) first.")
    if records:
        df = pd.concat([store.load(f) for f in folders], ignore_index=True)
        done = df[df["status"] != "failed"]
        if len(done) and "accuracy" in done and done["accuracy"].notna().any():
            datasets = sorted(done["dataset"].unique())
            fig, axes = _figure(1, len(datasets))
            for ds, ax in zip(datasets, axes.flat):
                accuracy_vs_sleep(done, dataset=ds, ax=ax)
            written += save(fig, out_dir / "accuracy_vs_sleep", formats)
        ex = _example_record(records, record)
        if ex is not None:
            arrays = store.load_arrays(home[ex["name"]] / ex["name"])
            tag = ex["name"].rsplit("_", 2)[0]
            stab = ex.get("stability") or {}
            decl = _declaration(ex)
            rf = rf_pathway(ex)
            main = rf if rf in stab.get("weights", {}) else next(iter(stab.get("weights") or {}), None)
            if main is not None:
                stats = [
                    s for s in ("abs_mean", "saturation", "entropy", "rank_corr_prev", "rf_correlation") if s in stab["weights"][main]
                ]
                fig, axes = _figure(len(stats), 1, size=(7.0, 2.0), sharex=True)
                for s, ax in zip(stats, axes.flat):
                    have = tuple(pw for pw in stab["weights"] if s in stab["weights"][pw])
                    weights_over_time(ex, pathway=have, stat=s, ax=ax)
                    ax.set_ylabel(s.replace("_", " "))
                    ax.get_legend().remove()
                axes.flat[0].legend(fontsize="x-small", ncol=5, loc="lower left")
                axes.flat[0].set_title(f"weights over training: {tag}")
                written += save(fig, out_dir / "weights_over_time", formats)
            twin = _no_sleep_twin(records, ex)
            if main is not None and twin is not None and main in (twin.get("stability") or {}).get("weights", {}):
                stats = [s for s in ("abs_mean", "entropy", "rf_correlation") if s in stab["weights"][main]]
                fig, axes = _figure(1, len(stats), size=(4.0, 3.0))
                for s, ax in zip(stats, axes.flat):
                    for rec, style in ((twin, "C0"), (ex, "C3")):
                        st = rec["stability"]
                        r = rec["config"]["schedule"]["sleep_fraction"]
                        # time since training began, so runs with and without a control align
                        t0 = st["t_s"][0] if st["t_s"] else 0.0
                        ax.plot(np.asarray(st["t_s"]) - t0, st["weights"][main][s], ".-", color=style, label=f"sleep {r:g}")
                    ax.set_xlabel("training time (s)")
                    ax.set_ylabel(f"{main} {s.replace('_', ' ')}")
                    ax.legend(fontsize="small")
                axes.flat[0].set_title(f"{ex['config']['dataset']}, seed {ex['seed']}")
                written += save(fig, out_dir / "sleep_vs_no_sleep", formats)
            if stab.get("blocks"):
                stats = [s for s in ("rate_hz", "participation_ratio", "class_selectivity", "calinski_harabasz") if s in stab["blocks"]]
                fig, axes = _figure(len(stats), 1, size=(7.0, 2.0), sharex=True)
                for s, ax in zip(stats, axes.flat):
                    responses_over_time(ex, stat=s, ax=ax)
                axes.flat[0].set_title(f"responses per wake block: {tag}")
                written += save(fig, out_dir / "responses_over_time", formats)
            shown = [pw["name"] for pw in decl["pathways"] if f"w_boundary_{pw['name']}" in arrays][:2]
            if ex["timeline"]["n_sleeps"] and shown:
                fig, axes = _figure(1, len(shown))
                for pw, ax in zip(shown, axes.flat):
                    weight_histograms(ex, arrays, pathway=pw, ax=ax)
                written += save(fig, out_dir / "weight_histograms", formats)
            if rf is not None and f"w_final_{rf}" in arrays:
                n_target = next(p["size"] for p in decl["populations"] if p["name"] == decl["readout"])
                axes = receptive_fields(arrays, pathway=rf, n_input=decl["inputs"]["size"], n_target=n_target)
                written += save(axes.flat[0].figure, out_dir / "receptive_fields", formats)
            if "raster_window_steps" in arrays:
                pops = [(p["name"], p["size"]) for p in decl["populations"]]
                ax = raster(arrays, populations=pops, dt_s=record_dt_s(ex))
                written += save(ax.figure, out_dir / "raster", formats)
    sg = [r for r in records if r.get("model") == "sg-snn" and r.get("status") != "failed" and r.get("stability")]
    if sg:
        variants = sorted({r["config"]["variant"] for r in sg})
        layers = ("input_hidden", "hidden_output")
        fig, axes = _figure(len(variants), len(layers), size=(4.0, 3.0))
        for row, v in enumerate(variants):
            for col, layer in enumerate(layers):
                sg_weights_over_training(sg, layer=layer, variant=v, ax=axes[row, col])
        written += save(fig, out_dir / "sg_weights_over_training", formats)
    if forgetting is not None:
        result = json.loads(forgetting.read_text())
        conds = result["conditions"]
        fig, axes = _figure(1, len(conds), size=(4.0, 3.5))
        for (label, cond), ax in zip(conds.items(), axes.flat):
            forgetting_matrix(cond["matrix_mean"], task_names=result.get("task_names"), ax=ax)
            ax.set_title(label)
        written += save(fig, out_dir / "forgetting_matrix", formats)
    return written
