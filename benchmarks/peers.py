"""The same wake job in ANNarchy and in our cpp_standalone build, timed in alternation in one run.

ANNarchy (Vitay et al. 2015, Front. Neuroinform. 9:19) is the simulator whose
``Neuron``/``Synapse``/``Population``/``Projection`` our model layer reads like, and it compiles
a network to C++ as our cpp_standalone build does: the peer to measure ourselves against. The
network is written here a second time, in ANNarchy's equations, from the model's declaration
(:func:`annarchy_network`; none of ANNarchy's code is copied): every number comes from the
declared parameters, and a model whose neuron or synapse strings are not the paper's is refused.

The job: ``--wake`` seconds of wake (images shown, STDP on, no sleep) of the model
(``sleep_brian.models.DEFAULT_MODEL`` unless ``--model``), on the same connectivity
(:class:`sleep_brian.experiment.Streams`) and the same images in the same order
(:func:`sleep_brian.experiment.plan`) in both simulators. Each side is compiled once; then the
rounds alternate (ours, ANNarchy's, ours, ...), each a fresh start of the job from the initial
state with a new random seed. What is timed is the simulation only, as CPU time of the one
thread that runs it: the program's own loop time on our side (Brian2's ``_last_run_time``,
``std::clock``), ``time.process_time()`` around ``simulate()`` on ANNarchy's. (Wall times are
printed beside them: ANNarchy's ``simulate()``, and our program's whole launch, which also
loads the data and writes the results.) Both run one thread (``OMP_NUM_THREADS=1``, ANNarchy
``num_threads=1``), both record the spikes of every E and I neuron, and both print their mean
E and I firing rates per round, so that the comparison is seen to be one of equal work.
``--no-plasticity`` runs the job with STDP off on both sides (our Test phase; ANNarchy's
``plastic = 0``): the rates must then agree within their round-to-round noise, which shows
that the neuron models match.

ANNarchy is an optional benchmark dependency. Install it in an environment of its own, so that
its numpy and sympy cannot disturb ours, and point ``--annarchy-python`` at it::

    python -m venv /tmp/annarchy-venv && /tmp/annarchy-venv/bin/pip install annarchy
    python benchmarks/peers.py --annarchy-python /tmp/annarchy-venv/bin/python --quick
    python benchmarks/peers.py --annarchy-python /tmp/annarchy-venv/bin/python --wake 100 --rounds 11
    python benchmarks/peers.py --annarchy-python /tmp/annarchy-venv/bin/python --quick --no-plasticity

Without ``--annarchy-python`` this interpreter is used when it can import ANNarchy. Either way
ANNarchy runs in a child process (this file, ``--worker DIR``), which keeps this process's Brian2
clean and needs only numpy and ANNarchy; the folder of that python (a venv's ``bin``) is put
first on the child's PATH, since ANNarchy calls tools from there when it compiles.

Differences between the two networks that remain (see docs/benchmarks.md):

- How STDP pairs spikes. Our synapses act in the step of the presynaptic spike (delay 0; the
  current enters the next step's integration), ANNarchy's at the start of the next step, before
  the neurons update: the neurons see the same current in the same step, but ANNarchy's
  event-driven traces (``--annarchy-stdp traces``, the default: the same state per synapse as
  ours) pair differently. A pre and a post spike in the same step count as post-then-pre
  (depression, -A-) where ours count pre-then-post (+A+); a presynaptic event decays the traces
  to the spike's step but stamps them with the next, so each one loses a step of decay (an
  input firing every step keeps its postsynaptic trace at 1) and pre-then-post pairs count
  1 ms closer. Their STDP depresses the input weights of the active neurons more than ours,
  and E fires less (measured: 0.21 against 0.43 Hz over 100 s). ``--annarchy-stdp
  spike-times`` writes the same rule with the neurons' last spike times instead
  (:data:`ANN_SYNAPSE_PRE_TIMES`), which pairs exactly as ours do: rates and weights then
  agree with STDP on. ``--no-plasticity`` compares the neurons alone.
- Our synapse code carries the model's sleep rule, applied lazily at every synaptic event (a
  no-op during wake that still costs its arithmetic and, for the stochastic rule, a random
  number per event); ANNarchy's wake-only network has none. ``--without-sleep-rule`` times
  our side without it (measured: the stochastic rule's catch-up is 57 % of our wake job).
- Compiler flags: each side's own defaults (Brian2 adds ``-ffast-math``; ANNarchy's are
  ``-O3 -march=native``, changed with ``--annarchy-flags``). Both are printed.
- Random streams differ (the input spikes), so rates agree only statistically: the report
  gives the difference with its standard error over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402  (numpy only: the worker's interpreter has it too)

#: The line prefix of the worker's replies on its stdout (ANNarchy prints there too).
REPLY = "PEERS "

#: The target of every projection in ANNarchy: each adds into ``g_syn`` (our ``I_syn``).
TARGET = "syn"

#: The paper neuron in ANNarchy's syntax, in ANNarchy's units (ms, mV): the same current-based
#: LIF with adaptive threshold as ``sleep_brian.equations.LIF_ADAPTIVE`` (explicit Euler, like
#: ``method='euler'``). ``g_syn`` is our ``I_syn`` (dimensionless); given an equation of its own,
#: ANNarchy lets it decay instead of zeroing it every step. ``min``/``max`` clip v after every
#: update, where our builder clips it (``step_code``); sleep noise is absent (a wake job).
ANN_NEURON_EQUATIONS = """
tau_m * dv/dt = -(v - v_rest) + R * g_{target} : init = {v_init}, min = {v_min}, max = {v_max}
tau_syn * dg_{target}/dt = -g_{target}
tau_a * da/dt = -a
"""
ANN_NEURON_SPIKE = "v > clip(v_th0 + a, th_min, th_max)"
ANN_NEURON_RESET = """
v = v_reset
a += delta_a
"""

#: Nearest-spike pair STDP with hard bounds, as ``sleep_brian.equations.STDP_ON_PRE`` /
#: ``STDP_ON_POST``: traces reset to 1 at a spike and decaying exactly between events
#: (ANNarchy's ``event-driven``; how ANNarchy times presynaptic events makes these pair
#: differently from ours: module docstring), the current delivered before the weight changes.
#: ``plastic`` is our regime flag (1 in wake, 0 with plasticity off).
ANN_SYNAPSE_EQUATIONS = """
tau_xpre * dxpre/dt = -xpre : event-driven
tau_xpost * dxpost/dt = -xpost : event-driven
"""
ANN_SYNAPSE_PRE = """
g_target += w * q_syn
w = clip(w + plastic * eta * sgn * amp_on_pre * xpost, w_lo, w_hi)
xpre = 1.0
"""
ANN_SYNAPSE_POST = """
w = clip(w + plastic * eta * sgn * amp_on_post * xpre, w_lo, w_hi)
xpost = 1.0
"""

#: The same pairing written with spike times instead of traces (``--annarchy-stdp spike-times``),
#: which reproduces our pairing where the traces cannot (module docstring): ANNarchy processes a
#: presynaptic spike of step s in step s+1, when ``t_pre`` (that spike's time) is s and the
#: postsynaptic neuron's last spike ``tspk`` is at most s; ours pair it in step s with the last
#: postsynaptic spike *before* s, so where ``tspk == t_pre`` the one before it (``tprev``) is
#: taken. A postsynaptic spike pairs with the last presynaptic spike up to its own step, as
#: ours. ``tspk`` and ``tprev`` are kept by the neuron (:data:`ANN_NEURON_SPIKE_TIMES`).
ANN_SYNAPSE_PRE_TIMES = """
g_target += w * q_syn
w = clip(w + plastic * eta * sgn * amp_on_pre * exp(-(t_pre - ite(post.tspk < t_pre, post.tspk, post.tprev)) / tau_xpost), w_lo, w_hi)
"""
ANN_SYNAPSE_POST_TIMES = """
w = clip(w + plastic * eta * sgn * amp_on_post * exp(-(t_post - t_pre) / tau_xpre), w_lo, w_hi)
"""
#: The neuron's last two spike times (ms), for the spike-times synapse (-1e9: never).
ANN_NEURON_SPIKE_TIMES = """
dtspk/dt = 0.0 : init = -1e9
dtprev/dt = 0.0 : init = -1e9
"""
ANN_NEURON_RESET_TIMES = """
tprev = tspk
tspk = t
"""
#: How ANNarchy's synapses pair spikes (``--annarchy-stdp``).
STDP_FORMS = ("traces", "spike-times")

#: The neuron parameters ANNarchy's strings use, with the unit each is written in.
NEURON_UNITS = {
    "tau_m": "ms", "tau_syn": "ms", "tau_a": "ms", "R": "mV", "v_rest": "mV", "v_reset": "mV",
    "v_th0": "mV", "th_min": "mV", "th_max": "mV", "delta_a": "mV",
}  # fmt: skip
#: The synapse parameters (from the synapse's declared params; sgn and bounds from the pathway).
SYNAPSE_UNITS = {"tau_xpre": "ms", "tau_xpost": "ms", "eta": "1", "amp_on_pre": "1", "amp_on_post": "1", "q_syn": "1"}


# ---- the ANNarchy network, from the declaration (needs sleep_brian) ----------------------------


def _number(value, unit: str) -> float:
    import brian2 as b2

    if unit == "1":
        return float(value)
    return float(value / {"ms": b2.ms, "mV": b2.mV}[unit])


def _parameters(values: dict, locality: str) -> str:
    return "\n".join(f"{k} = {v!r} : {locality}" for k, v in values.items())


def _check_paper_parts(model) -> None:
    """Refuse a model whose neuron or synapse is not the paper's (no translation is attempted)."""
    from sleep_brian import equations as eq
    from sleep_brian.errors import ConfigError

    for pop in model.populations:
        nm = pop.neuron
        same = (nm.equations == eq.LIF_ADAPTIVE and nm.threshold == eq.LIF_THRESHOLD and nm.reset == eq.LIF_RESET
                and dict(nm.clip) == {"v": ("v_min", "v_max")} and not nm.refractory)  # fmt: skip
        if not same:
            raise ConfigError(
                f"peers.py writes ANNarchy code for the paper's neuron (models/paper.py: lif_neuron) only; population "
                f"{pop.name!r} of model {model.name!r} declares another. Use a paper-family model (--model paper-stochastic)."
            )
        if nm.method != "euler":
            raise ConfigError(
                f"population {pop.name!r} integrates with method={nm.method!r}; ANNarchy's network here uses explicit "
                "Euler (the paper's), so the comparison needs method='euler'."
            )
    for pw in model.pathways:
        syn = pw.synapse
        if (syn.model, syn.on_pre, syn.on_post) != (eq.STDP_MODEL, eq.STDP_ON_PRE, eq.STDP_ON_POST):
            raise ConfigError(
                f"peers.py writes ANNarchy code for the paper's STDP synapse (models/paper.py: stdp_synapse) only; "
                f"pathway {pw.name!r} of model {model.name!r} declares another."
            )
        if pw.normalize is not None:
            raise ConfigError(f"pathway {pw.name!r} declares normalize, which the ANNarchy network here lacks.")


