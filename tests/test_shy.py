"""The SHY down-selection sleep rule (models/shy.py) and the ``paper-shy`` model.

The rule's numpy twin is checked against its closed form (composition, sparing, the total's
shrink over a reference sleep), then the Brian2 code against the twin in a small network whose
synapses catch up at the spikes that sleep noise drives, then the registered model end to end.
"""

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import models
from sleep_brian.errors import ModelError
from sleep_brian.model import AllToAll, InputLayer, Model, NeuronModel, Noise, Pathway, Population, SynapseModel
from sleep_brian.models.shy import settle, shy
from sleep_brian.network import build_network, settle_weights
from sleep_brian.protocol import Rest, Sleep, lower

# Floating point: n single steps round n times, the composed step once; each rounding is one ulp
# of a number of size |w| <= 1, so after n steps they differ by a few n * 1e-16.
RTOL = 1e-12


def _pathway(w0=0.2, inhibitory=False, bounds=(0.01, 5.0)):
    syn = SynapseModel("w : 1", on_pre="I_post += w * mV")
    if inhibitory:
        bounds = (-bounds[1], -bounds[0])
        w0 = -abs(w0)
    return Pathway("p", "a", "a", syn, AllToAll(allow_self=False), w0=w0, bounds=bounds, inhibitory=inhibitory, plastic=False)


def _constants(rule, **kw):
    return rule.constants(_pathway(**kw))


def _weights(c, rng, n=2000):
    """Weights of the pathway's sign from below the floor to far above the sparing threshold."""
    s = np.sign(c["w_spare"])
    mags = np.concatenate([rng.uniform(0, 3 * abs(c["w_spare"]), n), [abs(c["w_floor"]), abs(c["w_spare"])]])
    return s * mags


@pytest.mark.parametrize("inhibitory", [False, True])
def test_constants_follow_the_pathway(inhibitory):
    rule = shy(shrink=0.18, t_ref=3.5 * b2.second, spare_ratio=2.0)
    c = _constants(rule, w0=0.25, inhibitory=inhibitory)
    sign = -1 if inhibitory else 1
    assert c["w_spare"] == pytest.approx(sign * 0.5)
    assert c["w_floor"] == pytest.approx(sign * 0.01)  # the bound nearest zero
    # a sleep of t_ref = 3500 steps of 1 ms scales the excess over the floor by 1 - 0.18
    assert np.exp(-c["shy_rate"] * 3500) == pytest.approx(0.82, rel=1e-12)
    c = _constants(shy(floor_ratio=0.4), w0=0.25, inhibitory=inhibitory)
    assert c["w_floor"] == pytest.approx(sign * 0.1)


@pytest.mark.parametrize("inhibitory", [False, True])
def test_n_steps_at_once_equal_n_single_steps(inhibitory):
    c = _constants(shy(t_ref=50 * b2.ms), inhibitory=inhibitory)  # a fast rule: large changes
    rng = np.random.default_rng(0)
    w = _weights(c, rng)
    for n in (1, 7, 250, 2000):
        step = w.copy()
        for _ in range(n):
            step = settle(step, 1, c)
        np.testing.assert_allclose(settle(w, n, c), step, rtol=RTOL, atol=0)
    # and any split of n: a + b steps equal n, per synapse with its own n
    n = rng.integers(0, 3000, w.size).astype(float)
    a = np.floor(n * rng.uniform(0, 1, w.size))
    np.testing.assert_allclose(settle(settle(w, a, c), n - a, c), settle(w, n, c), rtol=RTOL, atol=0)


@pytest.mark.parametrize("inhibitory", [False, True])
def test_closed_form_and_sparing(inhibitory):
    c = _constants(shy(shrink=0.3, t_ref=100 * b2.ms, floor_ratio=0.25), inhibitory=inhibitory)
    F, T = c["w_floor"], c["w_spare"]
    w = _weights(c, np.random.default_rng(1))
    n = 340.0
    out = settle(w, n, c)
    down = (np.abs(w) > abs(F)) & (np.abs(w) < abs(T))
    assert down.sum() > 500 and (~down).sum() > 500
    # non-spared: the excess over the floor scales by (1 - shrink) ** (n dt_ref / t_ref)
    np.testing.assert_allclose(out[down] - F, (w[down] - F) * 0.7 ** (n / 100), rtol=RTOL)
    assert np.all(np.abs(out[down]) > abs(F)) and np.all(np.abs(out[down]) < np.abs(w[down]))
    # spared (|w| >= |w_spare|), at or below the floor: bit for bit unchanged
    assert np.array_equal(out[~down], w[~down])
    assert np.array_equal(settle(np.array([T, 2 * T, F, F / 2]), n, c), np.array([T, 2 * T, F, F / 2]))
    # a wake event (n = 0) leaves every weight bit for bit unchanged
    assert np.array_equal(settle(w, 0, c), w)


def test_reference_sleep_shrinks_the_non_spared_total_by_shrink():
    """A sleep of t_ref: the non-spared total goes from S to N F + (1 - shrink) (S - N F); the
    spared total is kept."""
    rule = shy(shrink=0.18, t_ref=3.5 * b2.second)
    c = _constants(rule, w0=0.15)
    F, T = c["w_floor"], c["w_spare"]
    rng = np.random.default_rng(2)
    w = np.concatenate([rng.lognormal(np.log(0.12), 0.4, 5000), rng.uniform(T, 3 * T, 1000)])
    w = np.clip(w, 0.01, 5.0)
    out = settle_weights(_model(rule, w0=0.15), "e_e", w, np.zeros_like(w), 3500.0, rng)
    down = (w > F) & (w < T)
    S, N = w[down].sum(), down.sum()
    assert out[down].sum() == pytest.approx(N * F + 0.82 * (S - N * F), rel=1e-12)
    assert out[~down].sum() == w[~down].sum()
    # proportional to the size above the floor, here ~0.01 below an initial 0.15: the total
    # itself shrinks by a little less than 18 %
    assert 0.16 < 1 - out[down].sum() / S < 0.18


