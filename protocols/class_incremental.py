"""Class-incremental learning with and without sleep between tasks: does sleep reduce forgetting?

The paper claims that sleep protects what STDP learned but shows no forgetting test; this is one.
Classes arrive in tasks (default: 5 tasks of 2 classes). One simulation per seed and condition:

    for each task t:  Wake over task t's training images (STDP on)
                      [Sleep for sleep_fraction x the task's wake time]   (the "sleep" condition)
                      Test: fit and test images of every class (plasticity off)

After each task the responses of the excitatory neurons are read out. ``A[i, j]`` is the
accuracy on task j's test images after training task i, with task j's own classes only (chance:
1 / classes per task) and one of two readouts:

- ``frozen`` (default): the PCA+QDA readout of task j fitted on the responses right after task j
  and kept; later changes of the representation show up as forgetting.
- ``refit``: fitted anew after every task on that moment's responses; measures whether the
  information is still there at all.

Reports the accuracy matrix, average accuracy, backward transfer and forgetting
(:func:`sleep_brian.metrics.forgetting_metrics`), per seed and as mean +- sd. Example::

    python -m sleep_brian.protocols.class_incremental --dataset digits --seeds 1 2 3 --sleep 0.2 --out results/forgetting
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import brian2 as b2
import numpy as np

from sleep_brian import metrics, readout, store
from sleep_brian.argtypes import fraction as _fraction
from sleep_brian.argtypes import positive_int as _positive_int
from sleep_brian.argtypes import quantity as _quantity
from sleep_brian.data import load_dataset
from sleep_brian.encoding import encode_images
from sleep_brian.errors import ConfigError, SleepBrianError
from sleep_brian.experiment import response_counts, simulate, stream, versions
from sleep_brian.model import Model
from sleep_brian.models import DEFAULT_MODEL
from sleep_brian.protocol import Sleep, Test, lower, paper_schedule

__all__ = ["TASKS", "plan_tasks", "accuracy_matrices", "run_condition", "class_incremental", "main"]

TASKS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


def _per_class(labels, classes, n, rng):
    idx = []
    for c in classes:
        pool = np.flatnonzero(labels == c)
        if len(pool) < n:
            raise ConfigError(f"class {c} has {len(pool)} images; {n} were asked for. Lower the count.")
        idx.append(rng.choice(pool, size=n, replace=False))
    return np.sort(np.concatenate(idx))


def plan_tasks(labels_train, labels_test, tasks, *, n_train_per_class, n_fit_per_class, n_test_per_class, seed):
    """Image indices per task: ``train[t]`` (into the training set), and the fit and test sets
    shown after every task (into the training and test sets), drawn per class."""
    rng = np.random.default_rng(stream(seed, "order"))
    classes = sorted({c for t in tasks for c in t})
    if len(classes) != sum(len(t) for t in tasks):
        raise ConfigError(f"tasks {tasks} repeat a class; each class belongs to one task.")
    train = [rng.permutation(_per_class(labels_train, t, n_train_per_class, rng)) for t in tasks]
    fit = _per_class(labels_train, classes, n_fit_per_class, rng)
    test = _per_class(labels_test, classes, n_test_per_class, rng)
    return train, fit, test


def accuracy_matrices(responses, y_fit, y_test, tasks) -> dict[str, np.ndarray]:
    """The frozen and refit accuracy matrices from the (fit, test) responses after each task."""
    T = len(tasks)
    out = {"frozen": np.full((T, T), np.nan), "refit": np.full((T, T), np.nan)}
    for j, task in enumerate(tasks):
        mf, mt = np.isin(y_fit, task), np.isin(y_test, task)
        fitted = readout.paper_readout().fit(responses[j][0][mf], y_fit[mf])
        for i in range(j, T):
            r_fit, r_test = responses[i]
            out["frozen"][i, j] = float(np.mean(fitted.predict(r_test[mt]) == y_test[mt]))
            refit = readout.paper_readout().fit(r_fit[mf], y_fit[mf])
            out["refit"][i, j] = float(np.mean(refit.predict(r_test[mt]) == y_test[mt]))
    return out


def run_condition(model: Model, images, labels, train, fit, test, tasks, *, sleep_fraction, presentation,
                  seed, device="cpp_standalone", wake_block=35 * b2.second) -> dict:
    """One simulation of the task sequence; returns the accuracy matrices and weight summaries."""
    phases = []
    for t, order in enumerate(train):
        phases += paper_schedule(order, presentation, 0.0, wake_block)
        if sleep_fraction > 0:
            phases.append(Sleep(sleep_fraction * len(order) * presentation, label=f"sleep_{t}"))
        phases += [Test(fit, presentation, f"fit_{t}"), Test(test, presentation, f"test_{t}")]
    tl = lower(phases, model.dt)
    t0 = time.perf_counter()
    arrays, timings = simulate(model, tl, images, seed=seed, device=device)
    ro, n_ro = model.readout, model.population(model.readout).size
    responses = []
    for t in range(len(tasks)):
        (sf,), (st,) = tl.spans_of(label=f"fit_{t}"), tl.spans_of(label=f"test_{t}")
        responses.append(
            tuple(response_counts(arrays[f"spike_i_{ro}"], arrays[f"spike_step_{ro}"], s, n_ro) for s in (sf, st))
        )
    mats = accuracy_matrices(responses, labels[fit], labels[test], tasks)
    return {
        "matrices": {k: v.tolist() for k, v in mats.items()},
        "metrics": {k: metrics.forgetting_metrics(v) for k, v in mats.items()},
        "rate_hz": float(np.mean([r[1].mean() for r in responses]) / float(presentation)),
        "abs_mean_end": {pw: float(np.abs(arrays[f"w_final_{pw}"]).mean()) for pw in model.pathway_names},
        "simulated_s": float(tl.duration),
        "wall_s": time.perf_counter() - t0,
        "timings": timings,
    }


def class_incremental(dataset="digits", *, tasks=TASKS, seeds=(1, 2, 3), sleep_fraction=0.2, variant=DEFAULT_MODEL,
                      n_train_per_class=100, n_fit_per_class=30, n_test_per_class=30, presentation=1000 * b2.ms,
                      device="cpp_standalone", data_dir=None, out_dir=None, progress=True) -> dict:
    """Both conditions (no sleep, sleep) over ``seeds``; writes ``forgetting.json`` to ``out_dir``."""
    from sleep_brian import models

    tasks = tuple(tuple(int(c) for c in t) for t in tasks)
    if not 0 < sleep_fraction <= 1:
        raise ConfigError(f"sleep_fraction = {sleep_fraction!r}; the sleep condition needs a value in (0, 1].")
    if out_dir is not None:
        store.check_writable(out_dir)
    model = models.get_model(variant)
    conditions = {"no sleep": 0.0, f"sleep {sleep_fraction:g}": sleep_fraction}
    result = {
        "protocol": "class_incremental",
        "dataset": dataset,
        "variant": variant,
        "tasks": [list(t) for t in tasks],
        "task_names": ["/".join(map(str, t)) for t in tasks],
        "seeds": list(seeds),
        "n_train_per_class": n_train_per_class,
        "n_fit_per_class": n_fit_per_class,
        "n_test_per_class": n_test_per_class,
        "presentation_ms": float(presentation / b2.ms),
        "device": device,
        "declaration": model.to_dict(),
        "versions": versions(),
        "conditions": {},
    }
    for label, r in conditions.items():
        runs = []
        for seed in seeds:
            data = load_dataset(dataset, path=data_dir, side=model.inputs.encoding.side, seed=seed)
            train, fit, test = plan_tasks(
                data.y_train, data.y_test, tasks, n_train_per_class=n_train_per_class,
                n_fit_per_class=n_fit_per_class, n_test_per_class=n_test_per_class, seed=seed,
            )  # fmt: skip
            n_tr = len(data.x_train)
            images = encode_images(np.concatenate([data.x_train, data.x_test]), model.inputs.encoding)
            labels = np.concatenate([data.y_train, data.y_test])
            if progress:
                print(f"class_incremental: {dataset}, {label}, seed {seed}", file=sys.stderr, flush=True)
            runs.append(
                run_condition(model, images, labels, train, fit, test + n_tr, tasks, sleep_fraction=r,
                              presentation=presentation, seed=seed, device=device)  # fmt: skip
            )
        cond = {"sleep_fraction": r, "runs": runs}
        for readout_kind in ("frozen", "refit"):
            mats = np.array([run["matrices"][readout_kind] for run in runs])
            summary = {}
            for key in ("average_accuracy", "backward_transfer", "forgetting"):
                v = np.array([run["metrics"][readout_kind][key] for run in runs], dtype=float)
                summary[key] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan")}
            cond[readout_kind] = {"matrix_mean": mats.mean(axis=0).tolist(), "summary": summary}  # NaN above the diagonal
        cond["matrix_mean"] = cond["frozen"]["matrix_mean"]
        result["conditions"][label] = cond
    if out_dir is not None:
        out = Path(out_dir) / "forgetting.json"
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1, default=float))
        tmp.replace(out)  # atomic: a reader sees the old file or the new one, never half
    return result


def format_result(result: dict) -> str:
    lines = [f"{'condition':<12}{'readout':<8}{'avg acc':>16}{'backward transfer':>20}{'forgetting':>16}"]
    for label, cond in result["conditions"].items():
        for kind in ("frozen", "refit"):
            s = cond[kind]["summary"]
            cells = [f"{s[k]['mean']:+.3f} +- {s[k]['sd']:.3f}" for k in ("average_accuracy", "backward_transfer", "forgetting")]
            lines.append(f"{label:<12}{kind:<8}{cells[0]:>16}{cells[1]:>20}{cells[2]:>16}")
    for label, cond in result["conditions"].items():
        lines.append(f"\nA[i, j], frozen readout, mean over seeds ({label}); rows: after task i, columns: task j")
        for row in cond["frozen"]["matrix_mean"]:
            lines.append("  " + " ".join("   .  " if np.isnan(v) else f"{v:6.3f}" for v in row))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sleep_brian.protocols.class_incremental", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--variant", default=DEFAULT_MODEL)
    ap.add_argument("--sleep", type=_fraction, default=0.2, help="sleep after each task, as a fraction of its wake time")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--device", default="cpp_standalone")
    ap.add_argument("--n-train-per-class", type=_positive_int, default=100)
    ap.add_argument("--n-fit-per-class", type=_positive_int, default=30)
    ap.add_argument("--n-test-per-class", type=_positive_int, default=30)
    ap.add_argument("--presentation", type=_quantity("ms", "--presentation"), default=1000 * b2.ms)
    ap.add_argument("--out", default=None, help="folder for forgetting.json (and `sleep-brian plot`)")
    args = ap.parse_args(argv)
    try:
        result = class_incremental(
            args.dataset, seeds=args.seeds, sleep_fraction=args.sleep, variant=args.variant,
            n_train_per_class=args.n_train_per_class, n_fit_per_class=args.n_fit_per_class,
            n_test_per_class=args.n_test_per_class, presentation=args.presentation, device=args.device,
            data_dir=args.data_dir, out_dir=args.out,
        )  # fmt: skip
    except SleepBrianError as exc:
        print(f"class_incremental: error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
