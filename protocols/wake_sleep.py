"""Wake/sleep training compared across sleep fractions and seeds, with the untrained control.

Every run trains a declared model (a built-in one by name, or ``path/to/file.py:function``) with
the wake/sleep schedule, then reads it out; the same network is read out before training
(plasticity off) as the untrained control. Prints one row
per sleep fraction: accuracy (PCA+QDA readout) trained and untrained, mean +- sd over seeds, and
the trained network's mean firing rate.

Example (the figures in docs/results.md)::

    python -m sleep_brian.protocols.wake_sleep --dataset digits --sleep 0 0.1 --seeds 1 2 3
    python -m sleep_brian.protocols.wake_sleep --model my_model.py:build --device numpy
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from sleep_brian.argtypes import fraction as _fraction
from sleep_brian.argtypes import positive_int as _positive_int
from sleep_brian.argtypes import quantity as _quantity
from sleep_brian.errors import SleepBrianError
from sleep_brian.experiment import RunConfig, run
from sleep_brian.model import Model
from sleep_brian.models import DEFAULT_MODEL
from sleep_brian.params import ScheduleParams

__all__ = ["compare", "format_table", "main"]


def compare(dataset="digits", sleep_fractions=(0.0, 0.1), seeds=(1, 2, 3), *, device="cpp_standalone",
            model: Model | str = DEFAULT_MODEL, schedule: ScheduleParams | None = None, data_dir=None,
            out_dir=None, progress=True) -> list[dict]:
    """Run every (sleep fraction, seed) pair of ``model``; return one row per run."""
    from sleep_brian import models

    model = models.get_model(model)
    schedule = schedule or model.schedule or ScheduleParams()
    rows = []
    for r in sleep_fractions:
        for seed in seeds:
            cfg = RunConfig(dataset=dataset, data_dir=data_dir, model=model,
                            schedule=schedule.replace(sleep_fraction=r), seed=seed, device=device)
            rec = run(cfg, out_dir=out_dir, progress=progress, overwrite=True).record
            rows.append({
                "dataset": dataset, "model": model.name, "sleep": r, "seed": seed,
                "trained": rec["accuracy"]["trained"]["accuracy_pca_qda"],
                "untrained": rec["accuracy"]["untrained"]["accuracy_pca_qda"],
                "trained_labels": rec["accuracy"]["trained"]["accuracy_assignment"],
                "untrained_labels": rec["accuracy"]["untrained"]["accuracy_assignment"],
                "rate_hz": rec["rates"]["trained"]["rate_mean_hz"],
                "wall_s": rec["timings"]["total_s"],
            })
    return rows


def format_table(rows: list[dict]) -> str:
    """Mean +- sd over seeds per (dataset, sleep fraction)."""
    out = [f"{'dataset':<15}{'sleep':>6}{'seeds':>6}{'trained':>16}{'untrained':>16}{'rate Hz':>9}{'wall s':>8}"]
    keys = sorted({(r["dataset"], r["sleep"]) for r in rows})
    for ds, s in keys:
        sel = [r for r in rows if r["dataset"] == ds and r["sleep"] == s]
        def ms(k):
            v = np.array([r[k] for r in sel])
            return f"{v.mean():.3f} +- {v.std(ddof=1) if len(v) > 1 else 0:.3f}"
        out.append(f"{ds:<15}{s:>6g}{len(sel):>6}{ms('trained'):>16}{ms('untrained'):>16}"
                   f"{np.mean([r['rate_hz'] for r in sel]):>9.2f}{np.mean([r['wall_s'] for r in sel]):>8.1f}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sleep_brian.protocols.wake_sleep", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL, help="a built-in model or path/to/file.py:function")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--sleep", type=_fraction, nargs="+", default=[0.0, 0.1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--device", default="cpp_standalone")
    ap.add_argument("--sleep-rule", choices=("power", "stochastic"), default=None, help="for models that take it (default: the model's own)")
    ap.add_argument("--n-train", type=_positive_int, default=None)
    ap.add_argument("--n-fit", type=_positive_int, default=None)
    ap.add_argument("--n-test", type=_positive_int, default=None)
    ap.add_argument("--presentation", type=_quantity("ms", "--presentation"), default=None)
    ap.add_argument("--out", default=None, help="also write each run's record here")
    args = ap.parse_args(argv)
    try:
        from sleep_brian import models

        model = models.get_model(args.model, sleep_rule=args.sleep_rule)
        sched = (model.schedule or ScheduleParams()).with_overrides(
            n_train=args.n_train, n_fit=args.n_fit, n_test=args.n_test, presentation=args.presentation
        )
        rows = compare(args.dataset, args.sleep, args.seeds, device=args.device, model=model,
                       schedule=sched, data_dir=args.data_dir, out_dir=args.out)
    except SleepBrianError as exc:
        print(f"wake_sleep: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