def test_bad_parameters_are_refused():
    with pytest.raises(ModelError, match="shrink"):
        shy(shrink=1.0)
    with pytest.raises(ModelError, match="t_ref"):
        shy(t_ref=3.5)
    with pytest.raises(ModelError, match="sparing threshold"):
        _constants(shy(spare_ratio=0.5, floor_ratio=0.6))


# ---- the Brian2 code in a simulation ---------------------------------------------------------


def _model(rule, w0=0.2, n_exc=16, n_inh=6):
    lif = NeuronModel(
        "dv/dt = (v_rest - v + I) / tau : volt\ndI/dt = -I / tau_s : volt",
        threshold="v > v_th", reset="v = v_rest",
        params=dict(tau=20 * b2.ms, tau_s=5 * b2.ms, v_rest=-70 * b2.mV, v_th=-60 * b2.mV),
        sleep_noise=Noise("v", 4 * b2.mV), initial={"v": -70 * b2.mV},
    )  # fmt: skip
    syn = SynapseModel("w : 1", on_pre="I_post += w * mV")
    pathways = [
        Pathway("e_e", "exc", "exc", syn, AllToAll(allow_self=False), w0=w0, bounds=(0.01, 5.0), plastic=False),
        Pathway("i_e", "inh", "exc", syn, AllToAll(), w0=-w0, bounds=(-5.0, -0.01), inhibitory=True, plastic=False),
    ]
    return Model("tiny_shy", inputs=InputLayer(side=2), populations=[Population("exc", n_exc, lif), Population("inh", n_inh, lif)],
                 pathways=pathways, readout="exc", sleep_rule=rule)  # fmt: skip


def test_brian2_code_equals_the_numpy_twin_in_a_sleeping_network():
    """Non-plastic pathways, so only the rule changes weights: every synapse's weight in the
    simulation, caught up by the Brian2 code at the spikes that sleep noise drives, equals the
    twin applied to its initial weight for the same number of sleep steps; and the final weights
    (the rest owed settled by the twin) equal the twin over the whole sleep."""
    rule = shy(shrink=0.18, t_ref=100 * b2.ms, spare_ratio=2.0)
    model = _model(rule)
    tl = lower([Sleep(150 * b2.ms), Rest(40 * b2.ms), Sleep(210 * b2.ms)], model.dt)
    rng = np.random.default_rng(3)
    n_ee, n_ie = 16 * 15, 6 * 16
    w_ee = np.round(rng.uniform(0.01, 0.8, n_ee), 3)  # spare at 0.4
    w_ee[:10] = 0.01  # at the floor
    w_ie = -np.round(rng.uniform(0.01, 0.8, n_ie), 3)
    built = build_network(model, tl, np.zeros((1, 4)), rng, record_weights=False, initial_weights={"e_e": w_ee, "i_e": w_ie})
    built.net.run(tl.n_steps * model.dt)
    clock = float(built.groups["exc"].sleep_clock[0])
    assert clock == 360.0
    for name, w_init in (("e_e", w_ee), ("i_e", w_ie)):
        S = built.synapses[name]
        w_sim, last = np.asarray(S.w[:]), np.asarray(S.last_sleep[:])
        c = rule.constants(model.pathway(name))
        caught_up = (last > 0) & (last < clock)
        assert caught_up.sum() > 0.5 * len(last), "sleep noise should make most synapses transmit during sleep"
        assert len(np.unique(last[caught_up])) > 5  # one per presynaptic neuron's last spike
        np.testing.assert_allclose(w_sim, settle(w_init, last, c), rtol=RTOL, atol=0)
        final = settle_weights(model, name, w_sim, last, clock, rng)
        np.testing.assert_allclose(final, settle(w_init, clock, c), rtol=RTOL, atol=0)
        spared = np.abs(w_init) >= abs(c["w_spare"])
        assert spared.sum() > 10 and np.array_equal(final[spared], w_init[spared])
        down = (np.abs(w_init) > abs(c["w_floor"])) & ~spared
        # 360 steps of a rule with t_ref = 100 ms: the excess over the floor times 0.82 ** 3.6
        F = c["w_floor"]
        assert (final[down] - F).sum() == pytest.approx(0.82**3.6 * (w_init[down] - F).sum(), rel=1e-10)


def test_paper_shy_model_is_registered_and_runs():
    from sleep_brian.experiment import RunConfig, run
    from sleep_brian.params import ScheduleParams

    model = models.get_model("paper-shy")
    assert model.name == "paper-shy" and "paper-shy" in models.MODELS
    assert model.sleep_rule.name == "shy" and all(model.rule_of(pw).name == "shy" for pw in model.pathways)
    assert [pw.name for pw in model.pathways] == [pw.name for pw in models.get_model("paper").pathways]
    sched = ScheduleParams(n_train=20, n_fit=20, n_test=20, presentation=100 * b2.ms, wake_block=1 * b2.second)
    rec = run(RunConfig(model="paper-shy", device="numpy", schedule=sched, control=False), progress=False).record
    assert rec["timeline"]["n_sleeps"] == 2
    assert rec["rates"]["trained"]["rate_mean_hz"] > 0 and not rec["flags"]["silent"]
    assert all(np.isfinite(e["final"]["abs_mean"]) for e in rec["weights"].values())
