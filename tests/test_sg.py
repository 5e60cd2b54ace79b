"""The surrogate-gradient SNN baseline (sleep_brian.sg): gradients, learning, sleep, determinism,
and the decay rules checked against the Brian2 strings they share with the STDP-SNN."""

import contextlib
import dataclasses
import math

import brian2 as b2
import numpy as np
import pytest
from scipy import stats

from sleep_brian.equations import homeostasis as hom
from sleep_brian.errors import ConfigError
from sleep_brian.models.paper import PaperParams as ModelParams, ScheduleParams, SleepParams

torch = pytest.importorskip("torch", reason="the SG-SNN needs PyTorch: pip install 'sleep-brian[sg]'")

from sleep_brian.sg import SGConfig, SGParams, SGSleepParams, matched_sleep, paper_sleep, sleep_interval  # noqa: E402
from sleep_brian.sg import experiment as sgx  # noqa: E402
from sleep_brian.sg.network import SGNetwork, predict, rate_loss, spike  # noqa: E402
from sleep_brian.sg.sleep import add_spikes, decay_, layer_scales, sleep_episode, stdp_update  # noqa: E402

#: Tolerance, in standard errors, for sample moments (|z| > 5 happens by chance with p ~ 6e-7).
N_SE = 5.0

TINY = SGParams(n_hidden=32, steps=10, epochs=2, batch_size=64, eval_batch_size=500)


# --- 1. Surrogate gradient and learning ------------------------------------------------------


def test_spike_is_a_step_with_the_arctan_surrogate_derivative():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    s = spike(x, 2.0)
    assert torch.equal(s, (x > 0).to(x.dtype))
    s.sum().backward()
    expected = 1.0 / (1.0 + (math.pi * x.detach()) ** 2)  # alpha = 2: (alpha/2) / (1 + (pi alpha x/2)^2)
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=0)
    # and it is the derivative of the smooth arctan step it stands for
    xs = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    (torch.atan(math.pi * xs) / math.pi + 0.5).sum().backward()
    torch.testing.assert_close(x.grad, xs.grad, rtol=1e-12, atol=0)


def test_gradients_flow_through_spikes_finite_and_nonzero():
    torch.manual_seed(0)
    net = SGNetwork(SGParams(n_hidden=64, steps=20))
    x = torch.rand(16, 225)
    y = torch.randint(0, 10, (16,))
    out, counts = net(x)
    assert out.shape == (20, 16, 10) and counts.shape == (16, 64)
    assert counts.sum() > 0  # the hidden layer spikes, so the output layer's input is not empty
    rate_loss(out, y).backward()
    for name, prm in net.named_parameters():
        assert torch.isfinite(prm.grad).all(), name
        assert prm.grad.abs().sum() > 0, name  # fc1 gets a gradient only through the hidden spikes


