"""Diehl & Cook 2015 (models/diehl_cook.py) on digits and Fashion-MNIST, without and with sleep.

    python benchmarks/diehl_cook_measure.py --n-train 400 --n-test 300 --seeds 1 2 --out dc.jsonl

One cpp_standalone run per (dataset, sleep fraction, seed), each with its untrained control,
through ``run_many`` (runs with one sleep fraction share one compiled program, the seed, data
and random initial weights reaching it through ``run_args``); one JSON line per run.
"""

import argparse
import json
import time

import brian2 as b2

from sleep_brian.experiment import RunConfig, run_many
from sleep_brian.params import ScheduleParams

try:  # models/ is moving into the package
    from sleep_brian.models.diehl_cook import diehl_cook
except ImportError:  # pragma: no cover
    from models.diehl_cook import diehl_cook


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["digits", "fashion-mnist"])
    ap.add_argument("--sleep", nargs="+", type=float, default=[0.0, 0.1])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--n-train", type=int, default=400)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--n-neurons", type=int, default=100)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    model = diehl_cook(a.n_neurons)
    configs = []
    for r in a.sleep:
        sched = ScheduleParams(sleep_fraction=r, presentation=350 * b2.ms, n_train=a.n_train, n_fit=a.n_train,
                               n_test=a.n_test)  # fmt: skip
        configs += [RunConfig(model=model, dataset=ds, schedule=sched, device="cpp_standalone", seed=seed)
                    for seed in a.seeds for ds in a.datasets]  # fmt: skip
    t0 = time.perf_counter()
    for c, res in zip(configs, run_many(configs, progress=False)):
        rec = res.record
        acc = rec["accuracy"]
        row = {
            "dataset": c.dataset, "sleep": c.schedule.sleep_fraction, "seed": c.seed,
            "trained_pca_qda": acc["trained"]["accuracy_pca_qda"],
            "trained_assign": acc["trained"]["accuracy_assignment"],
            "untrained_pca_qda": acc["untrained"]["accuracy_pca_qda"],
            "untrained_assign": acc["untrained"]["accuracy_assignment"],
            "rate_e": rec["population_rates"]["exc"], "rate_i": rec["population_rates"]["inh"],
            "status": rec["status"], "flags": rec["flags"], "build": rec["build"].get("reused"),
            "run_s": rec["timings"].get("total_s"),
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(f"total {time.perf_counter() - t0:.0f} s", flush=True)

if __name__ == "__main__":
    main()
