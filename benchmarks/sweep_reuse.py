"""A sweep of k runs on cpp_standalone: one compiled program for all (run_args) against k builds.

The same k configurations (seeds 1..k of one job) run twice in this process: through
``run_many``, which compiles once and passes each run's seed, images and connectivity to the
program through ``run_args`` (brian2 >= 2.6), and through ``run`` once per configuration, which
generates and compiles a program per run (what brian2 < 2.6 or a naive script does). Both give
the same records (tests/test_sweep.py); only the time differs.

    python benchmarks/sweep_reuse.py --runs 10 --n-train 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 3, 10], help="sweep sizes k to time")
    ap.add_argument("--dataset", default="digits")
    from sleep_brian import models

    ap.add_argument("--model", default="paper-stochastic", choices=list(models.MODELS), help="a built-in model")
    ap.add_argument("--n-train", type=int, default=100)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--sleep", type=float, default=0.1)
    args = ap.parse_args(argv)

    from sleep_brian import devices
    from sleep_brian.experiment import RunConfig, run, run_many

    if not devices.reuse_supported("cpp_standalone"):
        raise SystemExit("this brian2 cannot reuse a build (needs brian2 >= 2.6): nothing to compare.")
    from sleep_brian.params import ScheduleParams

    model = models.get_model(args.model)
    sched = (model.schedule or ScheduleParams()).with_overrides(
        n_train=args.n_train, n_fit=args.n_train, n_test=args.n_test, sleep_fraction=args.sleep
    )

    def configs(k):
        return [RunConfig(dataset=args.dataset, model=model, schedule=sched, seed=s) for s in range(1, k + 1)]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in args.runs:
            t0 = time.perf_counter()
            shared = run_many(configs(k), progress=False, build_root=tmp, replicas=1)
            t_shared = time.perf_counter() - t0
            t0 = time.perf_counter()
            separate = [run(c, progress=False, build_root=tmp) for c in configs(k)]
            t_separate = time.perf_counter() - t0
            same = all(a.record["accuracy"] == b.record["accuracy"] for a, b in zip(shared, separate))
            rows.append([k, t_shared, t_shared / k, t_separate, t_separate / k, t_separate / t_shared, same])
            print(f"k={k}: one build {t_shared:.0f} s, {k} builds {t_separate:.0f} s", file=sys.stderr, flush=True)
    sim_s = shared[0].record["timeline"]["duration_s"]
    print(_common.table(["runs k", "one build: total s", "per run s", "k builds: total s", "per run s", "k builds / one build", "same accuracy"], rows))
    print(f"job: {args.model}, {args.dataset}, {args.n_train} training images + {args.sleep:.0%} sleep, "
          f"{args.n_train} fit + {args.n_test} test, control on: {sim_s:.0f} s simulated per run")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