def annarchy_network(model, *, plastic: bool = True, stdp: str = "traces") -> dict:
    """The ANNarchy description of ``model`` (JSON-safe): per population its neuron's
    ``parameters``, ``equations``, ``spike`` and ``reset`` strings, per pathway its synapse's,
    every number taken from the model's declared parameters.

    ``plastic`` False: STDP off (``plastic = 0``), as in our Test phase. ``stdp``: ``"traces"``
    (event-driven traces, the same state per synapse as ours) or ``"spike-times"`` (our pairing
    exactly, from the neurons' spike times; see :data:`ANN_SYNAPSE_PRE_TIMES`).
    """
    from sleep_brian.errors import ConfigError

    if stdp not in STDP_FORMS:
        raise ConfigError(f"stdp = {stdp!r}; expected one of {', '.join(STDP_FORMS)}.")
    times = stdp == "spike-times"
    _check_paper_parts(model)
    enc = model.inputs.encoding
    dt_ms = _number(model.dt, "ms")
    pops = []
    for pop in model.populations:
        nm = pop.neuron
        params = {k: _number(nm.params[k], u) for k, u in NEURON_UNITS.items()}
        v_init = _number(nm.initial.get("v", nm.params["v_rest"]), "mV")
        equations = ANN_NEURON_EQUATIONS.format(target=TARGET, v_init=v_init, v_min=_number(nm.params["v_min"], "mV"),
                                                v_max=_number(nm.params["v_max"], "mV"))  # fmt: skip
        if times:
            equations += ANN_NEURON_SPIKE_TIMES.lstrip("\n")
        pops.append({
            "name": pop.name, "size": int(pop.size), "parameters": _parameters(params, "population"),
            "equations": equations, "spike": ANN_NEURON_SPIKE,
            "reset": ANN_NEURON_RESET + (ANN_NEURON_RESET_TIMES.lstrip("\n") if times else ""),
        })  # fmt: skip
    projections = []
    for pw in model.pathways:
        values = {k: _number(pw.synapse.params[k], u) for k, u in SYNAPSE_UNITS.items()}
        lo, hi = pw.bounds
        values.update(sgn=pw.sign, w_lo=float(lo), w_hi=float(hi), plastic=1.0 if (plastic and pw.plastic) else 0.0)
        projections.append({
            "name": pw.name, "pre": pw.source, "post": pw.target, "target": TARGET,
            "parameters": _parameters(values, "projection"), "equations": "" if times else ANN_SYNAPSE_EQUATIONS,
            "pre_spike": ANN_SYNAPSE_PRE_TIMES if times else ANN_SYNAPSE_PRE,
            "post_spike": ANN_SYNAPSE_POST_TIMES if times else ANN_SYNAPSE_POST,
        })  # fmt: skip
    return {
        "model": model.name,
        "stdp": stdp,
        "dt_ms": dt_ms,
        # Bernoulli input: rand() < p per step, p = p_scale * intensity; ANNarchy's Poisson
        # neurons spike when Uniform(0, 1) < rate * dt / 1000, so rate = p * 1000 / dt (Hz).
        "input": {"name": model.inputs.name, "size": int(model.inputs.size),
                  "hz_per_intensity": enc.gain * float(model.dt / enc.prob_dt_ref) * 1000.0 / dt_ms},
        "populations": pops,
        "projections": projections,
    }  # fmt: skip


