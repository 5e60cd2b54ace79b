"""The authors' early end of sleep (model.SleepExit, sleep_brian.sleep_exit) against known outcomes.

The cases are built so that theory gives the outcome: the paper's network without membrane
noise and with binary images (the Bernoulli inputs fire with probability 0 or 1), so nothing is
random; Test phases (plasticity off) before each sleep and no input in sleep, so the weights
move by the power law alone: a weight w0 is w_tar (w0 / w_tar) ** (lam ** n) after n sleep
steps. A check at step k reads the weights decayed through step k - 1 and, when it converges,
step k is still slept.

- weights at their baseline (beta = 1): the sums equal their targets at the first check, so the
  episode sleeps exactly one step;
- beta = 0.9 (one group): the episode ends at the first check whose power-law sum lies within
  tol of 0.9 x the start (computed here in numpy);
- beta = 2, out of reach: it runs its window; give_up keeps the weights of a run without exit,
  scale_to_target brings every group's sum to its target, extend sleeps the extension too;
- numpy and cpp_standalone agree on a rescaled and a converging episode: bit for bit but the
  rescaled weights (last bit, from the order of a sum).
"""

import dataclasses

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import devices
from sleep_brian.errors import ConfigError, ModelError
from sleep_brian.experiment import _read_back
from sleep_brian.model import SleepExit
from sleep_brian.models.paper import PaperParams, SleepParams, authors, declare
from sleep_brian.network import build_network, draw_connectivity
from sleep_brian.protocol import Rest, Sleep, Test, lower, paper_schedule
from sleep_brian.sleep_exit import sleep_episodes

ms = b2.ms
LAM = 0.999
GROUPS = {"exc": ("input_e", "e_e", "e_i"), "inh": ("i_e",)}


def _model(**exit_args):
    p = PaperParams(sleep=SleepParams(lam=LAM))
    base = declare(p.replace(neuron=p.neuron.replace(noise_sd=0 * b2.mV)))
    ex = SleepExit(**{"groups": GROUPS, "check_every": 1 * ms, **exit_args})
    return base.replace(sleep_rule=dataclasses.replace(base.sleep_rule, exit=ex))


def _run(model, phases, device="numpy", tmp_path=None):
    tl = lower(phases, model.dt)
    imgs = (np.random.default_rng(0).random((3, 225)) < 0.3).astype(float)
    conn = draw_connectivity(model, np.random.default_rng(5))
    with devices.target(device, build_root=tmp_path) as dev:
        b2.seed(7)
        built = build_network(model, tl, imgs, None, connectivity=conn)
        dev.run(built, tl.duration)
        (arrays,) = _read_back(model, built, [tl], [np.random.default_rng(1)])
    ex = model.sleep_exit
    return tl, arrays, sleep_episodes(tl, arrays, ex.on_timeout if ex else None)


def _phases(sleep=300 * ms):
    # The Rest lets the activity of the Test die out: nothing spikes in the sleep (no noise).
    return [Test(np.arange(3), 100 * ms), Rest(200 * ms), Sleep(sleep), Test(np.arange(3), 100 * ms)]


def _power_sum(model, arrays, pathways, n):
    """sum |w| over ``pathways`` after n steps of the power law from the initial weights."""
    total = 0.0
    for pw in pathways:
        w0 = np.abs(arrays[f"w_initial_{pw}"])
        tar = abs(model.rule_of(model.pathway(pw)).constants(model.pathway(pw))["w_tar"])
        total += float((tar * (w0 / tar) ** (LAM**n)).sum())
    return total


