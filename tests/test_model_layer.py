"""The public model layer: a user's own model runs through the protocols, the CLI and every
device path we have; records tell models apart; bad declarations get clear errors.

The user's model is ``tests/models/izhikevich.py``, written only with the public layer.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import models, store
from sleep_brian.cli import main
from sleep_brian.errors import ConfigError, ModelError, SimulationError
from sleep_brian.experiment import RunConfig, run
from sleep_brian.model import (AllToAll, Bernoulli, InputLayer, Model, NeuronModel, Noise, OneToOne, Pathway,
                               Population, SleepRule, SynapseModel)
from sleep_brian.models.paper import PaperParams, declare, lif_neuron, stdp_synapse
from sleep_brian.network import check_code
from sleep_brian.params import ScheduleParams
from sleep_brian.protocols.wake_sleep import compare
from sleep_brian.sleep_rules import power_law, stochastic

ms, mV = b2.ms, b2.mV
USER = str(Path(__file__).parent / "models" / "izhikevich.py") + ":build"
TINY = ScheduleParams(n_train=40, n_fit=40, n_test=20, presentation=100 * ms, wake_block=2 * b2.second)


def _check_rows(rows):
    assert len(rows) == 1
    r = rows[0]
    assert r["model"] == "izhikevich"
    assert r["rate_hz"] > 0.5  # the network responds to the images
    # 20 test images: chance is 0.1; the trained and untrained readouts are both recorded
    assert 0 <= r["trained"] <= 1 and 0 <= r["untrained"] <= 1


def test_user_model_file_runs_through_the_protocol_on_numpy(tmp_path):
    rows = compare("digits", [0.1], [1], model=USER, device="numpy", schedule=TINY, out_dir=tmp_path, progress=False)
    _check_rows(rows)
    (rec,) = store.load_records(tmp_path)
    decl = rec["config"]["declaration"]
    assert decl["name"] == "izhikevich" and "0.04 * v**2" in decl["populations"][0]["neuron"]["equations"]
    assert set(rec["weights"]) == {"pixels_rs", "rs_fs", "fs_rs"}
    assert set(rec["population_rates"]) == {"rs", "fs"}
    assert rec["population_rates"]["rs"]["sleep"] > 0  # noise drives spontaneous activity in sleep
    assert "rf_correlation" in rec["stability"]["weights"]["pixels_rs"]  # input -> readout: receptive fields


@pytest.mark.standalone
@pytest.mark.slow
def test_user_model_file_runs_through_the_protocol_on_cpp_standalone(tmp_path):
    _check_rows(compare("digits", [0.1], [1], model=USER, device="cpp_standalone", schedule=TINY, progress=False))


def test_cli_runs_a_model_file_and_lists_the_built_in_models(tmp_path, capsys):
    argv = ["run", "--model", USER, "--device", "numpy", "--n-train", "20", "--n-test", "10", "--presentation",
            "50ms", "--wake-block", "1s", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "model izhikevich" in out and "pixels_rs" in out and "untrained" in out
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    for name in models.MODELS:
        assert name in listing


def test_records_of_different_models_never_share_a_key():
    """An Izhikevich network and the paper's LIF network with equal everything else differ in
    name and key; so do two declarations that differ only in one equation."""
    a = RunConfig(model=USER, device="numpy", schedule=TINY)
    b = RunConfig(model="paper-stochastic", device="numpy", schedule=TINY)
    assert a.name() != b.name()
    m = models.get_model("paper-stochastic")
    lif = m.population("exc").neuron
    other = dataclasses.replace(lif, equations=lif.equations.replace("-a / tau_a", "-a / (2 * tau_a)"))
    patched = m.replace(populations=(dataclasses.replace(m.population("exc"), neuron=other), m.population("inh")))
    c = RunConfig(model=patched, device="numpy", schedule=TINY)
    assert patched.name == m.name and c.name() != b.name()
    json.dumps(c.to_dict())  # the declaration is storable


def test_exact_integration_with_equal_time_constants_is_the_degenerate_solution():
    """Brian2's exact solver divides by tau_m - tau_syn; the paper model then declares the
    equations with one time constant, whose solution for I(0) = I0, v(0) = v_rest is
    v - v_rest = R I0 (t / tau) exp(-t / tau)."""
    p = PaperParams(method="exact")
    nm = lif_neuron(p)
    g = b2.NeuronGroup(1, nm.equations, method="exact", namespace=dict(nm.params))
    g.v, g.I_syn = p.neuron.v_rest, 0.5
    b2.Network(g).run(30 * ms)
    t, tau = 0.030, float(p.neuron.tau_m)
    want = float(p.neuron.R) * 0.5 * (t / tau) * np.exp(-t / tau)
    assert np.isfinite(g.v_[0])
    assert float(g.v_[0] - float(p.neuron.v_rest)) == pytest.approx(want, rel=1e-9)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the point of the test
def test_a_run_whose_state_goes_nan_is_refused_and_not_stored(tmp_path):
    blow = NeuronModel("dv/dt = v / (0.1 * ms) : volt", threshold="v > 1e300 * volt", initial={"v": 1 * mV})
    m = Model("unstable", InputLayer(side=2), [Population("x", 3, blow)], [], readout="x")
    cfg = RunConfig(model=m, device="numpy", dataset="digits", schedule=ScheduleParams(
        n_train=2, n_fit=2, n_test=2, presentation=100 * ms, wake_block=1 * b2.second), control=False)  # fmt: skip
    with pytest.raises(SimulationError, match=r"went NaN or infinite: x\.v"):
        run(cfg, out_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


# ---- bad declarations: each kind has its own clear message -----------------------------------

LIF = lif_neuron(PaperParams())
STDP = stdp_synapse(PaperParams())


def _model(**changes):
    base = dict(name="t", inputs=InputLayer(side=3), populations=[Population("e", 5, LIF)],
                pathways=[Pathway("in_e", "inputs", "e", STDP, Bernoulli(0.5), w0=0.2, bounds=(0.01, 1))],
                readout="e", sleep_rule=stochastic())  # fmt: skip
    return Model(**{**base, **changes})


BAD = {
    "unknown population": (lambda: _model(pathways=[Pathway("x", "inputs", "nope", STDP, Bernoulli(0.5), 0.2, (0.01, 1))]),
                           "unknown population 'nope'"),
    "name clash": (lambda: _model(populations=[Population("e", 5, LIF), Population("e", 3, LIF)]), "names must be unique"),
    "unknown readout": (lambda: _model(readout="out"), "readout 'out' must name one of its populations"),
    "plastic without bounds": (lambda: _model(pathways=[Pathway("in_e", "inputs", "e", STDP, Bernoulli(0.5), 0.2)]),
                               "needs bounds"),
    "empty pathway": (lambda: _model(pathways=[Pathway("in_e", "inputs", "e", STDP, Bernoulli(0.0), 0.2, (0.01, 1))]),
                      "probability 0 gives no synapses"),
    "probability outside [0, 1]": (lambda: Bernoulli(1.5), "must lie in \\[0, 1\\]"),
    "sleep rule needs a missing variable": (
        lambda: _model(sleep_rule=SleepRule("tagged", "w = w * tag\nlast_sleep = SLEEP_CLOCK", needs=("tag",))),
        "needs synapse variable\\(s\\) \\['tag'\\]"),
    "sleep rule without the clock": (lambda: SleepRule("bad", "w = w * 0.5"), "SLEEP_CLOCK - last_sleep"),
    "learning not gated": (lambda: Pathway("p", "a", "b", SynapseModel("w : 1", on_pre="w += 0.1"), Bernoulli(0.1), 0.1,
                                           (0, 1)), "never reads plastic_post"),
    "regime variable declared": (lambda: NeuronModel("dv/dt = -v / (10 * ms) : volt\nsleep : 1"), "builder adds"),
    "noise on an undeclared variable": (lambda: NeuronModel("dv/dt = -v / (10 * ms) : volt", sleep_noise=Noise("u")),
                                        "'u', which its equations do not declare"),
    "wrong sign": (lambda: Pathway("p", "a", "b", STDP, Bernoulli(0.1), 0.5, (-1, -0.01), inhibitory=True),
                   "must be <= 0"),
    "reciprocal in the wrong direction": (lambda: _model(populations=[Population("e", 5, LIF), Population("i", 2, LIF)],
                                                         pathways=[Pathway("e_i", "e", "i", STDP, Bernoulli(0.5), 0.2, (0.01, 1)),
                                                                   Pathway("i_e2", "e", "i", STDP, Bernoulli(0.5, exclude_reciprocal_of="e_i"), 0.2, (0.01, 1))]),
                                          "runs e->i, not i->e"),  # fmt: skip
    "self-connection rule between two populations": (
        lambda: _model(populations=[Population("e", 5, LIF), Population("i", 2, LIF)],
                       pathways=[Pathway("e_i", "e", "i", STDP, AllToAll(allow_self=False), 0.2, (0.01, 1))]),
        "allow_self=False only applies"),
    "parameter clashing with a builder name": (lambda: NeuronModel("dv/dt = -v / tau : volt", params={"tau": 10 * ms, "sgn": 1}),
                                               "clashes with a name the builder provides"),
    "unparsable equations": (lambda: NeuronModel("dv/dt = -v / tau"), "cannot parse its equations"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_declarations_get_clear_errors(kind):
    make, message = BAD[kind]
    with pytest.raises(ModelError, match=message):
        make()


def test_unit_mismatch_is_reported_before_a_build_naming_the_part():
    wrong = dataclasses.replace(LIF, params={**LIF.params, "tau_m": 30 * mV})  # a voltage where a time belongs
    m = _model(populations=[Population("e", 5, wrong)])
    with pytest.raises(ModelError, match="population 'e'.*units"):
        check_code(m)


def test_unknown_name_in_a_string_is_reported_naming_the_part():
    S = dataclasses.replace(STDP, on_pre=STDP.on_pre + "\nw = w * undefined_gain")
    m = _model(pathways=[Pathway("in_e", "inputs", "e", S, Bernoulli(0.5), 0.2, (0.01, 1))])
    with pytest.raises(ModelError, match="pathway 'in_e'.*undefined_gain"):
        check_code(m)


def test_bad_model_files_say_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="path/to/file.py:function"):
        models.get_model("izhikevich.py")
    with pytest.raises(ConfigError, match="no file"):
        models.get_model(str(tmp_path / "none.py") + ":build")
    f = tmp_path / "m.py"
    f.write_text("def build():\n    return 42\n")
    with pytest.raises(ConfigError, match="not a sleep_brian.model.Model"):
        models.get_model(f"{f}:build")
    with pytest.raises(ConfigError, match="has no function 'make'.*build"):
        models.get_model(f"{f}:make")


def test_one_to_one_and_all_to_all_connect_as_named():
    rng = np.random.default_rng(0)
    assert OneToOne().draw(4, 4, rng).sum() == 4
    with pytest.raises(ModelError, match="equal size"):
        OneToOne().draw(4, 3, rng)
    assert AllToAll().draw(3, 2, rng).all()


def test_a_pathway_of_probability_zero_in_the_paper_params_is_left_out():
    """ConnectivityParams(e_e=PathwayParams(0, ...)) used to pass validation and crash in Brian2."""
    from sleep_brian.models.paper import ConnectivityParams, PathwayParams

    m = declare(PaperParams(connectivity=ConnectivityParams(e_e=PathwayParams(0.0, 0.30))))
    assert m.pathway_names == ("input_e", "e_i", "i_e")


def test_power_law_rule_targets_follow_the_pathway_sign():
    m = declare(PaperParams())
    rule = power_law()
    assert rule.constants(m.pathway("i_e"))["w_tar"] < 0 < rule.constants(m.pathway("e_e"))["w_tar"]


def test_the_warning_line_names_only_what_happened():
    from sleep_brian.cli import _warning

    assert _warning({"nan_weights": [], "runaway": [], "saturated": [], "silent": False}) == ""
    assert _warning({"nan_weights": [], "runaway": ["e_e"], "saturated": [], "silent": True}) == (
        "runaway weights in e_e; the network is silent after training"
    )


def test_devices_command_lists_every_target(capsys):
    from sleep_brian.devices import DEVICES

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for name in DEVICES:
        assert name in out
    assert "numpy            available" in out