def input_schedule(timeline, images: np.ndarray, hz_per_intensity: float) -> tuple[np.ndarray, np.ndarray]:
    """The timeline's images as ANNarchy input rates: (times in ms where the image changes,
    rates in Hz per input at each), one row per change (no image: 0 Hz)."""
    import brian2 as b2

    from sleep_brian.timeline import NO_IMAGE

    shown = np.asarray(timeline.image)
    starts = np.flatnonzero(np.r_[True, shown[1:] != shown[:-1]])
    slot_ms = float(timeline.slot_steps) * float(timeline.dt / b2.ms)
    table = np.vstack([np.asarray(images, float), np.zeros((1, images.shape[1]))])
    rows = np.where(shown[starts] == NO_IMAGE, len(images), shown[starts])
    return starts * slot_ms, table[rows] * hz_per_intensity


# ---- the arithmetic and the report (no simulator needed) ------------------------------------


def ratio_summary(ours: list[float], theirs: list[float]) -> dict:
    """Per-round ratios ours / theirs (> 1: ANNarchy is faster), their median and range."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"need as many rounds of each side (got {len(ours)} and {len(theirs)}), at least one.")
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"ratios": ratios, "median": statistics.median(ratios), "low": min(ratios), "high": max(ratios), "n": len(ratios)}


def verdict(summary: dict) -> str:
    """The last line: the median ratio, its range, and which simulator is faster."""
    m = summary["median"]
    who = f"ANNarchy is {m:.2f}x faster" if m > 1 else f"ours is {1 / m:.2f}x faster" if m < 1 else "equally fast"
    return (f"peers: ours/annarchy simulation time ratio {m:.2f} (median of {summary['n']} rounds; "
            f"range {summary['low']:.2f}-{summary['high']:.2f}): {who}")  # fmt: skip


def rate_agreement(ours: list[dict], theirs: list[dict]) -> dict:
    """Per population: mean rate of each side over the rounds, their difference (ours -
    theirs) and its standard error from the rounds' spread (None with one round)."""
    out = {}
    for pop in ours[0]:
        a = [r[pop] for r in ours]
        b = [r[pop] for r in theirs]
        se = None
        if len(a) > 1 and len(b) > 1:
            se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
        out[pop] = {"ours": statistics.fmean(a), "annarchy": statistics.fmean(b),
                    "diff": statistics.fmean(a) - statistics.fmean(b), "se": se}  # fmt: skip
    return out


