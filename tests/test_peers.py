"""benchmarks/peers.py: its arithmetic, and the ANNarchy network it writes from the declaration.

ANNarchy is an optional benchmark dependency that CI does not install: every test but the last
runs without it, and the last (which runs both simulators) skips with the reason where it is
absent. Nothing here asserts on a time.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402

from sleep_brian.errors import ConfigError  # noqa: E402
from sleep_brian.models import get_model  # noqa: E402
from sleep_brian.models.paper import NeuronParams, PaperParams, declare  # noqa: E402
from sleep_brian.params import STDPParams  # noqa: E402


def _parameters(text: str) -> dict:
    """``name = value : flag`` lines of an ANNarchy parameters string, as {name: value}."""
    out = {}
    for line in text.strip().splitlines():
        name, rest = line.split("=", 1)
        out[name.strip()] = float(rest.split(":")[0])
    return out


def _names(*texts) -> set:
    """Identifiers in ANNarchy strings, a derivative ``dx/dt`` counting as ``x``."""
    return set(re.findall(r"[A-Za-z_]\w*", re.sub(r"\bd(\w+)/dt\b", r"\1", "\n".join(texts))))


def _pop(desc, name="exc"):
    return next(p for p in desc["populations"] if p["name"] == name)


def _proj(desc, name):
    return next(q for q in desc["projections"] if q["name"] == name)


def test_ratio_summary_takes_the_median_and_range_of_per_round_ratios():
    s = peers.ratio_summary([2.0, 3.0, 4.0], [1.0, 1.0, 2.0])
    assert s["ratios"] == [2.0, 3.0, 2.0]
    assert (s["median"], s["low"], s["high"], s["n"]) == (2.0, 2.0, 3.0, 3)
    with pytest.raises(ValueError, match="as many rounds"):
        peers.ratio_summary([1.0, 2.0], [1.0])


def test_verdict_states_the_ratio_and_which_side_is_faster():
    line = peers.verdict(peers.ratio_summary([1.27, 1.0, 2.0], [1.0, 1.0, 1.0]))
    assert line.startswith("peers: ours/annarchy simulation time ratio 1.27 (median of 3 rounds; range 1.00-2.00)")
    assert line.endswith("ANNarchy is 1.27x faster")
    assert peers.verdict(peers.ratio_summary([0.8], [1.0])).endswith("ours is 1.25x faster")


def test_rate_agreement_gives_the_difference_and_its_standard_error():
    ours = [{"exc": 1.0, "inh": 2.0}, {"exc": 3.0, "inh": 2.0}]
    theirs = [{"exc": 1.5, "inh": 1.0}, {"exc": 1.5, "inh": 1.0}]
    a = peers.rate_agreement(ours, theirs)
    assert a["exc"]["ours"] == 2.0 and a["exc"]["annarchy"] == 1.5 and a["exc"]["diff"] == 0.5
    assert a["exc"]["se"] == pytest.approx((2.0 / 2) ** 0.5)  # variance 2 over 2 rounds, theirs 0
    assert a["inh"]["diff"] == 1.0 and a["inh"]["se"] == 0.0
    assert peers.rate_agreement(ours[:1], theirs[:1])["exc"]["se"] is None


def test_rounds_table_lists_times_ratio_and_both_sides_rates():
    row = {"ours": {"cpu_s": 2.0, "wall_s": 2.5, "rates": {"exc": 1.234, "inh": 0.5}},
           "annarchy": {"cpu_s": 1.0, "wall_s": 1.1, "rates": {"exc": 1.2, "inh": 0.49}}}  # fmt: skip
    text = peers.rounds_table([row, row], ["exc", "inh"], markdown=True)
    lines = text.splitlines()
    assert lines[0].startswith("| round | ours CPU s |") and "exc Hz ANNarchy" in lines[0]
    assert len(lines) == 4 and "| 2.00 |" in lines[2] and "1.23" in lines[2] and "0.49" in lines[3]


def test_annarchy_neuron_is_written_from_the_declared_parameters():
    """Every number of ANNarchy's neuron comes from NeuronParams: change tau_m (or any other)
    and only that number changes."""
    base = peers.annarchy_network(declare(PaperParams()))
    p = _parameters(_pop(base)["parameters"])
    n = NeuronParams()
    assert p["tau_m"] == float(n.tau_m / b2.ms) and p["tau_a"] == float(n.tau_a / b2.ms)
    assert p["v_rest"] == float(n.v_rest / b2.mV) and p["delta_a"] == float(n.delta_a / b2.mV)
    assert "min = -100.0, max = 40.0" in _pop(base)["equations"] and "init = -70.0" in _pop(base)["equations"]

    changed = peers.annarchy_network(declare(PaperParams(neuron=NeuronParams(tau_m=20 * b2.ms, v_max=30 * b2.mV))))
    q = _parameters(_pop(changed)["parameters"])
    assert q["tau_m"] == 20.0 and {k: v for k, v in q.items() if k != "tau_m"} == {k: v for k, v in p.items() if k != "tau_m"}
    assert "max = 30.0" in _pop(changed)["equations"]
    assert _pop(changed, "inh")["parameters"] == _pop(changed)["parameters"]  # both populations use lif_neuron


def test_annarchy_strings_name_only_declared_parameters_and_their_own_variables():
    desc = peers.annarchy_network(get_model("paper-stochastic"))
    pop = _pop(desc)
    known = set(_parameters(pop["parameters"])) | {"v", "a", f"g_{peers.TARGET}", "init", "min", "max", "clip"}
    used = _names(pop["equations"], pop["spike"], pop["reset"])
    assert used <= known, used - known
    proj = _proj(desc, "e_e")
    known = set(_parameters(proj["parameters"])) | {"w", "xpre", "xpost", "g_target", "clip", "event", "driven"}
    used = _names(proj["equations"], proj["pre_spike"], proj["post_spike"])
    assert used <= known, used - known


def test_annarchy_synapses_follow_the_stdp_rule_the_sign_and_the_bounds():
    m = declare(PaperParams(stdp=STDPParams(eta=1e-3, w_max_exc=20.0)))
    desc = peers.annarchy_network(m)
    ee, ie = _parameters(_proj(desc, "e_e")["parameters"]), _parameters(_proj(desc, "i_e")["parameters"])
    assert ee["eta"] == 1e-3 and ee["w_hi"] == 20.0 and ee["w_lo"] == 0.01 and ee["sgn"] == 1.0
    assert ie["sgn"] == -1.0 and (ie["w_lo"], ie["w_hi"]) == (-25.0, -0.01)
    # causal: pre-then-post potentiates by A+ with tau+ (the presynaptic trace's), post-then-pre depresses
    assert (ee["amp_on_post"], ee["tau_xpre"], ee["amp_on_pre"], ee["tau_xpost"]) == (0.5, 10.0, -0.3, 7.5)
    assert ee["q_syn"] == pytest.approx(1 / 30) and ee["plastic"] == 1.0
    authors = _parameters(_proj(peers.annarchy_network(get_model("authors")), "e_e")["parameters"])
    assert (authors["amp_on_post"], authors["tau_xpre"], authors["amp_on_pre"], authors["tau_xpost"]) == (-1.0, 7.5, 1.0, 10.0)
    off = peers.annarchy_network(m, plastic=False)
    assert all(_parameters(q["parameters"])["plastic"] == 0.0 for q in off["projections"])
    assert [q["name"] for q in desc["projections"]] == list(m.pathway_names)
    assert desc["input"]["hz_per_intensity"] == 1000.0  # p = intensity per 1 ms step


def test_a_model_with_another_neuron_is_refused():
    with pytest.raises(ConfigError, match="paper's neuron"):
        peers.annarchy_network(get_model("diehl-cook"))


def test_input_schedule_turns_the_images_on_screen_into_rates():
    from sleep_brian.protocol import Sleep, Wake, lower

    images = np.array([[0.0, 0.5], [1.0, 0.25]])
    tl = lower([Wake(np.array([1, 1, 0]), 100 * b2.ms), Sleep(50 * b2.ms), Wake(np.array([0]), 100 * b2.ms)], 1 * b2.ms)
    times, rates = peers.input_schedule(tl, images, 1000.0)
    assert times.tolist() == [0.0, 200.0, 300.0, 350.0]
    assert rates.tolist() == [[1000.0, 250.0], [0.0, 500.0], [0.0, 0.0], [0.0, 500.0]]


def test_wake_job_is_the_start_of_a_run_without_sleep():
    from sleep_brian.experiment import RunConfig, Streams, plan
    from sleep_brian.params import ScheduleParams

    m = get_model("paper-stochastic")
    images, streams, tl = peers.wake_job(m, "digits", 5.0, seed=3)
    assert tl.n_steps == 5000 and tl.plastic.all() and not tl.sleep.any()
    assert [s.kind for s in tl.spans] == ["wake"] and len(tl.spans[0].images) == 5
    ref = Streams.derive(m, 3)
    assert all(np.array_equal(streams.connectivity.i[k], ref.connectivity.i[k]) for k in m.pathway_names)
    pl = plan(RunConfig(dataset="digits", model=m, schedule=ScheduleParams().with_overrides(
        n_train=5, n_fit=1, n_test=1, sleep_fraction=0.0), seed=3, control=False))  # fmt: skip
    assert np.array_equal(images, pl.images)
    assert np.array_equal(tl.spans[0].images, np.concatenate([s.images for s in pl.timeline.spans_of("wake")]))
    _, _, off = peers.wake_job(m, "digits", 5.0, seed=3, plastic=False)
    assert not off.plastic.any() and [s.kind for s in off.spans] == ["test"]
    with pytest.raises(SystemExit, match="whole number"):
        peers.wake_job(m, "digits", 2.5, seed=3)


def test_the_worker_half_imports_without_brian2_or_sleep_brian():
    """The ANNarchy side runs in ANNarchy's interpreter, which need not have our packages."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('brian2', 'sleep_brian'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import peers\n"
        "print(peers.verdict(peers.ratio_summary([2.0], [1.0])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert "ANNarchy is 2.00x faster" in out.stdout