def _no_sleep_spikes(arrays, tl):
    span = tl.spans_of("sleep")[0]
    for pop in ("exc", "inh"):
        c = arrays[f"slot_counts_{pop}"]
        assert (c[span.stop_step // tl.slot_steps] - c[span.start_step // tl.slot_steps]).sum() == 0


def test_weights_at_baseline_end_the_sleep_after_one_step():
    model = _model(beta=1.0)
    tl, arrays, (ep,) = _run(model, _phases())
    _no_sleep_spikes(arrays, tl)
    assert ep["ended"] == "converged" and ep["actual_s"] == pytest.approx(0.001) and ep["scheduled_s"] == 0.3
    # One step of the power law, and nothing after it: the idle rest of the episode has no decay.
    for pw in model.pathway_names:
        w0, w = arrays[f"w_initial_{pw}"], arrays[f"w_final_{pw}"]
        tar = model.rule_of(model.pathway(pw)).constants(model.pathway(pw))["w_tar"]
        np.testing.assert_allclose(w, tar * (w0 / tar) ** LAM, rtol=1e-12)


@pytest.mark.parametrize("every, tol", [(1, 1e-3), (5, 1e-2)])
def test_exit_at_the_first_check_within_tolerance_of_the_power_law(every, tol):
    """At tol = 1e-3 the sum crosses its band within one step (it falls ~2.5e-3 per step
    here): only a check every step catches it; at 1e-2 a check every 5 steps does."""
    model = _model(groups={"exc": GROUPS["exc"]}, beta=0.9, tol=tol, check_every=every * ms)
    tl, arrays, (ep,) = _run(model, _phases())
    _no_sleep_spikes(arrays, tl)  # pure decay: the theory below is exact
    target = 0.9 * _power_sum(model, arrays, GROUPS["exc"], 0)
    first = next(n for n in range(0, 300, every) if abs(_power_sum(model, arrays, GROUPS["exc"], n) - target) <= tol * target)
    assert 20 < first < 200  # the check is not trivially at the start or the window's end
    assert ep["ended"] == "converged"
    assert ep["actual_s"] == pytest.approx((first + 1) * 1e-3)
    # The step of the check is slept (one more decay step), then nothing decays any more.
    end = sum(np.abs(arrays[f"w_final_{pw}"]).sum() for pw in GROUPS["exc"])
    assert end == pytest.approx(_power_sum(model, arrays, GROUPS["exc"], first + 1), rel=1e-9)


def test_give_up_keeps_the_weights_of_a_run_without_exit():
    far = _model(beta=2.0, on_timeout="give_up")
    _, arrays, (ep,) = _run(far, _phases())
    _, plain, _ = _run(far.replace(sleep_rule=dataclasses.replace(far.sleep_rule, exit=None)), _phases())
    assert ep["ended"] == "window" and ep["actual_s"] == pytest.approx(0.3) and not ep["scaled"]
    for pw in far.pathway_names:
        # The checks bring the weights up to date in more steps: the same law, other roundings.
        np.testing.assert_allclose(arrays[f"w_final_{pw}"], plain[f"w_final_{pw}"], rtol=1e-12)
    for pop in ("exc", "inh"):
        np.testing.assert_array_equal(arrays[f"slot_counts_{pop}"], plain[f"slot_counts_{pop}"])


def test_scale_to_target_brings_each_group_to_its_target():
    model = _model(beta=2.0, on_timeout="scale_to_target")
    _, arrays, (ep,) = _run(model, _phases())
    assert ep["ended"] == "window" and ep["scaled"]
    for pws in GROUPS.values():
        start = sum(np.abs(arrays[f"w_initial_{pw}"]).sum() for pw in pws)
        end = sum(np.abs(arrays[f"w_final_{pw}"]).sum() for pw in pws)
        assert end == pytest.approx(2.0 * start, rel=1e-9)  # no weight reaches the bounds here
    for pw in model.pathway_names:
        lo, hi = model.pathway(pw).bounds
        assert ((arrays[f"w_final_{pw}"] >= lo) & (arrays[f"w_final_{pw}"] <= hi)).all()


def test_extend_sleeps_past_the_window_up_to_the_extension():
    model = _model(beta=2.0, on_timeout="extend", max_extension=100 * ms)
    phases = paper_schedule(np.arange(3), 100 * ms, 1.0, wake_block=300 * ms, sleep_exit=model.sleep_exit)
    assert [type(p).__name__ for p in phases] == ["Wake", "Sleep"] and float(phases[1].duration) == pytest.approx(0.4)
    capped = paper_schedule(np.arange(3), 100 * ms, 1.0, wake_block=300 * ms, sleep_cap=350 * ms,
                            sleep_exit=model.sleep_exit)  # fmt: skip
    assert float(capped[1].duration) == pytest.approx(0.35) and float(capped[1].planned) == pytest.approx(0.3)
    _, _, (ep,) = _run(model, [Test(np.arange(3), 100 * ms), Rest(200 * ms), phases[1], Test(np.arange(3), 100 * ms)])
    assert (ep["planned_s"], ep["scheduled_s"], ep["actual_s"], ep["ended"]) == (pytest.approx(0.3), pytest.approx(0.4),
                                                                                   pytest.approx(0.4), "cap")  # fmt: skip


def test_replicas_each_end_their_own_sleep():
    from sleep_brian.network import Replica, build_replicas

    model = _model(beta=1.0)
    imgs = (np.random.default_rng(0).random((3, 225)) < 0.3).astype(float)
    tls = [lower(_phases(300 * ms), model.dt), lower(_phases(200 * ms), model.dt)]
    runs = [Replica(tl, imgs, draw_connectivity(model, np.random.default_rng(5 + r))) for r, tl in enumerate(tls)]
    with devices.target("numpy") as dev:
        built = build_replicas(model, runs)
        dev.run(built, max(tl.n_steps for tl in tls) * model.dt)
        outs = _read_back(model, built, tls, [np.random.default_rng(1)] * 2, [r.connectivity for r in runs])
    for tl, arrays in zip(tls, outs):
        (ep,) = sleep_episodes(tl, arrays, "give_up")
        assert ep["ended"] == "converged" and ep["actual_s"] == pytest.approx(0.001)


def test_numpy_and_cpp_standalone_agree(tmp_path):
    """A short episode that does not converge and is rescaled onto the target, then one that
    starts there and converges at its first check (one compile)."""
    model = _model(groups={"exc": GROUPS["exc"]}, beta=0.9, tol=1e-2, on_timeout="scale_to_target", check_every=5 * ms)
    phases = _phases(20 * ms) + [Sleep(200 * ms), Test(np.arange(3), 100 * ms)]
    _, a, eps_a = _run(model, phases, "numpy")
    _, b, eps_b = _run(model, phases, "cpp_standalone", tmp_path)
    assert [e["ended"] for e in eps_a] == ["window", "converged"] and eps_a[0]["scaled"]
    assert eps_a[1]["actual_s"] == pytest.approx(0.001)
    assert eps_a == eps_b
    for k in a:
        if k.startswith("w_final_"):
            # The sums are added in another order (numpy's ufunc.at, C++'s loop), so a rescaling
            # factor may differ in its last bit: ~2e-16 relative, measured.
            np.testing.assert_allclose(a[k], b[k], rtol=1e-14, atol=0, err_msg=k)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_bad_exits_are_refused_with_the_fix():
    with pytest.raises(ModelError, match="on_timeout"):
        SleepExit(GROUPS, on_timeout="wait")
    with pytest.raises(ModelError, match="max_extension applies"):
        SleepExit(GROUPS, max_extension=1 * b2.second)
    with pytest.raises(ModelError, match="positive time"):
        SleepExit(GROUPS, check_every=0 * ms)
    with pytest.raises(ModelError, match="unknown pathway 'nope'"):
        _model(groups={"exc": ("nope",)})
    with pytest.raises(ModelError, match="is in groups"):
        _model(groups={"a": ("e_e",), "b": ("e_e",)})
    with pytest.raises(ModelError, match="whole number of time steps"):
        _model(check_every=1.5 * ms)
    m = authors()
    tl = lower(_phases(), m.dt)
    conn = draw_connectivity(m, np.random.default_rng(5))
    with pytest.raises(ConfigError, match="timed_array lowering"):
        build_network(m, tl, np.zeros((3, 225)), None, connectivity=conn, lowering="single_clock")


def test_the_authors_model_declares_their_exit():
    ex = authors().sleep_exit
    assert ex.groups == {"exc": ("input_e", "e_e", "e_i"), "inh": ("i_e",)}
    assert (ex.tol, ex.beta, ex.on_timeout, ex.check_every) == (1e-3, 1.0, "give_up", 1 * ms)
    assert authors(exit=False).sleep_exit is None


def test_on_the_default_clock_it_is_the_same_run(monkeypatch):
    """cuda_standalone builds with every object on the default clock (network.on_default_clock;
    brian2cuda needs it). The same build on numpy, forced onto the default clock, is the same
    simulation bit for bit, sleep exit and rescaling included: the clocks have the same dt, so
    the schedule is the same. This stands for the CUDA build where no GPU can run it."""
    from sleep_brian import network

    model = _model(groups={"exc": GROUPS["exc"]}, beta=0.9, tol=1e-2, on_timeout="scale_to_target", check_every=5 * ms)
    phases = _phases(20 * ms) + [Sleep(200 * ms), Test(np.arange(3), 100 * ms)]
    _, own, eps_own = _run(model, phases)
    built = []
    real_build = network._build
    monkeypatch.setattr(network, "on_default_clock", lambda lowering: True)
    monkeypatch.setattr(network, "_build", lambda *a, **kw: built.append(real_build(*a, **kw)) or built[-1])
    _, shared, eps_shared = _run(model, phases)
    groups = [*built[0].groups.values(), *built[0].synapses.values()]
    assert {g.clock.name for g in groups} == {"defaultclock"} and b2.defaultclock.dt == model.dt
    assert eps_shared == eps_own and [e["ended"] for e in eps_own] == ["window", "converged"]
    for k in own:
        np.testing.assert_array_equal(shared[k], own[k], err_msg=k)
