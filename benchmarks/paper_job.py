"""The paper job on cpp_standalone against a naive per-image Brian2 runtime loop (and the authors' code).

The paper job: 6,000 training images shown 1 s each with sleep (10 % by default) every 35 s of
wake, then the readout's 2,000 fit images and 1,000 test images with plasticity off (about 9.6 M
simulated ms). Three ways to run it, timed in this one run:

- **cpp_standalone**, as ``sleep-brian sweep`` runs it: a sweep of ``--runs`` seeds served by one
  compiled program (``run_args``, brian2 >= 2.6), each run a whole job with its readout and
  record. Wall time from the first line of code generation to the last record.
- **a naive runtime loop**, as public Diehl & Cook ports run Brian2: the same network (same
  equations, data and timeline) on a runtime target, one ``Network.run()`` per image and one per
  sleep episode. Its first ``--naive-seconds`` of simulated time are timed and the rate
  extrapolated to the whole job (a full job would take hours); its first call (code generation,
  Cython compilation) is counted once per job, as a fresh process per run would pay it.
- **the authors' numpy + numba code** (optional, ``--authors-cmd``): their code is not part of
  this repository; the command given runs it (see docs/benchmarks.md) and prints, as its last
  line, a JSON object with ``train_ms_per_s`` and ``test_ms_per_s`` (simulated ms per wall s
  while training with sleep, and while testing); the job's time is its phases at those rates.

    python benchmarks/paper_job.py --model authors --runs 10 --naive-target cython

``--model`` takes a sweep variant. ``authors`` (the default) runs the authors' quirks, with
their power-law sleep capped at 10 s: its anti-causal STDP drives E to 30-90 Hz as in their code,
so the work per step matches theirs. ``paper-stochastic`` (the corrected model with stochastic
sleep) fires far less and costs less per step. ``paper`` (power-law sleep, uncapped) silences
the network over this job (0 Hz and chance accuracy at the test, measured), which makes it fast
and meaningless. ``--n-train`` etc. shrink the job for a quick look.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def job_configs(args) -> list:
    from sleep_brian import models
    from sleep_brian.experiment import RunConfig

    from sleep_brian.params import ScheduleParams

    model = models.get_model(args.model)
    sched = (model.schedule or ScheduleParams()).with_overrides(
        n_train=args.n_train, n_fit=args.n_fit, n_test=args.n_test, sleep_fraction=args.sleep
    )
    return [
        RunConfig(dataset=args.dataset, model=model, schedule=sched, seed=s, device="cpp_standalone", control=False)
        for s in range(1, args.runs + 1)
    ]  # fmt: skip


def cpp_sweep(configs, build_root) -> dict:
    """One build serving every run (or one build per run where brian2 cannot reuse builds)."""
    from sleep_brian import devices
    from sleep_brian.experiment import run_many

    t0 = time.perf_counter()
    results = run_many(configs, progress=False, build_root=build_root, replicas=1)  # one build, run_args
    wall = time.perf_counter() - t0
    recs = [r.record for r in results]
    # The program's own loop time (std::clock: CPU time, which equals wall time for this single
    # thread while it has a core to itself); run_s is the wall time of the program as launched.
    sim = [r["timings"].get("simulation_s") for r in recs]
    run_wall = [r["timings"].get("run_s") for r in recs]
    build = recs[0].get("build", {})
    reused = bool(build.get("reused")) and devices.reuse_supported("cpp_standalone")
    if reused:
        compile_s, codegen_s = build["compile_s"], build["codegen_s"]
    else:  # brian2 < 2.6: every run built its own program
        compile_s = sum(r["timings"]["build_and_run_s"] - r["timings"].get("simulation_s", 0) for r in recs)
        codegen_s = sum(r["timings"]["codegen_s"] for r in recs)
    return {
        "wall_s": wall,
        "reused": reused,
        "compile_s": compile_s,
        "codegen_s": codegen_s,
        "simulation_s": sim,
        "program_wall_s": run_wall,
        "simulated_s": recs[0]["timeline"]["duration_s"],
        "test_rate_hz": [round(r["rates"]["trained"]["rate_mean_hz"], 2) for r in recs],
        "accuracy": [round(r["accuracy"]["trained"]["accuracy_pca_qda"], 3) for r in recs],
    }


def naive_loop(config, pl, target: str, seconds: float) -> dict:
    """Time one run() per image (and per sleep episode) over the first ``seconds`` of the job
    planned in ``pl``."""
    import brian2 as b2

    from sleep_brian import devices
    from sleep_brian.experiment import Streams
    from sleep_brian.network import build_network

    tl, p = pl.timeline, config.model
    st = Streams.derive(p, config.seed)
    chunks = []  # steps of each run() call, in order
    for span in tl.spans:
        if span.steps_per_image:
            chunks += [span.steps_per_image] * ((span.stop_step - span.start_step) // span.steps_per_image)
        else:
            chunks.append(span.stop_step - span.start_step)
    limit = int(round(seconds / float(p.dt / b2.second)))
    if limit <= chunks[0]:
        raise SystemExit(f"--naive-seconds {seconds:g} must exceed the first image ({chunks[0] * float(p.dt / b2.second):g} s).")
    with devices.target(target) as dev, devices.quiet_codegen_warnings():
        dev.seed(st.brian_seed)
        t0 = time.perf_counter()
        built = build_network(p, tl, pl.images, None, connectivity=st.connectivity)
        done, calls, first = 0, 0, None
        for steps in chunks:
            if done >= limit:
                break
            built.net.run(steps * p.dt)
            done += steps
            calls += 1
            if first is None:
                first = time.perf_counter() - t0  # construction + code generation/compilation + image 1
                t1 = time.perf_counter()
        rest = time.perf_counter() - t1
    step_s = float(p.dt / b2.second)
    per_sim_s = rest / ((done - chunks[0]) * step_s)
    return {
        "target": target, "first_call_s": first, "calls": calls, "simulated_s": done * step_s,
        "wall_per_simulated_s": per_sim_s,
        "job_s": first + per_sim_s * (tl.n_steps - chunks[0]) * step_s,
    }  # fmt: skip


def authors(cmd: str, tl) -> dict:
    """The authors' code through ``cmd``; the time of the job lowered in ``tl`` from its phase rates."""
    import brian2 as b2

    proc = subprocess.run(shlex.split(cmd), capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise SystemExit(f"--authors-cmd failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    rates = json.loads(lines[-1])
    ms = {k: sum(s.stop_step - s.start_step for s in tl.spans_of(k)) * float(tl.dt / b2.ms) for k in ("wake", "sleep", "test")}
    train_ms = ms["wake"] + ms["sleep"]
    return {**rates, "job_s": train_ms / rates["train_ms_per_s"] + ms["test"] / rates["test_ms_per_s"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from sleep_brian import models

    ap.add_argument("--model", default="authors", choices=list(models.MODELS), help="a built-in model")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--runs", type=int, default=10, help="runs (seeds) of the cpp_standalone sweep")
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-fit", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--sleep", type=float, default=0.1)
    ap.add_argument("--naive-target", default="cython", choices=["cython", "numpy"])
    ap.add_argument("--naive-seconds", type=float, default=45.0, help="simulated seconds of the naive loop to time")
    ap.add_argument("--authors-cmd", help="command running the authors' code (prints a JSON line last)")
    ap.add_argument("--build-root", type=Path, default=None)
    args = ap.parse_args(argv)
    configs = job_configs(args)
    from sleep_brian.experiment import plan

    pl = plan(configs[0])  # data and timeline of the job, for the naive loop and the authors' time
    naive = naive_loop(configs[0], pl, args.naive_target, args.naive_seconds)
    print(f"naive {naive['target']} loop: {naive['calls']} run() calls, first {naive['first_call_s']:.1f} s, "
          f"{naive['wall_per_simulated_s']:.3f} wall s per simulated s", file=sys.stderr, flush=True)  # fmt: skip
    theirs = authors(args.authors_cmd, pl.timeline) if args.authors_cmd else None
    if theirs:
        print(f"authors: {theirs}", file=sys.stderr, flush=True)
    cpp = cpp_sweep(configs, args.build_root)
    print(f"cpp_standalone: {cpp}", file=sys.stderr, flush=True)

    k = len(configs)
    sim_total = sum(s or 0 for s in cpp["simulation_s"])
    rows = [
        ["cpp_standalone sweep (total)", cpp["wall_s"], cpp["simulated_s"] * k / cpp["wall_s"], 1.0],
        ["  of which compile + codegen", cpp["compile_s"] + (cpp["codegen_s"] or 0), None, None],
        ["  of which simulating (program's CPU s)", sim_total, cpp["simulated_s"] * k / sim_total if sim_total else None, None],
        ["  the rest (data, setup, read-back, readout, records)", cpp["wall_s"] - sim_total - cpp["compile_s"] - (cpp["codegen_s"] or 0), None, None],
        [f"naive {naive['target']} loop, {k} jobs (extrapolated)", naive["job_s"] * k,
         cpp["simulated_s"] * k / (naive["job_s"] * k), naive["job_s"] * k / cpp["wall_s"]],
    ]  # fmt: skip
    if theirs:
        rows.append([f"authors' numba code, {k} jobs", theirs["job_s"] * k, cpp["simulated_s"] / theirs["job_s"], theirs["job_s"] * k / cpp["wall_s"]])
    print(_common.table(["way", "wall s", "sim s / wall s", "x slower than cpp sweep"], rows))
    print(f"job: {args.model}, {args.dataset}, {args.n_train} training images + {args.sleep:.0%} sleep, "
          f"{args.n_fit} fit + {args.n_test} test images = {cpp['simulated_s']:.0f} s simulated; {k} runs; "
          f"build reused: {cpp['reused']}; E rate in the test {cpp['test_rate_hz']} Hz, accuracy {cpp['accuracy']}")  # fmt: skip
    if theirs:
        # Like for like: the same job (training, fit and test) at their phase rates, against
        # cpp_standalone's simulation of that job.
        print(f"cpp_standalone simulating the job vs the authors' code on it: {theirs['job_s'] / (sim_total / k):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