def _annarchy_python():
    """A python that imports ANNarchy: this one, or $SLEEP_BRIAN_ANNARCHY_PYTHON (its own venv)."""
    given = os.environ.get("SLEEP_BRIAN_ANNARCHY_PYTHON")
    if given:
        return given if Path(given).exists() else None
    return sys.executable if importlib.util.find_spec("ANNarchy") else None


@pytest.mark.slow
@pytest.mark.standalone
@pytest.mark.skipif(
    _annarchy_python() is None,
    reason="ANNarchy is not installed (an optional benchmark dependency): python -m venv /tmp/annarchy-venv && "
    "/tmp/annarchy-venv/bin/pip install annarchy, then set SLEEP_BRIAN_ANNARCHY_PYTHON=/tmp/annarchy-venv/bin/python",
)
def test_both_simulators_run_the_job_and_report():
    """Two short rounds of each, compiled once: the report names both sides' rates and ends in
    the verdict line; the synapse counts agree (peers.py stops otherwise)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--annarchy-python", _annarchy_python(),
         "--wake", "2", "--rounds", "2", "--no-plasticity"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert re.match(r"peers: ours/annarchy simulation time ratio \d+\.\d\d \(median of 2 rounds; range", lines[-1])
    assert any(line.startswith("exc: mean rate ours") for line in lines)
    rate = re.search(r"exc: mean rate ours ([\d.]+) Hz, ANNarchy ([\d.]+) Hz", out.stdout)
    assert float(rate.group(1)) > 0 and float(rate.group(2)) > 0