def rounds_table(rows: list[dict], pops: list[str], markdown: bool = False) -> str:
    """One line per round: both sides' times and rates, and the ratio."""
    header = ["round", "ours CPU s", "ours program wall s", "ANNarchy CPU s", "ANNarchy wall s", "ours/ANNarchy"]
    header += [f"{p} Hz ours" for p in pops] + [f"{p} Hz ANNarchy" for p in pops]
    body = []
    for k, r in enumerate(rows, 1):
        line = [k, r["ours"]["cpu_s"], r["ours"].get("wall_s"), r["annarchy"]["cpu_s"], r["annarchy"]["wall_s"],
                r["ours"]["cpu_s"] / r["annarchy"]["cpu_s"]]  # fmt: skip
        line += [round(r["ours"]["rates"][p], 3) for p in pops] + [round(r["annarchy"]["rates"][p], 3) for p in pops]
        body.append(line)
    return _common.table(header, body, markdown=markdown)


# ---- the ANNarchy side: a child process with only numpy and ANNarchy ---------------------------


def find_annarchy_python(given: str | None) -> str:
    """The python that runs ANNarchy: ``given``, else this one if it imports ANNarchy."""
    if given:
        probe = subprocess.run([given, "-c", "import ANNarchy"], capture_output=True, text=True, env=_worker_env(given))
        if probe.returncode:
            raise SystemExit(f"--annarchy-python {given} cannot import ANNarchy: {probe.stderr.strip()[-300:]}")
        return given
    import importlib.util

    if importlib.util.find_spec("ANNarchy") is None:
        raise SystemExit(
            "ANNarchy is not importable here and no --annarchy-python was given. Install it in its own venv:\n"
            "  python -m venv /tmp/annarchy-venv && /tmp/annarchy-venv/bin/pip install annarchy\n"
            "then pass --annarchy-python /tmp/annarchy-venv/bin/python."
        )
    return sys.executable


