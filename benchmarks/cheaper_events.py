"""Cheaper synaptic events, one economy at a time: the sleep decay at decay events, the STDP
traces per neuron and the sleep noise drawn asleep only, against none of them
(network.DECAY_SCHEDULES, TRACE_PLACES, NOISE_PLACES).

One run of the paper's job (``--model``, default the corrected model with stochastic sleep, on
digits, cpp_standalone) simulated four ways (``_common.WAYS``), in alternating rounds in this
one run:

- ``before``: ``decay="spikes", traces="synapse", noise="every_step"`` (the decay owed computed
  before every use of a synapse, nil while awake; two event-driven traces per synapse; a noise
  draw per neuron per step), what the builder did;
- ``decay``: the decay at spikes in sleep and once after each sleep;
- ``traces``: and each STDP trace once per neuron;
- ``now``: and the noise drawn for sleeping neurons only: the defaults.

Each way is compiled once (the build cache serves the later rounds); the figures are the
program's own simulation times, compile excluded, with the firing rates beside them: with the
power law the three are the same simulation up to rounding, with the stochastic rule other
samples of the same process.

    python benchmarks/cheaper_events.py --quick        # 12 builds (4 ways x 3 stretches): mostly compiling
    python benchmarks/cheaper_events.py --model paper  # the power law

The last line reads ``cheaper events speedup: X.X (wake A.A, sleep B.B)``: the median over
rounds of the simulation time of ``before`` over ``now``, for the whole job and for a wake-only
and a sleep-only stretch of it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def protocols(model, args):
    """The job, and a wake-only and a sleep-only stretch of the same length as its phases."""
    import brian2 as b2
    import numpy as np

    from sleep_brian.experiment import RunConfig, plan
    from sleep_brian.params import ScheduleParams
    from sleep_brian.protocol import Sleep, Wake, lower

    sched = (model.schedule or ScheduleParams()).with_overrides(n_train=args.n_train, n_fit=args.n_train,
                                                                n_test=args.n_test, sleep_fraction=args.sleep)  # fmt: skip
    pl = plan(RunConfig(dataset="digits", model=model, schedule=sched, seed=1, device="cpp_standalone", control=False))
    n_wake = int(round(float(args.wake_s * b2.second / sched.presentation)))
    wake = lower([Wake(np.resize(pl.fit_idx, n_wake), sched.presentation)], model.dt)
    asleep = lower([Wake(pl.fit_idx[:2], sched.presentation), Sleep(args.wake_s * b2.second)], model.dt)
    return {"job": (pl.timeline, pl.images), "wake": (wake, pl.images), "sleep": (asleep, pl.images)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="paper-stochastic")
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=100)
    ap.add_argument("--sleep", type=float, default=0.2, help="sleep fraction of the job")
    ap.add_argument("--wake-s", type=float, default=60.0, help="seconds of the wake-only and sleep-only stretches")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100 training images, 20 s stretches, 3 rounds")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.wake_s = 100, 50, 20.0

    from sleep_brian import models
    from sleep_brian.experiment import simulate

    model = models.get_model(args.model)
    jobs = protocols(model, args)
    ways = _common.WAYS
    times = {(j, w): [] for j in jobs for w in ways}
    rates = {}
    root = Path(tempfile.mkdtemp(prefix="cheaper-events-"))
    print(f"{args.model}: job of {jobs['job'][0].duration}, stretches of {args.wake_s:g} s; {args.rounds} rounds")
    for r in range(args.rounds):
        order = list(ways) if r % 2 == 0 else list(ways)[::-1]
        for job, (tl, images) in jobs.items():
            for way in order:
                arrays, timings = simulate(model, tl, images, seed=1, device="cpp_standalone", build_root=root,
                                           **ways[way])  # fmt: skip
                times[(job, way)].append(timings["simulation_s"])
                n = {k[len("slot_counts_"):]: int(v[-1].sum()) for k, v in arrays.items() if k.startswith("slot_counts_")}
                size = {p.name: p.size for p in model.populations}
                rates[(job, way)] = {p: n[p] / size[p] / float(tl.duration) for p in n}
                print(f"  round {r + 1} {job:5s} {way:6s} simulation {timings['simulation_s']:7.2f} s  "
                      + "  ".join(f"{p} {v:.2f} Hz" for p, v in rates[(job, way)].items()), flush=True)  # fmt: skip
    rows, ratio = [], {}
    for job in jobs:
        med = {w: statistics.median(times[(job, w)]) for w in ways}
        ratio[job] = med["before"] / med["now"]
        rows.append([job, *(med[w] for w in ways), *(med["before"] / med[w] for w in list(ways)[1:]),
                     rates[(job, "before")].get("exc"), rates[(job, "now")].get("exc")])  # fmt: skip
    print(_common.table(["stretch", *(f"{w} s" for w in ways), *(f"x {w}" for w in list(ways)[1:]),
                         "E Hz (before)", "E Hz (now)"], rows))  # fmt: skip
    print(f"cheaper events speedup: {ratio['job']:.1f} (wake {ratio['wake']:.1f}, sleep {ratio['sleep']:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
