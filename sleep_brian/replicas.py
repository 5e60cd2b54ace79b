"""Many runs as one simulation: K replicas of a model in one network.

A sweep is many small independent networks. Run one after another, each pays the fixed cost of a
time step (one call per code object, ~50 of them, about 10 us per step on cpp_standalone) on its
own; built as replicas (:func:`sleep_brian.network.build_replicas`) they share it, and on a
standalone target they also share one code generation and one compilation. Each replica keeps
its own seed's connectivity, data, image order and protocol (sleep fractions may differ), and its
own record, equal in form to the record of the run done alone.

What is the same as the run alone: the connections, initial weights, data and schedule; with
deterministic inputs, every spike and weight (tests/test_replicas.py). What is not: Brian2 has one
random generator per simulation, so the input spikes, the sleep noise and the stochastic decay of
a replica are another sample of the same process than those of its solo run (the same
distribution, tested). A replica's record therefore names its batch (``build.replicas``): the
batch's members and its generator seed reproduce it exactly; ``replicas=1`` reproduces the solo
run.

How many replicas (:func:`choose_replicas`): as many runs as share a model, device and lowering,
at most :data:`MAX_REPLICAS` for the target, and at most as many as half the available memory
holds by the estimate of :func:`memory_estimate`.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sleep_brian import devices
from sleep_brian.errors import ConfigError

__all__ = ["MAX_REPLICAS", "choose_replicas", "memory_estimate", "replica_key", "batches", "batch_seed", "run_replicas"]

#: Most replicas per simulation by target. On CPU targets the gain flattens once the shared
#: per-step cost is small beside the work per neuron and event (benchmarks/replicas.py measures
#: it); a GPU needs many more threads' worth of work per step before it is busy.
MAX_REPLICAS = {"numpy": 16, "cython": 16, "cpp_standalone": 16, "genn": 64, "cuda_standalone": 64}

#: Bytes per synapse while simulating (indices, weight, traces, clocks, spike-queue entries),
#: an upper estimate for the paper's synapse model on cpp_standalone.
SYNAPSE_BYTES = 96
#: Bytes per recorded spike (index and time, in the program and again when read back).
SPIKE_BYTES = 24
#: Firing rate assumed for the spike monitors' memory (the authors' variant reaches 30-90 Hz in E).
RATE_HINT_HZ = 40.0


def replica_key(config) -> str:
    """Runs with equal keys can be replicas of one simulation: the same model declaration, device
    and lowering (seeds, data, sleep fractions and other schedule parts may differ)."""
    return f"{config.model.key()}|{config.device}|{config.lowering}"


def memory_estimate(prep) -> int:
    """Bytes one prepared run needs as a replica: its synapses, its weight snapshots (as
    :func:`sleep_brian.network.snapshot_plan` records them) and its spikes at :data:`RATE_HINT_HZ`."""
    from sleep_brian.network import snapshot_plan

    model, tl, conn = prep.config.model, prep.plan.timeline, prep.streams.connectivity
    n_syn = {pw.name: conn.n(pw.name) for pw in model.pathways}
    grid, frac = snapshot_plan(tl, max(n_syn.values(), default=0))
    snaps = (tl.n_steps // grid + 1) * frac * sum(n_syn.values()) * 16 if grid and frac else 0
    n_neurons = sum(p.size for p in model.populations)
    spikes = RATE_HINT_HZ * n_neurons * float(tl.duration) * SPIKE_BYTES
    return int(sum(n_syn.values()) * SYNAPSE_BYTES + snaps + spikes)


def _available_memory() -> int:
    """MemAvailable from /proc/meminfo (bytes), or 4 GB where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 1024**3


