"""A 10-run sweep as K replicas of one simulation against today's ``run_many`` (one build, 10 runs).

The sweep: the paper's network (``--model``, default the corrected model with stochastic sleep)
on digits, seeds 1-10, one sleep fraction, run two ways in this one run on cpp_standalone:

- **run_many, one run at a time** (``replicas=1``): one program compiled once serves the 10 runs
  through ``run_args`` (what ``sleep-brian sweep`` did before replicas);
- **replicas** (``replicas=K``, default 10): the 10 runs as replicas of one network, compiled
  once and simulated once (:mod:`sleep_brian.replicas`).

Both wall times count everything from planning to the last record (code generation and
compilation included). The order of the two alternates with ``--order``; the accuracies and
test rates of both are printed so that the comparison is seen to be of like with like (the
replicas are other samples of the same runs: the same connectivity and data, other random draws).
Given ``--authors-cmd`` (see ``paper_job.py``), the authors' time for the same 10 jobs, from
their phase rates measured in this run, is set beside both.

    python benchmarks/replicas.py --quick            # under 5 minutes on 2 cores
    python benchmarks/replicas.py --n-train 1000     # a larger job

The last line reads ``replicas speedup: X.X`` (run_many's wall time over the replicas').
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def sweep_configs(args) -> list:
    import brian2 as b2

    from sleep_brian import models
    from sleep_brian.experiment import RunConfig
    from sleep_brian.params import ScheduleParams

    model = models.get_model(args.model)
    sched = (model.schedule or ScheduleParams()).with_overrides(
        n_train=args.n_train, n_fit=args.n_fit, n_test=args.n_test, sleep_fraction=args.sleep,
        presentation=args.presentation * b2.ms, wake_block=args.wake_block * b2.second,
    )  # fmt: skip
    return [RunConfig(dataset=args.dataset, model=model, schedule=sched, seed=s, device=args.device, control=False)
            for s in range(1, args.runs + 1)]  # fmt: skip


def timed_sweep(configs, replicas: int, build_root) -> dict:
    """Run the sweep with ``replicas`` runs per simulation; wall time and what the runs gave."""
    from sleep_brian.experiment import run_many

    t0 = time.perf_counter()
    results = run_many(configs, progress=False, build_root=build_root, replicas=replicas)
    wall = time.perf_counter() - t0
    recs = [r.record for r in results]
    events = sum(r["energy"]["total_synaptic_events"] for r in recs)
    # the program's own loop time: one simulation for all replicas, one per run otherwise
    sim = recs[0]["timings"].get("simulation_s") if replicas > 1 else sum(r["timings"].get("simulation_s") or 0 for r in recs)
    return {
        "wall_s": wall,
        "simulation_s": sim,
        "synaptic_events": events,
        "events_per_s": events / sim if sim else None,
        "simulated_s": sum(r["timeline"]["duration_s"] for r in recs),
        "accuracy": [r["accuracy"]["trained"]["accuracy_pca_qda"] for r in recs],
        "test_rate_hz": [r["rates"]["trained"]["rate_mean_hz"] for r in recs],
        "replicas": sorted({r["build"].get("replicas", 1) for r in recs}),
    }


def _mean_sd(xs) -> str:
    return f"{statistics.mean(xs):.3f} +- {statistics.stdev(xs) if len(xs) > 1 else 0:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from sleep_brian import models

    ap.add_argument("--model", default=models.DEFAULT_MODEL, choices=list(models.MODELS), help="a built-in model")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--runs", type=int, default=10, help="runs (seeds) of the sweep")
    ap.add_argument("--replicas", type=int, default=None, help="replicas per simulation (default: all runs)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-fit", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--presentation", type=float, default=1000.0, help="ms per image")
    ap.add_argument("--wake-block", type=float, default=35.0, help="s of wake between sleeps")
    ap.add_argument("--sleep", type=float, default=0.1)
    ap.add_argument("--order", choices=("replicas-first", "run-many-first"), default="run-many-first")
    ap.add_argument("--device", default="cpp_standalone", help="a standalone target (cuda_standalone: benchmarks/gpu_check.sh)")
    ap.add_argument("--replicas-only", action="store_true", help="time the replicas only (no run_many baseline)")
    ap.add_argument("--quick", action="store_true", help="a small job: finishes in under 5 minutes on 2 cores")
    ap.add_argument("--authors-cmd", help="command running the authors' code (as paper_job.py takes it)")
    ap.add_argument("--build-root", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_fit, args.n_test, args.presentation, args.wake_block = 150, 100, 100, 200.0, 7.0
    k = args.replicas or args.runs
    configs = sweep_configs(args)

    out = {}
    ways = ("replicas", "run_many") if args.order == "replicas-first" else ("run_many", "replicas")
    for way in ("replicas",) if args.replicas_only else ways:
        out[way] = timed_sweep(configs, k if way == "replicas" else 1, args.build_root)
        print(f"{way}: {out[way]}", file=sys.stderr, flush=True)
    if args.replicas_only:
        o = out["replicas"]
        print(f"{len(configs)} runs as {k} replicas per simulation on {args.device}: {o['wall_s']:.1f} s wall "
              f"(simulation {o['simulation_s']:.1f} s), {o['synaptic_events']:.3g} synaptic events, "
              f"accuracy {_mean_sd(o['accuracy'])}, test E rate {_mean_sd(o['test_rate_hz'])} Hz")  # fmt: skip
        print(f"events/s: {o['events_per_s']:.3g}")
        return 0
    theirs = None
    if args.authors_cmd:
        from paper_job import authors

        from sleep_brian.experiment import plan

        theirs = authors(args.authors_cmd, plan(configs[0]).timeline)

    base = out["run_many"]["wall_s"]
    rows = []
    for way, label in (("run_many", "run_many, one run at a time (one build, run_args)"),
                       ("replicas", f"replicas: {k} runs per simulation")):  # fmt: skip
        o = out[way]
        rows.append([label, o["wall_s"], o["simulation_s"], o["simulated_s"] / o["wall_s"], base / o["wall_s"],
                     out["run_many"]["simulation_s"] / o["simulation_s"] if o["simulation_s"] else None,
                     _mean_sd(o["accuracy"]), _mean_sd(o["test_rate_hz"])])  # fmt: skip
    if theirs:
        job_s = theirs["job_s"] * len(configs)
        rows.append(["authors' numpy + numba code (their rates, this run)", job_s, None, out["replicas"]["simulated_s"] / job_s,
                     base / job_s, None, "", ""])  # fmt: skip
    print(_common.table(["way", "wall s", "of which simulating s", "simulated s / wall s", "x run_many",
                         "x run_many, simulating", "accuracy (PCA+QDA)", "test E rate Hz"], rows))  # fmt: skip
    for way, o in out.items():
        if o["events_per_s"]:
            print(f"{way}: {o['synaptic_events']:.3g} synaptic events in {o['simulation_s']:.1f} s of simulation: "
                  f"{o['events_per_s']:.3g} events/s")  # fmt: skip
    print(f"sweep: {args.model}, {args.dataset}, {len(configs)} seeds, {args.n_train} training images shown "
          f"{args.presentation:g} ms + {args.sleep:.0%} sleep, {args.n_fit} fit + {args.n_test} test images; "
          f"cpp_standalone, compile included")  # fmt: skip
    if theirs:
        print(f"replicas vs the authors' code on the same {len(configs)} jobs: {theirs['job_s'] * len(configs) / out['replicas']['wall_s']:.1f}x")
    sim = out["run_many"]["simulation_s"] / out["replicas"]["simulation_s"] if out["replicas"]["simulation_s"] else float("nan")
    print(f"replicas speedup: {base / out['replicas']['wall_s']:.1f} (simulating alone: {sim:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
