"""Peak memory of the paper's job, before and after reading back only what is used.

The paper job of ``paper_job.py`` (default: the ``authors`` model, whose anti-causal STDP drives
E to tens of Hz as in their code, on Fashion-MNIST: 6,000 training images of 1 s with sleep every
35 s, 2,000 fit and 1,000 test images) simulated on cpp_standalone two ways, each in a fresh
process:

- ``before``: every spike recorded and read back (``spikes="all"``), and the builder's former
  per-event forms (``_common.WAYS["before"]``);
- ``now``: spike counts per slot and the spikes of the raster window only (``spikes="window"``,
  what ``sleep-brian run`` records), with the defaults.

Printed per way: the Python process's peak (``VmHWM``: the build, the read-back and the record's
arrays), the standalone program's peak (its own ``getrusage``), and the bytes of what was read
back, then a last line ``peak memory before/now: X.X (python A.A, program B.B)`` (the larger of
the two peaks, before over now).

    python benchmarks/memory.py                       # the paper job (here: 464 s and 109 s of simulation)
    python benchmarks/memory.py --n-train 1000 --n-fit 300 --n-test 300   # a smaller job
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def point(way: str, args) -> dict:
    """One way of running the job (in a child process): its peaks and what it read back."""
    import brian2 as b2
    import numpy as np

    from paper_job import job_configs
    from sleep_brian.experiment import plan, simulate

    config = job_configs(argparse.Namespace(**{**vars(args), "runs": 1}))[0]
    pl = plan(config)
    run_cmd = b2.prefs.devices.cpp_standalone.run_cmd_unix
    with tempfile.TemporaryDirectory() as tmp:
        # The launcher writes the program's peak outside the build, which simulate() removes.
        peak_file = str(Path(tmp) / "peak_rss_kb.txt")
        wrapper = _common.PEAK_RSS_WRAPPER.replace("'peak_rss_kb.txt'", repr(peak_file))
        b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", wrapper, "./main"]
        try:
            arrays, timings = simulate(config.model, pl.timeline, pl.images, seed=config.seed, device="cpp_standalone",
                                       build_root=tmp, spikes="all" if way == "before" else "window",
                                       **_common.WAYS["before" if way == "before" else "now"])  # fmt: skip
        finally:
            b2.prefs.devices.cpp_standalone.run_cmd_unix = run_cmd
        program = int(Path(peak_file).read_text()) / 1024 if Path(peak_file).exists() else None
    spikes = sum(len(v) for k, v in arrays.items() if k.startswith("spike_i_"))
    return {"way": way, "python_peak_mb": _common.peak_rss_self_mb(), "program_peak_mb": program,
            "read_back_mb": sum(np.asarray(v).nbytes for v in arrays.values()) / 2**20, "spikes_read": spikes,
            "simulated_s": float(pl.timeline.duration / b2.second), "simulation_s": timings.get("simulation_s")}  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="authors")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-fit", type=int, default=2000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--sleep", type=float, default=0.1)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--point", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.point:
        print(json.dumps(point(args.point, args)))
        return 0
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("point", "timeout")]
    out = {}
    for way in ("before", "now"):
        out[way] = _common.run_point(Path(__file__), [way, *passed], args.timeout)
        print(f"{way}: {out[way]}", file=sys.stderr, flush=True)
        if "error" in out[way]:
            print(f"{way} failed: {out[way]['error']}", file=sys.stderr)
            return 1
    rows = [[w, o["python_peak_mb"], o["program_peak_mb"], o["read_back_mb"], o["spikes_read"], o["simulation_s"]]
            for w, o in out.items()]  # fmt: skip
    print(_common.table(["way", "python MiB", "program MiB", "read back MiB", "spikes read", "simulation s"], rows))
    b, n = out["before"], out["now"]
    peak = max(b["python_peak_mb"], b["program_peak_mb"] or 0) / max(n["python_peak_mb"], n["program_peak_mb"] or 0)
    print(f"peak memory before/now: {peak:.1f} (python {b['python_peak_mb'] / n['python_peak_mb']:.1f}, "
          f"program {(b['program_peak_mb'] or 0) / (n['program_peak_mb'] or 1):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