def choose_replicas(preps, device: str, *, memory: int | None = None, workers: int = 1) -> int:
    """The number of replicas per simulation for these prepared runs on ``device``.

    The rule: ``min(n_runs, MAX_REPLICAS[device], floor(memory / 2 / workers / per_run))`` and at
    least 1, where ``per_run`` is the largest :func:`memory_estimate` among the runs and
    ``memory`` the machine's available memory (MemAvailable) unless given.
    """
    preps = list(preps)
    if not preps:
        return 1
    memory = _available_memory() if memory is None else int(memory)
    per_run = max(memory_estimate(p) for p in preps)
    by_memory = int(memory / 2 / max(1, workers) // max(1, per_run))
    return max(1, min(len(preps), MAX_REPLICAS.get(device, 1), by_memory))


def batches(preps, k: int) -> list[list[int]]:
    """Split prepared runs into simulations of at most ``k`` replicas: runs of one
    :func:`replica_key` together, longest protocols first so that each batch holds runs of similar
    length (a replica rests while the longest of its batch goes on). Returns indices into ``preps``."""
    if int(k) < 1:
        raise ConfigError(f"replicas = {k}; expected a whole number >= 1 (or 'auto').")
    groups: dict[str, list[int]] = {}
    for n, p in enumerate(preps):
        groups.setdefault(replica_key(p.config), []).append(n)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda n: -preps[n].plan.timeline.n_steps)
        out += [members[s : s + int(k)] for s in range(0, len(members), int(k))]
    return out


def batch_seed(seeds) -> int:
    """The seed of Brian2's generator for a batch of runs with these master seeds (in batch
    order); for a batch of one it is the run's own (:func:`sleep_brian.experiment.brian_seed`)."""
    from sleep_brian.experiment import STREAMS

    seq = np.random.SeedSequence([*(int(s) for s in seeds), 1 + STREAMS.index("brian")])
    return int(seq.generate_state(1)[0] % (2**31 - 1))


def run_replicas(preps, *, out_dir=None, overwrite: bool = False, progress: bool = True, build_root=None) -> list:
    """Simulate prepared runs (:func:`sleep_brian.experiment._prepare`) as replicas of one network.

    Returns a :class:`~sleep_brian.experiment.RunResult` or, for a replica whose state went NaN,
    the :class:`~sleep_brian.errors.SimulationError` that says so (it is not stored), per run.
    """
    from sleep_brian import experiment as ex
    from sleep_brian.network import Replica, build_replicas

    preps = list(preps)
    c0 = preps[0].config
    keys = {replica_key(p.config) for p in preps}
    if len(keys) > 1:
        raise ConfigError("replicas of one simulation must share the model, device and lowering; "
                          "group runs with sleep_brian.replicas.batches first.")  # fmt: skip
    model = c0.model
    seed = batch_seed([p.config.seed for p in preps])
    longest = max(p.plan.timeline.n_steps for p in preps)
    if progress:
        print(f"sleep-brian: {len(preps)} runs as replicas of one simulation on {c0.device}: seeds "
              f"{', '.join(str(p.config.seed) for p in preps)}, sleep "
              f"{', '.join(f'{p.config.schedule.sleep_fraction:g}' for p in preps)}; simulating "
              f"{longest * float(model.dt):.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    t0 = time.perf_counter()
    lowering = devices.lowering_for(c0.device, c0.lowering)
    with devices.target(c0.device, build_root=build_root) as dev, devices.quiet_codegen_warnings():
        dev.seed(seed)
        built = build_replicas(model, [Replica(p.plan.timeline, p.plan.images, p.streams.connectivity) for p in preps],
                               lowering=lowering, spikes=ex.spike_recording(c0.device))  # fmt: skip
        dev.run(built, longest * model.dt, report="stderr" if progress else None)
        arrays = ex._read_back(model, built, [p.plan.timeline for p in preps], [p.streams.settle_rng for p in preps],
                               [p.streams.connectivity for p in preps])  # fmt: skip
        timings = dict(dev.timings)
    timings["batch_s"] = time.perf_counter() - t0
    info = {"reused": False, "replicas": len(preps), "batch": [p.name for p in preps], "batch_brian_seed": seed}
    results = []
    for pos, (prep, a) in enumerate(zip(preps, arrays)):
        if isinstance(a, Exception):
            results.append(a)
            continue
        results.append(ex._finish(prep, a, dict(timings), out_dir, overwrite, build={**info, "index": pos}))
    return results
