"""Train and test one SG-SNN with sleep between minibatches, and write the same kind of record as
an STDP-SNN run (accuracy, weight statistics per layer, flags, timings).

Random streams derive from the master seed as in :mod:`sleep_brian.experiment`: the data
subsets (``load_dataset``), the initial weights, the minibatch order and the sleep noise each
have their own stream, so the same seed gives the same run, bit for bit, on the CPU.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from sleep_brian import metrics, store
from sleep_brian.data import load_dataset
from sleep_brian.errors import ConfigError
from sleep_brian.experiment import RUNAWAY_GROWTH, RunResult, versions
from sleep_brian.sg.config import DEFAULT_N_TRAIN, SGConfig, torch_device
from sleep_brian.sg.network import SGNetwork, predict, rate_loss
from sleep_brian.sg.params import sleep_interval
from sleep_brian.sg.sleep import layer_scales, sleep_episode

__all__ = ["run", "train", "evaluate", "sg_stream", "SG_STREAMS"]

#: The SG-SNN's random streams (distinct from the STDP-SNN's names in experiment.STREAMS).
SG_STREAMS = ("sg-init", "sg-order", "sg-sleep")

#: Test images whose accuracy is logged after every epoch (the final test uses all of them).
MONITOR = 1000

#: At most this many weights per layer enter the rank correlations across a sleep (a fixed
#: random subset; Spearman on all 225,000 input weights at every episode would dominate a run).
RANK_SAMPLE = 20_000


def sg_stream(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of the SG-SNN's random stream ``name`` for master ``seed``."""
    return np.random.SeedSequence([int(seed), 101 + SG_STREAMS.index(name)])


def _torch_seed(seed: int, name: str) -> int:
    return int(sg_stream(seed, name).generate_state(1, dtype=np.uint64)[0] % (2**63 - 1))


