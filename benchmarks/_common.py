"""Shared pieces of the benchmarks: memory bandwidth, measured points in child processes, tables.

Benchmarks print figures measured in one run and compare them as ratios: the machines they run on
are shared and noisy, so an absolute number from another day means little.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: Run as the standalone program's launcher (``prefs.devices.cpp_standalone.run_cmd_unix``): it
#: runs ``./main`` and writes the program's own peak resident memory next to it, which
#: ``getrusage`` in the parent could not separate from the compiler's.
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])  # the launcher's own ~10 MB can show through (v)fork\n"
    "open('peak_rss_kb.txt', 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


#: The builder's per-event economies, one at a time (benchmarks/cheaper_events.py, scaling.py):
#: keyword arguments of :func:`sleep_brian.network.build_network` and ``simulate``.
WAYS = {
    "before": dict(decay="spikes", traces="synapse", noise="every_step"),  # none of them
    "decay": dict(decay="events", traces="synapse", noise="every_step"),  # decay at decay events
    "traces": dict(decay="events", traces="neuron", noise="every_step"),  # + STDP traces per neuron
    "now": dict(decay="auto", traces="auto", noise="auto"),  # + noise drawn asleep only: the defaults
}


def memory_bandwidth(mbytes: int = 512, repeats: int = 5) -> float:
    """Copy bandwidth in bytes per second (STREAM 'copy' convention: read + write bytes / time).

    Best of ``repeats`` copies of a ``mbytes`` array (far larger than any cache), on one core,
    as the simulations here run. Write-allocate traffic is not counted, as in STREAM.
    """
    src = np.ones(mbytes * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch both arrays once: page faults are not bandwidth
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


def peak_rss_self_mb() -> float:
    """Peak resident memory of this process since it started, MiB.

    Read from ``VmHWM`` in /proc/self/status, which belongs to the process's own address space.
    ``getrusage`` would not do: a child started by (v)fork + exec inherits its parent's peak,
    so every point would report the parent's (large, bandwidth-test) figure.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_point(script: Path, args: list[str], timeout: float | None = None, python: str | None = None) -> dict:
    """Run ``script --point ARGS`` in a fresh interpreter and return the JSON it prints last.

    A fresh process per point gives each its own peak-memory figure and Brian2 state. A failed
    point returns ``{"error": ...}`` so that the table still shows the others.
    """
    cmd = [python or sys.executable, str(script), "--point", *args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # A session of its own, so that a timeout stops the point's make, compiler and program too.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (stderr or stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def table(header: list[str], rows: list[list], markdown: bool = False) -> str:
    """Rows as an aligned text table, or a markdown table."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(r) + " |" for r in cells[1:]]
        return "\n".join(out)
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e6 or abs(v) < 1e-2:
            return f"{v:.3g}"
        return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