def _worker_env(python: str) -> dict:
    """One thread, and the python's own folder (a venv's bin) first on PATH: ANNarchy compiles with it."""
    bin_dir = str(Path(python).parent)  # not resolved: a venv's python is a link out of its bin
    return dict(os.environ, OMP_NUM_THREADS="1", PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))


class AnnarchyWorker:
    """The ANNarchy half of the benchmark, in a child process that compiles once and then
    runs rounds on request (JSON lines on stdin; replies on stdout, prefixed :data:`REPLY`)."""

    def __init__(self, python: str, spec_dir: Path, compiler_flags: str | None = None):
        self.log = open(spec_dir / "worker.log", "w")
        cmd = [python, str(Path(__file__).resolve()), "--worker", str(spec_dir)]
        if compiler_flags:
            cmd += ["--annarchy-flags", compiler_flags]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=_worker_env(python), cwd=spec_dir)  # fmt: skip
        self.spec_dir = spec_dir

    def reply(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                out = json.loads(line[len(REPLY):])
                if "error" in out:
                    raise RuntimeError(f"ANNarchy worker: {out['error']}")
                return out
        self.proc.wait()
        tail = (self.spec_dir / "worker.log").read_text().strip().splitlines()[-15:]
        raise RuntimeError(f"ANNarchy worker exited ({self.proc.returncode}):\n" + "\n".join(tail))

    def run(self, seed: int) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": "run", "seed": int(seed)}) + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        self.log.close()


def write_spec(spec_dir: Path, description: dict, arrays: dict, duration_ms: float, seed: int) -> None:
    """The worker's input: the description and job as JSON, the arrays as an npz."""
    (spec_dir / "spec.json").write_text(json.dumps({**description, "duration_ms": duration_ms, "seed": seed}, indent=1))
    np.savez(spec_dir / "arrays.npz", **arrays)


def worker(spec_dir: Path, compiler_flags: str | None = None) -> int:
    """Build the described network in ANNarchy, compile it, then serve rounds until told to quit."""
    spec = json.loads((spec_dir / "spec.json").read_text())
    arr = dict(np.load(spec_dir / "arrays.npz"))
    try:
        import ANNarchy as ann
        from scipy.sparse import csr_matrix

        net = ann.Network(dt=spec["dt_ms"], seed=spec["seed"])
        net.config(num_threads=1)
        pops = {}
        inp = spec["input"]
        pops[inp["name"]] = net.create(ann.TimedPoissonPopulation(
            geometry=inp["size"], rates=list(arr["input_rates_hz"]), schedule=[float(t) for t in arr["input_times_ms"]]))  # fmt: skip
        for p in spec["populations"]:
            neuron = ann.Neuron(parameters=p["parameters"], equations=p["equations"], spike=p["spike"], reset=p["reset"])
            pops[p["name"]] = net.create(geometry=p["size"], neuron=neuron, name=p["name"])
        projs, initial = {}, {}
        for q in spec["projections"]:
            synapse = ann.Synapse(parameters=q["parameters"], equations=q["equations"], pre_spike=q["pre_spike"],
                                  post_spike=q["post_spike"])  # fmt: skip
            pre, post = pops[q["pre"]], pops[q["post"]]
            proj = net.connect(pre, post, target=q["target"], synapse=synapse, name=q["name"])
            i, j, w = arr[f"i_{q['name']}"], arr[f"j_{q['name']}"], arr[f"w_{q['name']}"]
            proj.from_sparse(csr_matrix((w, (i, j)), shape=(pre.size, post.size)))
            projs[q["name"]] = proj
            initial[q["name"]] = (i, j, w)
        monitors = {p["name"]: net.monitor(pops[p["name"]], "spike") for p in spec["populations"]}
        t0 = time.perf_counter()
        flags = [compiler_flags] if compiler_flags else "default"
        net.compile(directory=str(spec_dir / "annarchy"), silent=True, compiler_flags=flags)
        compile_s = time.perf_counter() - t0
        # Every synapse's initial weight, in ANNarchy's layout (per post neuron, its pre ranks).
        layout = {}
        for name, proj in projs.items():
            i, j, w = initial[name]
            lookup = {(int(a), int(b)): float(c) for a, b, c in zip(i, j, w)}
            layout[name] = [[lookup[(int(a), int(post))] for a in proj.dendrite(post).pre_ranks] for post in proj.post_ranks]
        n_syn = {name: int(proj.nb_synapses) for name, proj in projs.items()}
        print(REPLY + json.dumps({"compiled": True, "compile_s": compile_s, "synapses": n_syn,
                                  "version": ann.__version__ if hasattr(ann, "__version__") else "?"}), flush=True)  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which says what failed
        print(REPLY + json.dumps({"error": f"build/compile failed: {type(exc).__name__}: {exc}"}), flush=True)
        return 1
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        try:
            # A fresh start of the job: neurons, input schedule, traces, weights, monitors. The
            # clock runs on: Network.reset() would set it to 0 but keep each synapse's time of
            # its last event, and the event-driven traces would then overflow (exp of a time
            # gone backwards).
            for pop in net.get_populations():
                pop.reset()
            for name, proj in projs.items():
                proj.reset()
                proj.w = layout[name]
            for mon in monitors.values():
                mon.reset()
            net.instance.set_seed(int(msg["seed"]), 1, net._get_config("use_seed_seq"))
            t0, c0 = time.perf_counter(), time.process_time()
            net.simulate(spec["duration_ms"])
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            duration_s = spec["duration_ms"] / 1000.0
            rates = {}
            for p in spec["populations"]:
                spikes = monitors[p["name"]].get("spike")
                rates[p["name"]] = sum(len(v) for v in spikes.values()) / (p["size"] * duration_s)
            weights = {name: float(np.mean(np.abs(np.concatenate([np.asarray(d, float) for d in proj.w]))))
                       for name, proj in projs.items()}  # fmt: skip
            print(REPLY + json.dumps({"cpu_s": cpu, "wall_s": wall, "rates": rates, "mean_abs_w": weights}), flush=True)
        except Exception as exc:  # noqa: BLE001
            print(REPLY + json.dumps({"error": f"round failed: {type(exc).__name__}: {exc}"}), flush=True)
            return 1
    return 0


# ---- our side and the alternation (needs sleep_brian) -----------------------------------------


def wake_job(model, dataset: str, wake_s: float, seed: int, plastic: bool = True, presentation=None):
    """The images, the connectivity and the lowered timeline of the wake job: the first
    ``wake_s`` seconds of training of a run with this seed (no sleep), or with plasticity off
    (the same images as a Test phase)."""
    import brian2 as b2

    from sleep_brian.experiment import RunConfig, Streams, plan
    from sleep_brian.params import ScheduleParams
    from sleep_brian.protocol import Test, Wake, lower

    sched = model.schedule or ScheduleParams()
    pres = presentation if presentation is not None else sched.presentation
    n_images = int(round(wake_s * b2.second / pres))
    if n_images < 1 or abs(float(n_images * pres / b2.second) - wake_s) > 1e-9:
        raise SystemExit(f"--wake {wake_s:g} s must be a whole number (>= 1) of presentations of {pres}.")
    sched = sched.with_overrides(n_train=n_images, n_fit=1, n_test=1, sleep_fraction=0.0, presentation=pres, epochs=1)
    pl = plan(RunConfig(dataset=dataset, model=model, schedule=sched, seed=seed, control=False))
    order = np.concatenate([s.images for s in pl.timeline.spans_of("wake")])[:n_images]
    phase = Wake(order, pres) if plastic else Test(order, pres, label="wake_no_plasticity")
    tl = lower([phase], model.dt)
    return pl.images, Streams.derive(model, seed), tl


class Ours:
    """Our cpp_standalone build of the job, compiled once and run once per round."""

    def __init__(self, model, timeline, images, streams, build_root=None):
        import contextlib

        import brian2 as b2

        from sleep_brian import devices
        from sleep_brian.network import build_network

        if not devices.reuse_supported("cpp_standalone"):
            raise SystemExit("our side reruns one compiled program (brian2 >= 2.6 with run_args); this brian2 cannot.")
        self.stack = contextlib.ExitStack()
        self.dev = self.stack.enter_context(devices.target("cpp_standalone", build_root=build_root))
        self.stack.enter_context(devices.quiet_codegen_warnings())
        try:
            self.dev.prepare_reuse()
            self.built = build_network(model, timeline, images, None, connectivity=streams.connectivity,
                                       record_weights=False, reusable=True)  # fmt: skip
            self.dev.compile(self.built.net, timeline.duration)
        except BaseException:
            self.stack.close()  # back to the runtime device
            raise
        self.duration_s = float(timeline.duration / b2.second)
        self.sizes = {p.name: p.size for p in model.populations}

    def run(self, seed: int) -> dict:
        t = self.dev.run_compiled({}, seed)
        rates = {p: int(self.built.spikes[p].num_spikes) / (n * self.duration_s) for p, n in self.sizes.items()}
        w = {name: float(np.mean(np.abs(np.asarray(S.w[:])))) for name, S in self.built.synapses.items()}
        self.dev.discard_results()
        return {"cpu_s": t["simulation_s"], "wall_s": t["run_s"], "rates": rates, "mean_abs_w": w}

    def close(self) -> None:
        self.stack.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a model name or path/to/file.py:function (default: the default model)")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--wake", type=float, default=None, help="seconds of wake per round (default 100; --quick: 10)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 11; --quick: 3)")
    ap.add_argument("--quick", action="store_true", help="a short check: 10 s of wake, 3 rounds")
    ap.add_argument("--seed", type=int, default=1, help="master seed: connectivity, image order; round k adds k to the simulators' seeds")
    ap.add_argument("--no-plasticity", action="store_true", help="STDP off on both sides: the rates must agree")
    ap.add_argument("--without-sleep-rule", action="store_true",
                    help="time our side without the model's sleep rule (its lazy catch-up at every event)")
    ap.add_argument("--annarchy-python", default=None, help="a python that imports ANNarchy (default: this one)")
    ap.add_argument("--annarchy-stdp", default="traces", choices=STDP_FORMS,
                    help="ANNarchy's STDP: event-driven traces (our state per synapse; default) or spike times (our pairing)")
    ap.add_argument("--annarchy-flags", default=None, help="ANNarchy's compiler flags (default: its own, -O3 -march=native)")
    ap.add_argument("--build-root", type=Path, default=None)
    ap.add_argument("--markdown", action="store_true", help="print the table as markdown")
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        return worker(args.worker, args.annarchy_flags)
    wake_s = args.wake if args.wake is not None else (10.0 if args.quick else 100.0)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 11)
    if rounds < 1:
        raise SystemExit("--rounds must be >= 1.")
    os.environ["OMP_NUM_THREADS"] = "1"
    python = find_annarchy_python(args.annarchy_python)

    import brian2 as b2

    from sleep_brian import models
    from sleep_brian.network import initial_weight_values

    model = models.get_model(args.model or models.DEFAULT_MODEL)
    plastic = not args.no_plasticity
    images, streams, tl = wake_job(model, args.dataset, wake_s, args.seed, plastic)
    description = annarchy_network(model, plastic=plastic, stdp=args.annarchy_stdp)
    times, rates = input_schedule(tl, images, description["input"]["hz_per_intensity"])
    w0 = initial_weight_values(model, streams.connectivity)
    arrays = {"input_times_ms": times, "input_rates_hz": rates}
    for pw in model.pathways:
        arrays[f"i_{pw.name}"] = streams.connectivity.i[pw.name]
        arrays[f"j_{pw.name}"] = streams.connectivity.j[pw.name]
        arrays[f"w_{pw.name}"] = w0[pw.name]
    ours_model = model.with_sleep_rule(None) if args.without_sleep_rule else model
    pops = [p.name for p in model.populations]
    n_syn = {pw.name: streams.connectivity.n(pw.name) for pw in model.pathways}
    print(f"peers: {model.name}{' without its sleep rule on our side' if args.without_sleep_rule else ''}, "
          f"{args.dataset}, {wake_s:g} s of wake ({'STDP on' if plastic else 'STDP off'}; ANNarchy's STDP with "
          f"{args.annarchy_stdp}), seed {args.seed}, "
          f"{rounds} rounds; synapses {n_syn}", file=sys.stderr, flush=True)  # fmt: skip

    rows = []
    with tempfile.TemporaryDirectory(prefix="peers_") as tmp:
        spec_dir = Path(tmp)
        write_spec(spec_dir, description, arrays, float(tl.duration / b2.ms), args.seed)
        theirs = AnnarchyWorker(python, spec_dir, args.annarchy_flags)  # compiles while we build
        ours = None
        try:
            t0 = time.perf_counter()
            ours = Ours(ours_model, tl, images, streams, args.build_root)
            print(f"ours: built in {time.perf_counter() - t0:.1f} s (compile {ours.dev.timings.get('compile_s', 0):.1f} s, "
                  f"flags {' '.join(b2.prefs.codegen.cpp.extra_compile_args_gcc)})", file=sys.stderr, flush=True)  # fmt: skip
            info = theirs.reply()
            print(f"ANNarchy {info['version']}: compiled in {info['compile_s']:.1f} s "
                  f"(flags {args.annarchy_flags or 'its default'}); synapses {info['synapses']}", file=sys.stderr, flush=True)  # fmt: skip
            if info["synapses"] != n_syn:
                raise SystemExit(f"ANNarchy's synapse counts {info['synapses']} differ from ours {n_syn}.")
            base = int(streams.brian_seed)
            for k in range(rounds):
                a = ours.run(base + k)
                b = theirs.run(base + k)
                rows.append({"ours": a, "annarchy": b})
                print(f"round {k + 1}/{rounds}: ours {a['cpu_s']:.2f} s, ANNarchy {b['cpu_s']:.2f} s; rates ours "
                      + ", ".join(f"{p} {a['rates'][p]:.2f}" for p in pops) + " Hz, ANNarchy "
                      + ", ".join(f"{p} {b['rates'][p]:.2f}" for p in pops) + " Hz", file=sys.stderr, flush=True)  # fmt: skip
        finally:
            theirs.close()
            if ours is not None:
                ours.close()

    print(rounds_table(rows, pops, markdown=args.markdown))
    agree = rate_agreement([r["ours"]["rates"] for r in rows], [r["annarchy"]["rates"] for r in rows])
    for p, a in agree.items():
        se = f" (standard error {a['se']:.3f})" if a["se"] is not None else ""
        print(f"{p}: mean rate ours {a['ours']:.3f} Hz, ANNarchy {a['annarchy']:.3f} Hz, difference {a['diff']:+.3f} Hz{se}")
    wa = {k: statistics.fmean(r["ours"]["mean_abs_w"][k] for r in rows) for k in n_syn}
    wb = {k: statistics.fmean(r["annarchy"]["mean_abs_w"][k] for r in rows) for k in n_syn}
    print("mean |w| at the end, ours / ANNarchy: " + ", ".join(f"{k} {wa[k]:.5f}/{wb[k]:.5f}" for k in n_syn))
    print(verdict(ratio_summary([r["ours"]["cpu_s"] for r in rows], [r["annarchy"]["cpu_s"] for r in rows])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