@torch.no_grad()
def evaluate(net: SGNetwork, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Accuracy and spike statistics of ``net`` on ``(x, y)``; no weight changes, no sleep."""
    correct, hidden, out_total, per_neuron = 0, 0.0, 0.0, None
    bs = net.p.eval_batch_size
    for k in range(0, len(x), bs):
        out, counts = net(x[k : k + bs])
        correct += int((predict(out) == y[k : k + bs]).sum())
        hidden += float(counts.sum())
        out_total += float(out.sum())
        c = counts.sum(0)
        per_neuron = c if per_neuron is None else per_neuron + c
    n, p = len(x), net.p
    return {
        "accuracy": correct / n,
        "hidden_rate_per_step": hidden / (n * p.n_hidden * p.steps),
        "output_rate_per_step": out_total / (n * p.n_output * p.steps),
        "frac_silent": float((per_neuron == 0).float().mean()),
    }


def _weights_np(net: SGNetwork) -> dict[str, np.ndarray]:
    return {k: w.detach().cpu().numpy().astype(np.float64).ravel() for k, w in net.weight_layers().items()}


def _stats(w: np.ndarray) -> dict:
    return metrics.weight_stats(w, None, None)


def train(net: SGNetwork, config: SGConfig, x: torch.Tensor, y: torch.Tensor, x_test=None, y_test=None, *,
          progress: bool = False) -> dict:
    """Train ``net`` for ``epochs`` with sleep after every ``floor(1/p)``-th minibatch.

    Returns the history (loss, accuracy per epoch, accuracy on the first MONITOR test images
    per epoch when a test set is given, sleep episodes with the mean |w| per layer before and after and the rank correlation
    of a fixed weight sample across them) and the weight statistics at every epoch's end.
    """
    p, sp = config.network, config.sleep
    device = x.device
    every = sleep_interval(config.sleep_fraction)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr)
    order_rng = np.random.default_rng(sg_stream(config.seed, "sg-order"))
    sleep_gen = torch.Generator(device=device).manual_seed(_torch_seed(config.seed, "sg-sleep"))
    scales = layer_scales(net)
    sample_rng = np.random.default_rng(sg_stream(config.seed, "sg-order").spawn(1)[0])
    sample = {k: np.sort(sample_rng.choice(len(w), min(RANK_SAMPLE, len(w)), replace=False))
              for k, w in _weights_np(net).items()}  # fmt: skip
    n_batches = -(-len(x) // p.batch_size)
    total = n_batches * p.epochs
    history = {"epochs": [], "sleeps": []}
    stability = {"epoch": [0], "weights": {k: {} for k in sample}}

    def snapshot():
        for k, w in _weights_np(net).items():
            for s, v in _stats(w).items():
                if s != "n":
                    stability["weights"][k].setdefault(s, []).append(v)

    snapshot()
    g, t0, sleep_s = 0, time.perf_counter(), 0.0
    for epoch in range(1, p.epochs + 1):
        perm = torch.as_tensor(order_rng.permutation(len(x)), device=device)
        loss_sum, correct = 0.0, 0
        for b in range(n_batches):
            idx = perm[b * p.batch_size : (b + 1) * p.batch_size]
            out, _ = net(x[idx])
            loss = rate_loss(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((predict(out.detach()) == y[idx]).sum())
            g += 1
            if every and g % every == 0 and g < total:
                ts = time.perf_counter()
                before = _weights_np(net)
                spikes = sleep_episode(net, sp, scales, generator=sleep_gen)
                after = _weights_np(net)
                entry = {"batch": g, **spikes}
                for k in before:
                    entry[f"{k}_abs_mean_before"] = float(np.abs(before[k]).mean())
                    entry[f"{k}_abs_mean_after"] = float(np.abs(after[k]).mean())
                    entry[f"{k}_rank_corr"] = metrics.rank_correlation(before[k][sample[k]], after[k][sample[k]])
                history["sleeps"].append(entry)
                sleep_s += time.perf_counter() - ts
        row = {"epoch": epoch, "loss": loss_sum / len(x), "train_accuracy": correct / len(x),
               "wall_s": time.perf_counter() - t0, "n_sleeps": len(history["sleeps"])}  # fmt: skip
        if x_test is not None:
            # a fixed subset: monitoring the whole test set every epoch would cost more than training
            row["test_accuracy_monitor"] = evaluate(net, x_test[:MONITOR], y_test[:MONITOR])["accuracy"]
        history["epochs"].append(row)
        stability["epoch"].append(epoch)
        snapshot()
        if progress:
            test = f", test {row['test_accuracy_monitor']:.3f}" if "test_accuracy_monitor" in row else ""
            print(
                f"sg-snn: epoch {epoch}/{p.epochs}: loss {row['loss']:.3f}, train {row['train_accuracy']:.3f}{test}, "
                f"{row['n_sleeps']} sleeps, {row['wall_s']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    history["sleep_s"] = sleep_s
    return {"history": history, "stability": stability}


def _flags(weights: dict, test: dict) -> dict:
    flags = {"nan_weights": [], "runaway": [], "saturated": [], "silent": False}
    for k, entry in weights.items():
        if entry.get("nan"):
            flags["nan_weights"].append(k)
            continue
        start, end = entry["before_training"]["abs_mean"], entry["final"]["abs_mean"]
        if start > 0 and end / start >= RUNAWAY_GROWTH:
            flags["runaway"].append(k)
    flags["silent"] = test.get("output_rate_per_step", 0.0) == 0.0
    return flags


def _load(config: SGConfig):
    """The run's data: ``n_train`` None means DEFAULT_N_TRAIN or the whole set if smaller."""
    side = int(round(config.network.n_input**0.5))
    if side * side != config.network.n_input:
        raise ConfigError(f"n_input = {config.network.n_input} must be a square number of pixels (15 x 15 = 225).")
    load = lambda n: load_dataset(config.dataset, path=config.data_dir, side=side, n_train=n,  # noqa: E731
                                  n_test=config.n_test, seed=config.seed)
    if config.n_train == "all":
        return load(None)
    if config.n_train is not None:
        return load(config.n_train)
    whole = load(None)
    return whole if len(whole.x_train) <= DEFAULT_N_TRAIN else load(DEFAULT_N_TRAIN)


def run(config: SGConfig, *, out_dir=None, overwrite: bool = False, progress: bool = True, build_root=None) -> RunResult:
    """Train ``config``'s SG-SNN with sleep, test it, and write a record under ``out_dir``.

    ``build_root`` is accepted for symmetry with :func:`sleep_brian.experiment.run` (nothing
    is compiled). The record is written atomically after the run; a failed run writes nothing.
    """
    t_start = time.perf_counter()
    name = config.name()
    store.check_new(out_dir, name, overwrite)
    device = torch_device(config.device)
    p = config.network
    data = _load(config)
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    x, y = as_t(data.x_train, torch.float32), as_t(data.y_train, torch.long)
    x_test, y_test = as_t(data.x_test, torch.float32), as_t(data.y_test, torch.long)
    if progress:
        every = sleep_interval(config.sleep_fraction)
        print(
            f"sg-snn: {config.dataset}, {len(x)} training / {len(x_test)} test images, sleep {config.sleep_fraction:g} "
            f"({config.sleep.strength}, {config.sleep.decay.rule}; every {every or '-'} batches), seed {config.seed}, "
            f"torch {device}",
            file=sys.stderr,
            flush=True,
        )
    t_data = time.perf_counter()
    with torch.random.fork_rng(devices=[] if device == "cpu" else None):
        torch.manual_seed(_torch_seed(config.seed, "sg-init"))
        net = SGNetwork(p).to(device)
    w_initial = _weights_np(net)
    trained = train(net, config, x, y, x_test, y_test, progress=progress)
    t_train = time.perf_counter()
    test = evaluate(net, x_test, y_test)
    w_final = _weights_np(net)
    weights = {}
    for k, w in w_final.items():
        entry = {"n_synapses": int(len(w))}
        if not np.isfinite(w).all():
            entry["nan"] = True
        else:
            entry["before_training"] = _stats(w_initial[k])
            entry["final"] = entry["after_training"] = _stats(w)
            entry["rank_corr_training"] = metrics.rank_correlation(w_initial[k], w)
            rc = [s[f"{k}_rank_corr"] for s in trained["history"]["sleeps"] if np.isfinite(s[f"{k}_rank_corr"])]
            entry["sleep_rank_corr_mean"] = float(np.mean(rc)) if rc else float("nan")
        weights[k] = entry
    flags = _flags(weights, test)
    bad = flags["nan_weights"] or flags["runaway"] or flags["silent"]
    hist = trained["history"]
    record = {
        "schema": 2,
        "name": name,
        "model": config.model,
        "config": config.to_dict(),
        "seed": int(config.seed),
        "device": f"torch-{device}",
        "versions": {**versions(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "status": "flagged" if bad else "ok",
        "data": {"source": data.source, "n_train": int(len(x)), "n_test": int(len(x_test))},
        # the training accuracy is that of the last epoch's minibatches (history), as they were trained
        "accuracy": {"trained": {"accuracy_output": test["accuracy"]}},
        "rates": {"trained": {"frac_silent": test["frac_silent"], "hidden_rate_per_step": test["hidden_rate_per_step"],
                              "output_rate_per_step": test["output_rate_per_step"]}},  # fmt: skip
        "weights": weights,
        "flags": flags,
        "history": hist,
        "stability": trained["stability"],
        "sleep": {"every_batches": sleep_interval(config.sleep_fraction), "n_sleeps": len(hist["sleeps"]),
                  "steps": config.sleep.steps,
                  "effective_fraction": (len(hist["sleeps"]) * config.sleep.steps)
                  / (p.steps * -(-len(x) // p.batch_size) * p.epochs)},  # fmt: skip
        "timeline": {"n_sleeps": len(hist["sleeps"]), "spans": []},
        "timings": {"data_s": t_data - t_start, "train_s": t_train - t_data, "sleep_s": hist["sleep_s"],
                    "test_s": time.perf_counter() - t_train, "total_s": time.perf_counter() - t_start},  # fmt: skip
        "build": {"reused": False},
    }
    arrays = {f"w_final_{k}": w.astype(np.float32) for k, w in w_final.items()}
    arrays["y_test"] = data.y_test.astype(np.int32)
    path = store.save(out_dir, name, record, arrays, overwrite=overwrite) if out_dir is not None else None
    return RunResult(record=record, arrays=arrays, path=path)