def test_tiny_network_learns_a_separable_task():
    """Two well-separated classes of constant input: a few Adam steps reach >= 95 %."""
    g = torch.Generator().manual_seed(3)
    n = 256
    y = torch.randint(0, 2, (n,), generator=g)
    centres = torch.tensor([[0.9, 0.1, 0.8, 0.2], [0.1, 0.9, 0.2, 0.8]])
    x = (centres[y] + 0.05 * torch.randn(n, 4, generator=g)).clamp(0, 1)
    torch.manual_seed(1)
    p = SGParams(n_input=4, n_hidden=32, n_output=2, steps=20, lr=1e-2)
    net = SGNetwork(p)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    before = float((predict(net(x)[0]) == y).float().mean())
    for _ in range(40):
        out, _ = net(x)
        loss = rate_loss(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = float((predict(net(x)[0]) == y).float().mean())
    assert acc >= 0.95, (before, acc)


def test_recurrent_option_adds_hidden_weights_and_runs():
    torch.manual_seed(0)
    net = SGNetwork(SGParams(n_hidden=16, steps=5, recurrent=True))
    assert set(net.weight_layers()) == {"input_hidden", "hidden_output", "hidden_hidden"}
    out, _ = net(torch.rand(3, 225))
    rate_loss(out, torch.zeros(3, dtype=torch.long)).backward()
    assert torch.isfinite(net.rec.weight.grad).all()


# --- 2. Decay: the same rules as the Brian2 model ---------------------------------------------


def _brian_decay(w0, sleep: SleepParams, n_steps: int, *, every_step: bool, seed: int = 0):
    """The Brian2 model's decay strings on synapses holding ``w0`` (one sign), asleep for
    ``n_steps`` steps: caught up once at the end, or every step (the paper's literal process)."""
    b2.seed(seed)
    b2.defaultclock.dt = 1 * b2.ms
    positive = bool(w0[0] > 0)
    G = b2.NeuronGroup(1, "sleep_clock : 1")
    G.run_regularly("sleep_clock += 1", when="end")  # asleep every step
    S = b2.Synapses(G, G, "w : 1\nlast_sleep : 1")
    S.connect(i=np.zeros(len(w0), int), j=np.zeros(len(w0), int))
    S.w = w0
    if sleep.rule == "power":
        code = hom.POWER_LAW_DECAY
        ns = {"w_tar": sleep.w_tar_exc if positive else sleep.w_tar_inh}
    else:
        code = hom.STOCHASTIC_DECAY
        ns = {"w_base": sleep.w_tar_exc if positive else sleep.w_tar_inh, "sigma_log": sleep.sigma_log}
    ns.update(lam=sleep.lam, w_lo=-1e9, w_hi=1e9)  # the SG-SNN has no bounds
    S.run_regularly(hom.for_side(code, "post"), dt=(1 if every_step else n_steps) * b2.ms, when="start")
    b2.Network(G, S).run((n_steps + 1) * b2.ms, namespace=ns)
    return np.asarray(S.w[:])


W_MIXED = np.array([0.001, 0.01, 0.05, 0.2, 0.7, 3.0, -0.002, -0.05, -0.2, -1.5, 0.0])


@pytest.mark.parametrize("every_step", [False, True])
def test_power_law_decay_equals_brian2(every_step):
    """Deterministic rule: the torch step gives the Brian2 weights for positive and negative w."""
    decay = SleepParams(rule="power", lam=0.99, w_tar_exc=0.2, w_tar_inh=-0.2)
    n = 150  # lam**n = 0.22: a large decay
    w = torch.tensor(W_MIXED, dtype=torch.float64)
    decay_(w, decay, n)
    for sign in (1, -1):
        sel = np.sign(W_MIXED) == sign
        ref = _brian_decay(W_MIXED[sel], decay, n, every_step=every_step)
        # same formula, different operation order: a few ulp; n per-step catch-ups ~n * 1e-16
        np.testing.assert_allclose(w.numpy()[sel], ref, rtol=1e-11)
    assert w[-1] == 0  # zero stays zero
    # and n steps of one step each compose to the same weights
    w1 = torch.tensor(W_MIXED, dtype=torch.float64)
    for _ in range(n):
        decay_(w1, decay, 1)
    torch.testing.assert_close(w1, w, rtol=1e-12, atol=0)


def test_stochastic_decay_has_brian2_statistics():
    """Stochastic rule: x = log(|w|/w_base) after n steps is N(lam^n x0, sigma^2 (1 - lam^2n))
    for both implementations, and the two samples come from one law (two-sample KS)."""
    decay = SleepParams(rule="stochastic", lam=0.995, w_tar_exc=0.2, w_tar_inh=-0.2, sigma_log=0.5, baseline="target")
    n, N, w0 = 200, 20_000, 1.5
    x0 = math.log(w0 / 0.2)
    mean, var = decay.lam**n * x0, decay.sigma_log**2 * (1 - decay.lam ** (2 * n))
    g = torch.Generator().manual_seed(5)
    samples = {}
    for sign in (1, -1):
        w = torch.full((N,), sign * w0, dtype=torch.float64)
        decay_(w, decay, n, generator=g)
        assert torch.all(torch.sign(w) == sign)  # the sign is kept
        samples[f"torch{sign}"] = np.log(np.abs(w.numpy()) / 0.2)
    samples["brian_once"] = np.log(_brian_decay(np.full(N, w0), decay, n, every_step=False, seed=1) / 0.2)
    samples["brian_step"] = np.log(_brian_decay(np.full(N // 4, w0), decay, n, every_step=True, seed=2) / 0.2)
    for label, x in samples.items():
        se_m, se_v = math.sqrt(var / len(x)), var * math.sqrt(2 / (len(x) - 1))
        assert abs(x.mean() - mean) < N_SE * se_m, (label, x.mean(), mean)
        assert abs(x.var(ddof=1) - var) < N_SE * se_v, (label, x.var(ddof=1), var)
    # p < 1e-4 by chance once in 10^4; a wrong variance or mean at these N gives p ~ 1e-20
    assert stats.ks_2samp(samples["torch1"], samples["brian_once"]).pvalue > 1e-4
    assert stats.ks_2samp(samples["torch-1"], samples["brian_step"]).pvalue > 1e-4


def test_stochastic_baseline_initial_uses_the_layer_mean():
    decay = SleepParams(rule="stochastic", lam=0.5, sigma_log=0.0, baseline="initial")
    w = torch.tensor([0.4, -0.1], dtype=torch.float64)
    decay_(w, decay, 1, initial_abs_mean=0.2)
    # sigma 0: x <- lam x exactly, toward |w| = 0.2 with each sign kept
    torch.testing.assert_close(w, torch.tensor([0.2 * 2**0.5, -0.2 * 0.5**0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="initial mean"):
        decay_(w, decay, 1)


# --- 3. STDP during sleep --------------------------------------------------------------------


def _pair(dt_steps: int, *, pre_first: bool, sp: SGSleepParams):
    """One synapse, one pre and one post spike ``dt_steps`` apart, run through the sleep loop's
    trace order (decay, update, add spikes); returns the weight change."""
    w = torch.zeros(1, 1, dtype=torch.float64)
    x = torch.zeros(1, 1, dtype=torch.float64)
    y = torch.zeros(1, 1, dtype=torch.float64)
    t_pre, t_post = (0, dt_steps) if pre_first else (dt_steps, 0)
    for t in range(dt_steps + 3):
        pre = torch.tensor([[float(t == t_pre)]], dtype=torch.float64)
        post = torch.tensor([[float(t == t_post)]], dtype=torch.float64)
        x, y = x * math.exp(-1 / sp.tau_plus), y * math.exp(-1 / sp.tau_minus)
        stdp_update(w, pre, post, x, y, sp.eta, sp.a_plus, sp.a_minus)
        x, y = add_spikes(x, pre, sp.trace), add_spikes(y, post, sp.trace)
    return float(w)


@pytest.mark.parametrize("dt_steps", [1, 5, 20])
def test_sleep_stdp_follows_the_pair_rule(dt_steps):
    sp = paper_sleep()
    dw_plus = _pair(dt_steps, pre_first=True, sp=sp)
    dw_minus = _pair(dt_steps, pre_first=False, sp=sp)
    assert dw_plus == pytest.approx(sp.eta * sp.a_plus * math.exp(-dt_steps / sp.tau_plus), rel=1e-12)
    assert dw_minus == pytest.approx(-sp.eta * sp.a_minus * math.exp(-dt_steps / sp.tau_minus), rel=1e-12)


def test_nearest_trace_pairs_with_the_last_spike_only():
    x = torch.zeros(1, 1)
    for _ in range(3):
        x = add_spikes(x * 0.5, torch.ones(1, 1), "nearest")
    assert float(x) == 1.0
    assert float(add_spikes(torch.ones(1, 1), torch.ones(1, 1), "all")) == 2.0


# --- 4. Sleep: zero duration, schedule, never on test data -----------------------------------


def test_zero_step_sleep_leaves_weights_untouched():
    torch.manual_seed(0)
    net = SGNetwork(TINY)
    before = {k: w.detach().clone() for k, w in net.weight_layers().items()}
    for rule in ("power", "stochastic"):
        sp = SGSleepParams(steps=0, decay=SleepParams(rule=rule, lam=0.5, baseline="target"))
        out = sleep_episode(net, sp, layer_scales(net), generator=torch.Generator().manual_seed(0))
        assert out == {"hidden_spikes": 0, "output_spikes": 0}
        for k, w in net.weight_layers().items():
            assert torch.equal(w, before[k]), (rule, k)


def test_sleep_episode_changes_weights_and_is_seeded():
    def episode(seed):
        torch.manual_seed(0)
        net = SGNetwork(TINY)
        sleep_episode(net, paper_sleep(), layer_scales(net), generator=torch.Generator().manual_seed(seed))
        return net.fc2.weight.detach().clone(), net.fc1.weight.detach().clone()

    a, b, c = episode(1), episode(1), episode(2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])  # the noise (and so STDP) differs
    torch.manual_seed(0)
    w1 = SGNetwork(TINY).fc1.weight.detach()
    assert not torch.equal(a[1], w1)  # the decay moved the input weights (no STDP there)


@pytest.mark.parametrize("p, every", [(0, 0), (0.1, 10), (0.2, 5), (0.3, 3), (0.5, 2), (1, 1), (0.15, 6)])
def test_sleep_interval_is_floor_of_one_over_p(p, every):
    assert sleep_interval(p) == every


@pytest.mark.parametrize("bad", [-0.1, 1.5, True])
def test_sleep_fraction_outside_unit_interval_is_refused(bad):
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        SGConfig(sleep_fraction=bad)


def test_sleep_runs_between_minibatches_only(monkeypatch):
    """Sleep after every floor(1/p)-th training batch but the last; never during a test."""
    calls = []
    real = sgx.sleep_episode

    def spy(net, sp, scales, **kw):
        calls.append(getattr(net, "training_phase", "train"))
        return real(net, sp, scales, **kw)

    monkeypatch.setattr(sgx, "sleep_episode", spy)
    monkeypatch.setattr(sgx, "evaluate", _tagging(sgx.evaluate, "test"))
    cfg = SGConfig(dataset="digits", sleep_fraction=0.25, n_train=300, n_test=100, network=TINY, seed=3)
    res = sgx.run(cfg, progress=False)
    n_batches = math.ceil(300 / TINY.batch_size) * TINY.epochs  # 5 per epoch, 10 in all
    expected = [g for g in range(1, n_batches) if g % 4 == 0]  # 4, 8 (not 12: there is none)
    assert [s["batch"] for s in res.record["history"]["sleeps"]] == expected
    assert calls == ["train"] * len(expected)
    assert res.record["sleep"]["n_sleeps"] == len(expected)


def _tagging(fn, tag):
    """Wrap evaluate() so that a sleep called while it runs would be seen as a test-time sleep."""

    def wrapped(net, *a, **kw):
        old = getattr(net, "training_phase", "train")
        net.training_phase = tag
        try:
            before = {k: w.detach().clone() for k, w in net.weight_layers().items()}
            out = fn(net, *a, **kw)
            for k, w in net.weight_layers().items():
                assert torch.equal(w, before[k]), f"evaluation changed {k}"
            return out
        finally:
            net.training_phase = old

    return wrapped


# --- 5. Runs: determinism, records, matched strength -----------------------------------------


def test_same_seed_gives_identical_results_on_cpu(tmp_path):
    cfg = SGConfig(dataset="digits", sleep_fraction=0.5, strength="matched", sleep_rule="stochastic",
                   n_train=200, n_test=100, network=TINY, seed=7)  # fmt: skip
    a = sgx.run(cfg, progress=False)
    b = sgx.run(cfg, out_dir=tmp_path, progress=False)
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    assert a.record["accuracy"] == b.record["accuracy"]
    assert a.record["history"]["sleeps"] == b.record["history"]["sleeps"]
    c = sgx.run(dataclasses.replace(cfg, seed=8, sleep=None), progress=False)
    assert not np.array_equal(a.arrays["w_final_input_hidden"], c.arrays["w_final_input_hidden"])
    # the stored record reads back through the common store
    from sleep_brian import store

    row = store.flatten(store.load_records(tmp_path)[0])
    assert row["model"] == "sg-snn" and row["variant"] == "sg-snn-matched" and row["sleep_fraction"] == 0.5
    assert row["accuracy"] == a.record["accuracy"]["trained"]["accuracy_output"]
    assert row["sleep_rule"] == "stochastic"


def test_record_has_layer_weight_statistics_and_no_bounds():
    res = sgx.run(SGConfig(dataset="digits", sleep_fraction=0.5, n_train=200, n_test=100, network=TINY), progress=False)
    w = res.record["weights"]
    assert set(w) == {"input_hidden", "hidden_output"}
    for entry in w.values():
        assert entry["n_synapses"] > 0
        assert math.isnan(entry["final"]["saturation"])  # unbounded weights
        assert entry["final"]["abs_mean"] > 0
        assert -1 <= entry["sleep_rank_corr_mean"] <= 1
    assert res.record["stability"]["epoch"] == [0, 1, 2]
    assert len(res.record["stability"]["weights"]["input_hidden"]["abs_mean"]) == 3


def test_matched_sleep_equals_the_stdp_snn_strength():
    """Decay per episode, stationary noise relative to threshold, and STDP per pair relative
    to the initial weight, each equal to the Brian2 model's."""
    model, sched = ModelParams(), ScheduleParams()
    sg = SGParams()
    for r in (0.1, 0.5, 1.0):
        sp = matched_sleep(model, sched, r, sg)
        brian_episode = model.sleep.lam ** (r * float(sched.wake_block) / float(model.sleep.dt_ref))
        assert sp.decay.lam**sp.steps == pytest.approx(brian_episode, rel=1e-9)
        assert sp.decay.rule == model.sleep.rule and sp.decay.sigma_log == model.sleep.sigma_log
    # the sleep cap shortens the STDP-SNN episode, so the matched decay too
    capped = matched_sleep(model, sched.replace(sleep_cap=10 * b2.second), 1.0, sg)
    assert capped.decay.lam**capped.steps == pytest.approx(model.sleep.lam**10_000, rel=1e-9)
    # noise: simulate both membranes under noise alone and compare sd / (threshold - rest)
    sp = matched_sleep(model, sched, 0.1, sg)
    g = torch.Generator().manual_seed(0)
    v = torch.zeros(20_000, dtype=torch.float64)
    for _ in range(300):  # 300 steps: beta^600 ~ 0, stationary
        v = sg.beta * v + sp.noise_sd * torch.randn(v.shape, generator=g, dtype=torch.float64)
    sg_ratio = float(v.std()) / sg.threshold
    n, dt = model.neuron, float(model.dt)
    leak = 1 - dt / float(n.tau_m)
    brian_ratio = float(n.noise_sd) / math.sqrt(1 - leak**2) / float(n.v_th0 - n.v_rest)
    # sample sd of 20,000 normals: relative se 0.5 %; 3 % is 6 se
    assert sg_ratio == pytest.approx(brian_ratio, rel=0.03)
    # STDP per pair relative to the initial weight, and windows in steps
    w0 = model.connectivity.input_e.w0
    assert sp.eta * sp.a_plus == pytest.approx(model.stdp.eta * model.stdp.a_plus / w0)
    assert sp.tau_plus == pytest.approx(10.0) and sp.tau_minus == pytest.approx(7.5)
    assert sp.scale_by_layer and sp.trace == "nearest"


def test_paper_sleep_is_the_papers_sg_script():
    sp = paper_sleep()
    assert (sp.steps, sp.noise_sd, sp.a_plus, sp.a_minus, sp.tau_plus, sp.eta) == (100, 3.0, 0.01, 0.012, 20.0, 1e-3)
    assert (sp.decay.rule, sp.decay.lam, sp.decay.w_tar_exc, sp.decay_every) == ("power", 0.999, 0.2, "episode")


# --- 6. Bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"device": "cpp_standalone"}, "PyTorch"),
        ({"strength": "strong"}, "strength"),
        ({"sleep_rule": "linear"}, "sleep_rule"),
        ({"n_train": 0}, "n_train"),
        ({"network": {"beta": 1.0}}, "beta"),
    ],
)
def test_bad_sg_config_is_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SGConfig(**kwargs)


def test_sg_params_refuse_bad_values():
    with pytest.raises(ConfigError, match="beta"):
        SGParams(beta=1.0)
    with pytest.raises(ConfigError, match="positive integer"):
        SGParams(n_hidden=0)
    with pytest.raises(ConfigError, match="steps"):
        SGSleepParams(steps=-1)


def test_missing_torch_gives_the_install_command(monkeypatch):
    import builtins

    from sleep_brian.sg import config as sgc

    real_import = builtins.__import__

    def no_torch(name, *a, **kw):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ConfigError, match=r"pip install 'sleep-brian\[sg\]'"):
        sgc.require_torch()


# --- 7. CLI, sweep, statistics and figures ------------------------------------------------------

SG_CLI = ["--model", "sg-snn", "--dataset", "digits", "--n-train", "200", "--n-test", "100", "--epochs", "1",
          "--hidden", "16", "--steps", "5", "--quiet"]  # fmt: skip


def test_cli_runs_and_shows_an_sg_record(tmp_path, capsys):
    from sleep_brian.cli import main

    assert main(["run", *SG_CLI, "--sleep", "0.5", "--sg-strength", "matched", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model sg-snn (16 hidden, 5 steps, 1 epochs)" in out
    assert "matched strength, stochastic decay" in out and "input_hidden" in out
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folder.name.startswith("digits_sg-snn-matched_sleep0.5_seed1_torch-cpu_")
    assert main(["show", str(folder)]) == 0
    assert "accuracy (output spikes): test" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--presentation", "100ms"], "--presentation: STDP-SNN options"),
        (["--device", "cython"], "its device is one of auto, cpu, cuda"),
        (["--sleep", "1.2"], "sleep"),
    ],
)
def test_cli_refuses_options_the_sg_model_does_not_use(tmp_path, capsys, argv, message):
    from sleep_brian.cli import main

    with pytest.raises(SystemExit) if "1.2" in argv else contextlib.nullcontext():
        code = main(["run", *SG_CLI, *argv, "--out", str(tmp_path)])
        assert code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_cli_refuses_sg_options_for_the_stdp_model(tmp_path, capsys):
    from sleep_brian.cli import main

    assert main(["run", "--model", "paper", "--hidden", "10", "--out", str(tmp_path)]) == 2
    assert "--hidden: options of --model sg-snn" in capsys.readouterr().err


def test_sweep_runs_sg_variants_and_the_tables_and_figures_read_them(tmp_path, capsys):
    from sleep_brian import statistics, store
    from sleep_brian.cli import print_stats
    from sleep_brian.plotting import make_figures
    from sleep_brian.sweep import SweepSpec, run_sweep, sweep_tasks

    spec = SweepSpec(datasets=("digits",), variants=("sg-snn", "sg-snn-matched"), sleep_fractions=(0, 0.5),
                     seeds=(1, 2), schedule={"n_train": 200, "n_test": 100},
                     sg={"n_hidden": 16, "steps": 5, "epochs": 2})  # fmt: skip
    configs = spec.configs()
    assert len(configs) == 8 and all(c.model == "sg-snn" for c in configs)
    assert len(sweep_tasks(configs, 2)) == 8  # nothing to share: a task per run
    summary = run_sweep(spec, tmp_path / "sweep", n_workers=2, progress=False)
    assert summary["ran"] == 8 and summary["failed"] == 0
    df = store.load(tmp_path / "sweep")
    assert set(df["variant"]) == {"sg-snn", "sg-snn-matched"} and df["accuracy"].notna().all()
    comp = statistics.compare_to_baseline(df, "accuracy")
    assert set(comp["variant"]) == {"sg-snn", "sg-snn-matched"}
    # a rerun finds every record and runs nothing
    assert run_sweep(spec, tmp_path / "sweep", n_workers=2, progress=False)["ran"] == 0
    assert print_stats(tmp_path / "sweep", markdown=True) == 0
    assert "sg-snn-matched" in capsys.readouterr().out
    names = {p.stem for p in make_figures([tmp_path / "sweep"], tmp_path / "fig", formats=("png",))}
    assert {"accuracy_vs_sleep", "sg_weights_over_training"} <= names


def test_per_step_decay_of_the_input_layer_composes_into_one_step():
    """With decay every step, the input weights (no STDP in sleep) get lam ** steps at once:
    for the power law that equals decaying them step by step."""
    torch.manual_seed(0)
    net = SGNetwork(TINY)
    w_in = net.fc1.weight.detach().clone().double()
    sp = SGSleepParams(steps=30, decay=SleepParams(rule="power", lam=0.97, w_tar_exc=0.2, w_tar_inh=-0.2),
                       decay_every="step", noise_sd=0.0)  # fmt: skip
    sleep_episode(net, sp, layer_scales(net), generator=torch.Generator().manual_seed(0))
    for _ in range(30):
        decay_(w_in, sp.decay, 1)
    torch.testing.assert_close(net.fc1.weight.detach().double(), w_in, rtol=2e-6, atol=1e-9)  # float32 weights


def test_recurrent_run_sleeps_with_stdp_on_the_hidden_weights():
    net = dataclasses.replace(TINY, recurrent=True)
    res = sgx.run(SGConfig(dataset="digits", sleep_fraction=0.5, n_train=200, n_test=100, network=net), progress=False)
    assert "hidden_hidden" in res.record["weights"]
    w = res.arrays["w_final_hidden_hidden"].reshape(net.n_hidden, net.n_hidden)
    assert np.all(np.diag(w) == 0)  # no self-connections, after STDP in sleep too
    assert res.record["sleep"]["n_sleeps"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where torch sees no GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        sgx.run(SGConfig(device="cuda", n_train=100, n_test=50, network=TINY), progress=False)
