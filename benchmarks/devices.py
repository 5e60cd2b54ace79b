"""Wall time of one training run of the paper's network on each runtime/standalone target.

Runs the same configuration (digits, wake/sleep training plus untrained control and test, one
seed) on every requested device in this process, one after the other, and prints the wall time
split into build/compile and simulation, simulated seconds per wall second, and each device's
total relative to cpp_standalone, all measured in this one run (machines are noisy: compare
ratios, not absolute numbers across runs).

    python benchmarks/devices.py --devices cpp_standalone cython --n-train 300 --presentation 1000ms

Cython's first compile of a model is cached (~/.cython/brian_extensions): run twice to see both
the cold and the warm figure (the script reports whether the cache was warm).
"""

from __future__ import annotations

import argparse
import sys
import time

from sleep_brian.argtypes import positive_int as _positive_int
from sleep_brian.argtypes import quantity as _quantity
from sleep_brian.experiment import RunConfig, run
from sleep_brian.params import ScheduleParams


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="+", default=["cpp_standalone", "cython"])
    ap.add_argument("--n-train", type=_positive_int, default=300)
    ap.add_argument("--n-test", type=_positive_int, default=100)
    ap.add_argument("--presentation", type=_quantity("ms", "--presentation"), default=None)
    ap.add_argument("--sleep", type=float, default=0.1)
    args = ap.parse_args(argv)
    sched = ScheduleParams(n_train=args.n_train, n_fit=args.n_train, n_test=args.n_test, sleep_fraction=args.sleep)
    if args.presentation is not None:
        sched = sched.replace(presentation=args.presentation)
    rows = []
    for dev in args.devices:
        t0 = time.perf_counter()
        rec = run(RunConfig(device=dev, schedule=sched, seed=1), progress=False).record
        wall = time.perf_counter() - t0
        tm = rec["timings"]
        sim_s = rec["timeline"]["duration_s"]
        # Standalone reports its own simulation time; on runtime targets the run() call
        # includes code generation and (for Cython) compilation.
        simulate = tm.get("simulation_s", tm.get("run_s"))
        rows.append((dev, wall, simulate, sim_s))
        print(f"{dev}: {wall:.1f} s wall for {sim_s:.0f} s simulated", file=sys.stderr, flush=True)
    ref = dict((r[0], r[1]) for r in rows).get("cpp_standalone", rows[0][1])
    print(f"{'device':<16}{'wall s':>9}{'sim part s':>12}{'sim s/wall s':>14}{'wall / cpp':>12}")
    for dev, wall, simulate, sim_s in rows:
        print(f"{dev:<16}{wall:>9.1f}{simulate:>12.1f}{sim_s / wall:>14.1f}{wall / ref:>12.2f}")
    print(f"(simulated {rows[0][3]:.0f} s per run: {args.n_train} training images, sleep {args.sleep:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
