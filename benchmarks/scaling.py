"""Scaling from 200 to 6,400 excitatory neurons: speed, synaptic events, build time and memory per target.

The paper's network with ``n_exc`` excitatory and ``n_exc / 4`` inhibitory neurons, the same
connection probabilities, and recurrent weights scaled by ``200 / n_exc`` so that every neuron's
expected recurrent input stays what it is at the paper's size (fan-in grows with ``n_exc``; the
input->E fan-in does not, so input weights are unchanged). Each point runs the same short
protocol on real images (digits: training with sleep, then a test), in a fresh process:

    python benchmarks/scaling.py --devices cpp_standalone cython --sizes 200 800 3200 6400
    python benchmarks/scaling.py --devices cpp_standalone --sizes 6400 --rule stochastic --ways before now

Printed per point: build time (network construction plus code generation and compilation),
simulated seconds per wall second of the simulation alone, synaptic events per wall second,
and peak memory (``--rule``: the sleep rule, the paper's power law by default; ``--ways``: the
builder's per-event economies, ``_common.WAYS``, each point once per way given). A synaptic event is one synapse's update: a spike delivered by ``on_pre``
(``pre events``) or the STDP update of ``on_post`` (``post events``); both read and write the
weight and a trace. The machine's copy bandwidth is measured in the same run, and
``bandwidth / 16 B`` is the event rate that streaming 16 bytes per event would allow.

GeNN runs in its own environment (docs/targets.md, section GeNN): run this script there with
``--devices genn`` (brian2genn builds and runs in ``run()``; the simulation time is the one
its program reports, the rest is build).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

SIZES = (200, 400, 800, 1600, 3200, 6400)
EVENT_BYTES = 16


def scaled_params(n_exc: int):
    """The paper's parameters at ``n_exc`` excitatory neurons, recurrent input per neuron preserved."""
    from sleep_brian.models.paper import PaperParams, PathwayParams

    p = PaperParams()
    c = p.connectivity
    k = 200 / n_exc
    scaled = {pw: PathwayParams(getattr(c, pw).p, getattr(c, pw).w0 * k) for pw in ("e_e", "e_i", "i_e")}
    return p.replace(connectivity=c.replace(n_exc=n_exc, n_inh=max(1, n_exc // 4), **scaled))


def point(device: str, n_exc: int, n_images: int, seed: int, rule: str = "power", way: str = "now") -> dict:
    """One measurement (run in a child process): returns the figures as a dict."""
    import brian2 as b2
    import numpy as np

    from sleep_brian import devices
    from sleep_brian.experiment import RunConfig, Streams, plan
    from sleep_brian.network import build_network
    from sleep_brian.models.paper import declare
    from sleep_brian.params import ScheduleParams

    params = scaled_params(n_exc)
    params = params.replace(sleep=params.sleep.replace(rule=rule))
    model = declare(params)
    sched = ScheduleParams(
        n_train=n_images, n_fit=1, n_test=max(1, n_images // 2), sleep_fraction=0.1,
        wake_block=n_images * 1000 * b2.ms,
    )  # fmt: skip
    config = RunConfig(dataset="digits", model=model, schedule=sched, seed=seed, device=device, control=False)
    pl = plan(config)
    tl = pl.timeline
    t_start = time.perf_counter()
    st = Streams.derive(model, seed)
    out = {"device": device, "n_exc": n_exc, "rule": rule, "way": way, "simulated_s": float(tl.duration / b2.second)}
    run_cmd = b2.prefs.devices.cpp_standalone.run_cmd_unix
    try:
        with tempfile.TemporaryDirectory() as tmp, devices.target(device, build_root=tmp) as dev, devices.quiet_codegen_warnings():
            if device == "cpp_standalone":
                b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _common.PEAK_RSS_WRAPPER, "./main"]
            dev.seed(st.brian_seed)
            lowering = devices.lowering_for(device)
            economies = _common.WAYS[way] if lowering != "single_clock" else {}  # GeNN: its own defaults
            built = build_network(
                model, tl, pl.images, None, connectivity=st.connectivity, record_weights=False, lowering=lowering,
                **economies,
            )  # fmt: skip
            input_spikes = b2.SpikeMonitor(built.groups["inputs"], record=True, name="input_spikes")
            built.net.add(input_spikes)
            out["construct_s"] = time.perf_counter() - t_start
            if dev.standalone:
                _run_standalone(dev, built.net, tl.duration, out)
            else:
                # The first step compiles every code object (or loads it from Cython's on-disk
                # cache, which is shared between sizes): that is the build.
                built.net.run(params.dt)
                first = time.perf_counter()
                built.net.run(tl.duration - params.dt)
                out["simulate_s"] = time.perf_counter() - first
                out["build_s"] = first - t_start
            counts = {g: np.bincount(np.asarray(m.i[:]), minlength=len(built.groups[g])) for g, m in built.spikes.items()}
            counts["inputs"] = np.bincount(np.asarray(input_spikes.i[:]), minlength=len(built.groups["inputs"]))
    finally:
        b2.prefs.devices.cpp_standalone.run_cmd_unix = run_cmd
    ends = {pw.name: (pw.source, pw.target) for pw in model.pathways}
    conn = st.connectivity
    out["pre_events"] = int(sum(counts[src][conn.i[pw]].sum() for pw, (src, _) in ends.items()))
    out["post_events"] = int(sum(counts[tgt][conn.j[pw]].sum() for pw, (_, tgt) in ends.items()))
    out["synapses"] = int(sum(conn.n(pw) for pw in ends))
    out["rate_exc_hz"] = float(counts["exc"].mean() / out["simulated_s"])
    out["python_peak_mb"] = _common.peak_rss_self_mb()
    return out


def _run_standalone(dev, net, duration, out: dict) -> None:
    """Build and run on a standalone target; split its time into build and simulation."""
    import brian2 as b2

    dev.run(net, duration)
    tm = dev.timings
    if "simulation_s" not in tm:
        out["build_and_run_s"] = out["construct_s"] + tm["build_and_run_s"]
        return
    # The program's own loop time is std::clock (CPU time): keep it, and prefer the program's
    # wall time where Brian2 records it (cpp_standalone; brian2genn does not).
    wall = getattr(b2.device, "timers", {}).get("run_binary")
    out["simulate_cpu_s"] = tm["simulation_s"]
    out["simulate_s"] = wall or tm["simulation_s"]
    out["simulate_clock"] = "wall" if wall else "cpu"
    # genn generates its code inside run() (no codegen_s): its build_and_run_s holds it
    out["build_s"] = out["construct_s"] + tm.get("codegen_s", 0) + tm["build_and_run_s"] - out["simulate_s"]
    rss = Path(dev.directory) / "peak_rss_kb.txt"
    if rss.exists():
        out["program_peak_mb"] = int(rss.read_text()) / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", nargs="+", default=["cpp_standalone", "cython"])
    ap.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    ap.add_argument("--images", type=int, default=10, help="training images (1 s each); the test shows half as many")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per point")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", type=Path, help="also write every point's figures here")
    ap.add_argument("--rule", choices=["power", "stochastic"], default="power", help="the sleep rule")
    ap.add_argument("--ways", nargs="+", choices=list(_common.WAYS), default=["now"],
                    help="the builder's per-event economies (_common.WAYS; 'now': the defaults); each point for each")
    ap.add_argument("--point", nargs=2, metavar=("DEVICE", "N_EXC"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.point:
        print(json.dumps(point(args.point[0], int(args.point[1]), args.images, args.seed, args.rule, args.ways[0])))
        return 0
    from sleep_brian import devices

    for d in args.devices:
        devices.check_device(d)  # a clear error now, not after an hour of other points
    bw = _common.memory_bandwidth()
    print(f"copy bandwidth {bw / 1e9:.1f} GB/s -> {bw / EVENT_BYTES / 1e6:.0f} M events/s at {EVENT_BYTES} B/event", file=sys.stderr)
    rows, points = [], []
    for d, n, way in ((d, n, way) for d in args.devices for n in args.sizes for way in args.ways):
        t0 = time.perf_counter()
        cmd = [d, str(n), "--images", str(args.images), "--seed", str(args.seed), "--rule", args.rule, "--ways", way]
        r = _common.run_point(Path(__file__), cmd, args.timeout)
        points.append(r)
        if "error" in r:
            print(f"{d} n_exc={n}: FAILED {r['error']}", file=sys.stderr, flush=True)
            rows.append([d, n, way] + [None] * 9 + [r["error"][:60]])
            continue
        sim = r.get("simulate_s")
        events = r["pre_events"] + r["post_events"]
        ev_rate = events / sim if sim else None
        build = r.get("build_s", r.get("build_and_run_s"))
        peak = max(r["python_peak_mb"], r.get("program_peak_mb", 0))
        rows.append([
            d, n, way, r["synapses"], round(r["rate_exc_hz"], 1), build, sim, r["simulated_s"] / sim if sim else None,
            ev_rate / 1e6 if ev_rate else None, ev_rate * EVENT_BYTES / bw if ev_rate else None,
            r["python_peak_mb"], r.get("program_peak_mb"),
            ("build+run" if not sim else "program CPU s" if r.get("simulate_clock") == "cpu" else ""),
        ])  # fmt: skip
        print(f"{d} n_exc={n}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    header = ["device", "n_exc", "way", "synapses", "E rate Hz", "build s", "simulate s", "sim s / wall s",
              "M events/s", "x (bw/16B)", "python MiB", "program MiB", "note"]  # fmt: skip
    print(_common.table(header, rows, args.markdown))
    print(f"copy bandwidth {bw / 1e9:.1f} GB/s = {bw / EVENT_BYTES / 1e6:.0f} M events/s at {EVENT_BYTES} B per event; "
          f"goal: 'x (bw/16B)' >= 0.25; {args.images} training images + 10 % sleep + test, seed {args.seed}, "
          f"{args.rule} sleep rule")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"bandwidth_Bps": bw, "points": points}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
