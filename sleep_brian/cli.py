"""The ``sleep-brian`` command.

::

    sleep-brian run --dataset digits --sleep 0.1 --seed 1 --device cpp_standalone --out runs/
    sleep-brian run --model my_model.py:build      # a model declared in your own file
    sleep-brian models           # the built-in models, a line each
    sleep-brian devices          # which targets work on this machine
    sleep-brian show runs/NAME   # print the summary table of a stored record
    sleep-brian sweep --datasets digits --sleep 0 0.1 0.2 --seeds 1 2 3 --out results/digits
    sleep-brian stats results/digits          # the table of a sweep, each level against sleep 0
    sleep-brian plot results/digits --out figures/
    sleep-brian cache info       # the build cache of compiled programs: where, what, how big
    sleep-brian cache clear      # empty it

Every option is checked before anything is simulated; an error prints one line naming the
problem and the fix, exits with status 2, and writes no record.
"""

from __future__ import annotations

import argparse
import sys

from sleep_brian.argtypes import fraction as _fraction
from sleep_brian.argtypes import positive_int as _positive_int
from sleep_brian.argtypes import quantity as _quantity
from sleep_brian.argtypes import replicas as _replicas
from sleep_brian.argtypes import seed as _seed
from sleep_brian.errors import SleepBrianError

__all__ = ["main", "build_parser", "format_summary"]


def build_parser() -> argparse.ArgumentParser:
    from sleep_brian.data import DATASETS
    from sleep_brian.devices import DEVICES

    from sleep_brian.models import DEFAULT_MODEL
    from sleep_brian.network import LOWERINGS
    from sleep_brian.params import ScheduleParams

    sch = ScheduleParams()
    parser = argparse.ArgumentParser(
        prog="sleep-brian",
        description="STDP spiking networks stabilised by sleep (Brian2).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "run",
        help="train with wake/sleep, test, print accuracy and stability metrics, write a record",
    )
    r.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)} (default: digits)")
    r.add_argument("--data-dir", default=None, help="folder with the IDX files (MNIST-like sets); see README for the search order")
    r.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"a built-in model (`sleep-brian models` lists them; default: {DEFAULT_MODEL}), "
        "path/to/file.py:function for your own, or sg-snn (the surrogate-gradient baseline in PyTorch, "
        "with the same sleep between minibatches)",
    )
    r.add_argument("--sleep", type=_fraction, default=0.1, help="sleep time per wake time, in [0, 1] (default: 0.1)")
    r.add_argument("--sleep-rule", choices=("power", "stochastic"), default=None, help="sleep weight decay rule, for models that take it as an option (default: the model's own)")
    r.add_argument("--sleep-cap", type=_quantity("second", "--sleep-cap"), default=None, help="longest sleep, e.g. 10s (paper model: no cap; authors: 10s)")
    r.add_argument("--wake-block", type=_quantity("second", "--wake-block"), default=None, help=f"wake time between sleeps, e.g. 35s (default: {float(sch.wake_block):g}s)")
    r.add_argument("--stdp", choices=("causal", "authors"), default=None, help="STDP rule, for the paper's models (default: the model's own)")
    r.add_argument("--seed", type=_seed, default=1, help="master seed of the run (default: 1)")
    r.add_argument("--device", default=None, help=f"one of {', '.join(DEVICES)} (default: cpp_standalone); sg-snn: auto, cpu (default) or cuda")
    r.add_argument("--n-train", type=_n_train, default=None, help=f"training images (default: {sch.n_train}; sg-snn: 6000 or the whole set if smaller; 'all': the whole set)")
    r.add_argument("--n-fit", type=_positive_int, default=None, help=f"training images the readout is fitted on (default: {sch.n_fit})")
    r.add_argument("--n-test", type=_positive_int, default=None, help=f"test images (default: {sch.n_test}; sg-snn: the whole test set)")
    r.add_argument("--epochs", type=_positive_int, default=None, help=f"passes over the training images (default: {sch.epochs}; sg-snn: 10)")
    g = r.add_argument_group("sg-snn", "options of --model sg-snn (defaults: the paper's snnTorch network)")
    g.add_argument("--sg-strength", choices=("paper", "matched"), default="paper", help="the paper's SG sleep, or the STDP-SNN's sleep at equal strength (default: paper)")
    g.add_argument("--hidden", type=_positive_int, default=None, help="hidden neurons (default: 1000)")
    g.add_argument("--steps", type=_positive_int, default=None, help="time steps per image (default: 100)")
    g.add_argument("--batch-size", type=_positive_int, default=None, help="minibatch size (default: 128)")
    g.add_argument("--recurrent", action="store_true", help="add hidden->hidden weights")
    r.add_argument("--presentation", type=_quantity("ms", "--presentation"), default=None, help=f"time per image, e.g. 100ms (default: {float(sch.presentation) * 1e3:g}ms)")
    r.add_argument("--no-control", action="store_true", help="skip the untrained control")
    r.add_argument(
        "--lowering",
        choices=LOWERINGS,
        default="timed_array",
        help="how the schedule reaches the network: compiled TimedArrays (any device), a Python "
        "NetworkOperation (numpy/cython only; same results, easier to read) or single_clock (GeNN's "
        "rules; chosen for genn and cuda_standalone); default: timed_array",
    )
    r.add_argument("--out", default="runs", help="folder for the result record (default: runs)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing record of the same run")
    r.add_argument("--quiet", action="store_true", help="no progress output")

    w = sub.add_parser("sweep", help="run a resumable sweep (datasets x variants x sleep x seeds) on Dask")
    w.add_argument("--datasets", nargs="+", default=["digits"], help=f"datasets (default: digits); any of {', '.join(DATASETS)}")
    w.add_argument("--data-dir", action="append", default=[], metavar="NAME=PATH", help="IDX folder of a dataset, e.g. mnist=/data/mnist (repeatable)")
    w.add_argument("--variants", nargs="+", default=[DEFAULT_MODEL], help=f"models, as run --model takes them (default: {DEFAULT_MODEL}; `sleep-brian models` lists them), or sg-snn, sg-snn-matched")
    w.add_argument("--sleep", type=_fraction, nargs="+", default=None, help="sleep fractions (default: 0, 0.1, ..., 1)")
    w.add_argument("--seeds", type=_seed, nargs="+", default=[1, 2, 3, 4, 5], help="master seeds (default: 1 2 3 4 5)")
    w.add_argument("--device", default="cpp_standalone", help="Brian2 target (default: cpp_standalone)")
    w.add_argument("--sg-device", choices=("auto", "cpu", "cuda"), default="cpu", help="torch device of sg-snn variants (default: cpu)")
    w.add_argument("--epochs", type=_positive_int, default=None, help="sg-snn variants: training epochs (default: 10)")
    w.add_argument("--control", choices=("all", "baseline", "none"), default="baseline", help="untrained control in every run, only at sleep 0 (default), or none")
    w.add_argument("--n-train", type=_n_train, default=None, help=f"training images (default: {sch.n_train}; sg-snn: 6000 or the whole set if smaller)")
    w.add_argument("--n-fit", type=_positive_int, default=None, help=f"readout fit images (default: {sch.n_fit})")
    w.add_argument("--n-test", type=_positive_int, default=None, help=f"test images (default: {sch.n_test})")
    w.add_argument("--presentation", type=_quantity("ms", "--presentation"), default=None, help="time per image, e.g. 100ms")
    w.add_argument("--wake-block", type=_quantity("second", "--wake-block"), default=None, help="wake time between sleeps, e.g. 35s")
    w.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (default: a LocalCluster)")
    w.add_argument("--workers", type=_positive_int, default=None, help="LocalCluster worker processes (default: one per core)")
    w.add_argument("--replicas", type=_replicas, default=1, help="runs simulated together as replicas of one network: a number, or auto (by target and memory); default 1: each alone, reproducing sleep-brian run and giving the same records after a resume")
    w.add_argument("--retry-failed", action="store_true", help="run again the runs recorded as failed")
    w.add_argument("--out", required=True, help="folder of the sweep's records (resumes what is there)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    st = sub.add_parser("stats", help="summarise a sweep folder: mean, sd, bootstrap CI, each sleep level vs 0")
    st.add_argument("folder", help="a folder of records (a sweep's --out)")
    st.add_argument(
        "--metric",
        default="accuracy",
        help="column to summarise (default: accuracy, each model's headline: the PCA+QDA readout for the "
        "STDP-SNN, the output spikes for the SG-SNN; e.g. trained_assignment, trained_pca_qda)",
    )
    st.add_argument("--method", choices=("paired-t", "wilcoxon"), default="paired-t", help="test against sleep 0, paired by seed")
    st.add_argument("--csv", default=None, help="also write the per-run table here")
    st.add_argument("--markdown", action="store_true", help="print the table in Markdown, with the untrained control")
    st.add_argument("--mixed", action="store_true", help="also fit a mixed model per variant (datasets pooled; needs statsmodels)")

    pl = sub.add_parser("plot", help="write the figures of a folder of records (PNG and PDF)")
    pl.add_argument("folder", nargs="+", help="folders of records (a sweep's --out, or a run's); several are pooled")
    pl.add_argument("--out", default=None, help="folder for the figures (default: the first FOLDER/figures)")
    pl.add_argument("--record", default=None, help="name of the run to draw time courses from (default: the least non-zero sleep)")
    pl.add_argument("--formats", nargs="+", choices=("png", "pdf"), default=["png", "pdf"], help="file formats (default: png pdf)")

    sub.add_parser("devices", help="list the Brian2 targets and whether they work here")
    ca = sub.add_parser(
        "cache",
        help="the build cache of compiled standalone programs: show it (info) or empty it (clear)",
        description="Compiled cpp_standalone / cuda_standalone programs are kept between runs, so that a "
        "second run of the same model and schedule compiles (almost) nothing. Folder: $SLEEP_BRIAN_BUILD_CACHE, "
        "else $XDG_CACHE_HOME/sleep-brian/builds; SLEEP_BRIAN_BUILD_CACHE=off turns it off.",
    )
    ca.add_argument("action", nargs="?", choices=("info", "clear"), default="info", help="info (default) or clear")
    sub.add_parser("models", help="list the built-in models, a line each")
    s = sub.add_parser("show", help="print the summary of a stored record")
    s.add_argument("record", help="a record folder written by `sleep-brian run`")
    return parser


def _n_train(text: str):
    """``--n-train``: a positive integer, or ``all`` (sg-snn: the whole training set)."""
    return "all" if text == "all" else _positive_int(text)


def sg_config_from_args(args):
    """An :class:`~sleep_brian.sg.SGConfig` from parsed ``run --model sg-snn`` arguments."""
    import dataclasses

    from sleep_brian.errors import ConfigError
    from sleep_brian.sg import SGConfig, SGParams

    stdp_only = {"--sleep-cap": args.sleep_cap, "--wake-block": args.wake_block, "--stdp": args.stdp,
                 "--n-fit": args.n_fit, "--presentation": args.presentation}  # fmt: skip
    given = [k for k, v in stdp_only.items() if v is not None]
    if given or args.lowering != "timed_array" or args.no_control:
        raise ConfigError(f"{', '.join(given) or '--lowering/--no-control'}: STDP-SNN options; --model sg-snn does not use them.")
    changes = {"n_hidden": args.hidden, "steps": args.steps, "batch_size": args.batch_size, "epochs": args.epochs}
    net = SGParams(**{k: v for k, v in changes.items() if v is not None})
    if args.recurrent:
        net = dataclasses.replace(net, recurrent=True)
    return SGConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        strength=args.sg_strength,
        sleep_rule=args.sleep_rule or ("power" if args.sg_strength == "paper" else "stochastic"),
        sleep_fraction=args.sleep,
        seed=args.seed,
        n_train=args.n_train,
        n_test=args.n_test,
        network=net,
        device=args.device or "cpu",
    )


def config_from_args(args):
    """A :class:`~sleep_brian.experiment.RunConfig` (or, for ``--model sg-snn``, an
    :class:`~sleep_brian.sg.SGConfig`) from parsed ``run`` arguments."""
    from sleep_brian import models
    from sleep_brian.errors import ConfigError
    from sleep_brian.experiment import RunConfig
    from sleep_brian.sg import SG_MODEL

    if args.model == SG_MODEL:
        return sg_config_from_args(args)
    sg_only = {"--hidden": args.hidden, "--steps": args.steps, "--batch-size": args.batch_size}
    given = [k for k, v in sg_only.items() if v is not None] + (["--recurrent"] if args.recurrent else [])
    given += ["--sg-strength"] if args.sg_strength != "paper" else []
    if given:
        raise ConfigError(f"{', '.join(given)}: options of --model sg-snn; the {args.model} model does not use them.")
    if args.n_train == "all":
        raise ConfigError("--n-train all is for --model sg-snn; give the STDP-SNN a number of images.")

    from sleep_brian.params import ScheduleParams

    model = models.get_model(args.model, sleep_rule=args.sleep_rule, stdp=args.stdp)
    schedule = (model.schedule or ScheduleParams()).with_overrides(
        sleep_fraction=args.sleep,
        sleep_cap=args.sleep_cap,
        wake_block=args.wake_block,
        n_train=args.n_train,
        n_fit=args.n_fit,
        n_test=args.n_test,
        epochs=args.epochs,
        presentation=args.presentation,
    )
    return RunConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        model=model,
        schedule=schedule,
        seed=args.seed,
        device=args.device or "cpp_standalone",
        control=not args.no_control,
        lowering=args.lowering,
    )


def format_sg_summary(record: dict) -> str:
    """The accuracy and weight table of an SG-SNN record, as text."""
    c, sl, t = record["config"], record["sleep"], record["timings"]
    sp = c["sleep"]
    lines = [
        f"run {record['name']}\n  dataset {c['dataset']} ({record['data']['n_train']} training / "
        f"{record['data']['n_test']} test images), model sg-snn ({c['network']['n_hidden']} hidden, "
        f"{c['network']['steps']} steps, {c['network']['epochs']} epochs), seed {record['seed']}, {record['device']}",
        f"  sleep {c['sleep_fraction']:g} ({sp['strength']} strength, {sp['decay']['rule']} decay): "
        f"{sl['n_sleeps']} episodes of {sl['steps']} steps, one every {sl['every_batches'] or '-'} minibatches; "
        f"wall time {t['total_s']:.1f} s (sleep {t['sleep_s']:.1f} s)",
        "",
        f"  accuracy (output spikes): test {record['accuracy']['trained']['accuracy_output']:.4f}, "
        f"train (last epoch) {record['history']['epochs'][-1]['train_accuracy']:.4f}",
        "",
        f"  {'layer':<15}{'n':>8}{'|w| start':>11}{'|w| end':>10}{'sd end':>9}{'entropy':>9}{'rho sleep':>10}",
    ]
    for k, e in record["weights"].items():
        f = e.get("final")
        if not f:
            lines.append(f"  {k:<15}{e['n_synapses']:>8}  NaN weights")
            continue
        lines.append(
            f"  {k:<15}{e['n_synapses']:>8}{e['before_training']['abs_mean']:>11.4f}{f['abs_mean']:>10.4f}"
            f"{f['sd']:>9.4f}{f['entropy']:>9.4f}{e.get('sleep_rank_corr_mean', float('nan')):>10.3f}"
        )
    warning = _warning(record.get("flags", {}))
    if warning:
        lines.append(f"  WARNING: {warning}")
    return "\n".join(lines)


def format_summary(record: dict) -> str:
    """The accuracy and stability table of a record, as text."""
    if record.get("model") == "sg-snn":
        return format_sg_summary(record)
    lines = []
    c = record["config"]
    lines.append(
        f"run {record['name']}\n  dataset {c['dataset']} ({record['data']['n_fit']} fit / "
        f"{record['data']['n_test']} test images), model {c['model']}, sleep "
        f"{c['schedule']['sleep_fraction']:g}, seed {record['seed']}, device {record['device']}"
    )
    tl = record["timeline"]
    lines.append(
        f"  simulated {tl['duration_s']:.0f} s: wake {tl['wake_s']:.0f} s, sleep {tl['sleep_s']:.1f} s "
        f"in {tl['n_sleeps']} episodes, test {tl['test_s']:.0f} s; wall time {record['timings']['total_s']:.1f} s"
    )
    lines.append("")
    lines.append(f"  {'accuracy':<12}{'PCA+QDA':>10}{'labels':>10}{'rate Hz':>10}{'silent':>9}")
    for tag in ("untrained", "trained"):
        if tag in record["accuracy"]:
            a, rt = record["accuracy"][tag], record["rates"][tag]
            lines.append(
                f"  {tag:<12}{a['accuracy_pca_qda']:>10.3f}{a['accuracy_assignment']:>10.3f}"
                f"{rt['rate_mean_hz']:>10.2f}{rt['frac_silent']:>9.2f}"
            )
    lines.append("")
    lines.append(
        f"  {'pathway':<9}{'n':>6}{'|w| start':>11}{'|w| end':>10}{'sd end':>9}{'sat.':>7}"
        f"{'entropy':>9}{'n_eff/n':>9}{'rho sleep':>10}"
    )
    # record JSON is key-sorted; show the model's declaration order
    order = [p["name"] for p in record["config"].get("declaration", {}).get("pathways", [])]
    for pw in sorted(record["weights"], key=lambda k: order.index(k) if k in order else len(order)):
        e = record["weights"][pw]
        f = e.get("final")
        if not f:
            continue
        start = e.get("before_training", {}).get("abs_mean", float("nan"))
        lines.append(
            f"  {pw:<9}{e['n_synapses']:>6}{start:>11.4f}{f['abs_mean']:>10.4f}{f['sd']:>9.4f}"
            f"{f['saturation']:>7.2f}{f['entropy']:>9.4f}{f['n_effective'] / max(1, f['n']):>9.3f}"
            f"{e.get('sleep_rank_corr_mean', float('nan')):>10.3f}"
        )
    rates = record.get("population_rates")
    if rates:
        lines.append("")
        lines.append("  firing rates (Hz)  " + "".join(f"{k:>9}" for k in ("wake", "sleep", "test")))
        for pop, r in rates.items():
            lines.append(f"  {pop:<18}" + "".join(f"{r[k]:>9.2f}" if k in r else f"{'-':>9}" for k in ("wake", "sleep", "test")))
    warning = _warning(record.get("flags", {}))
    if warning:
        lines.append(f"  WARNING: {warning}")
    lines.append(
        "\n  rho sleep: Spearman rank correlation of the weights before and after a sleep, mean over sleeps;"
        "\n  sat.: fraction of weights at a bound; n_eff/n: participation ratio of |w| over synapse count."
    )
    return "\n".join(lines)


def _warning(flags: dict) -> str:
    """The run's flags in words, naming only what happened ('' when nothing did)."""
    said = []
    for key, words in (("nan_weights", "NaN weights in"), ("runaway", "runaway weights in"), ("saturated", "saturated weights in")):
        if flags.get(key):
            said.append(f"{words} {', '.join(flags[key])}")
    if flags.get("silent"):
        said.append("the network is silent after training")
    return "; ".join(said)


def _sweep(args) -> int:
    from sleep_brian.errors import ConfigError
    from sleep_brian.sweep import DEFAULT_SLEEP_FRACTIONS, SweepSpec, run_sweep

    data_dirs = {}
    for item in args.data_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--data-dir {item!r}: expected NAME=PATH, e.g. mnist=/data/mnist.")
        data_dirs[name] = path
    # None leaves a default in place (ScheduleParams.with_overrides)
    overrides = dict(
        n_train=args.n_train, n_fit=args.n_fit, n_test=args.n_test, presentation=args.presentation, wake_block=args.wake_block
    )
    sg = {"epochs": args.epochs} if args.epochs else {}
    spec = SweepSpec(
        datasets=tuple(args.datasets),
        variants=tuple(args.variants),
        sleep_fractions=tuple(args.sleep) if args.sleep else DEFAULT_SLEEP_FRACTIONS,
        seeds=tuple(args.seeds),
        device=args.device,
        data_dirs=data_dirs,
        schedule=overrides,
        control=args.control,
        sg=sg,
        sg_device=args.sg_device,
    )
    summary = run_sweep(spec, args.out, scheduler=args.scheduler, n_workers=args.workers, retry_failed=args.retry_failed,
                        progress=not args.quiet, replicas=args.replicas)  # fmt: skip
    print(
        f"sweep: {summary['total']} runs ({summary['skipped']} already recorded, {summary['ran']} run in "
        f"{summary['tasks']} tasks), {summary['failed']} failed; {summary['wall_s']:.0f} s"
    )
    if summary["total"] > summary["failed"]:
        print_stats(args.out)
    return 1 if summary["failed"] else 0


def _cache(args) -> int:
    """``sleep-brian cache info|clear``."""
    import time
    from pathlib import Path

    from sleep_brian import build_cache as bc

    if args.action == "clear":
        out = bc.clear()
        busy = f"; {out['busy']} in use by running processes, kept" if out["busy"] else ""
        print(f"build cache: removed {out['removed']} entries ({bc.format_bytes(out['bytes'])}){busy}")
        return 0
    s = bc.info()
    if not s["enabled"]:
        print(f"build cache: off ({s['reason']}); unset {bc.CACHE_ENV} to turn it on")
        return 0
    print(f"build cache: {s['root']}  (set {bc.CACHE_ENV} to move it, or to off)")
    print(
        f"  {len(s['entries'])} entries, {bc.format_bytes(s['bytes'])}; limits {s['max_entries']} entries, "
        f"{bc.format_bytes(s['max_bytes'])} ({bc.MAX_ENTRIES_ENV}, {bc.MAX_BYTES_ENV}), least recently used evicted first"
    )
    for e in s["entries"]:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"])) if e["last_used"] else "never"
        state = "in use" if e["in_use"] else e["state"]
        print(f"  {e['key'][:12]}/{Path(e['path']).name:<15}{state:<10}{bc.format_bytes(e['bytes']):>9}  "
              f"last used {used}, {e['uses']} uses  {e['label']}")  # fmt: skip
    return 0


def _stats(args) -> int:
    return print_stats(args.folder, args.metric, method=args.method, csv=args.csv, markdown=args.markdown, mixed=args.mixed)


def print_stats(folder, metric: str = "accuracy", *, method: str = "paired-t", csv=None,
                markdown: bool = False, mixed: bool = False) -> int:
    """Print the statistics table of a folder of records (what `sleep-brian stats` shows)."""
    from sleep_brian import statistics, store
    from sleep_brian.errors import ConfigError

    df = store.load(folder)
    if df.empty:
        raise ConfigError(f"no records under {folder}; run `sleep-brian sweep --out {folder}` first.")
    if csv:
        df.to_csv(csv, index=False)
    failed = df[df["status"] == "failed"]
    for _, r in failed.iterrows():
        print(f"failed: {r['name']}: {r['error']}")
    summary = statistics.summarize(df, metric)
    comparison = statistics.compare_to_baseline(df, metric, method=method)
    if markdown:
        untrained = "untrained_accuracy" if metric == "accuracy" else metric.replace("trained_", "untrained_", 1)
        have = untrained != metric and untrained in df and df[untrained].notna().any()
        base = statistics.summarize(df, untrained) if have else None
        print(statistics.format_markdown(summary, comparison, base))
    else:
        print(statistics.format_table(summary, comparison))
    if mixed:
        ok = df[df["status"] != "failed"]
        for variant in sorted(ok["variant"].unique()):
            m = statistics.mixed_effects(ok, metric, variant=variant)
            print(f"\n{variant}: {m.iloc[0]['method'] + ' (' + m.iloc[0]['fit'] + ')' if len(m) else 'no levels besides 0'}")
            for _, r in m.iterrows():
                print(f"  sleep {r['sleep_fraction']:g}: {r['estimate']:+.3f} (se {r['se']:.3f}, z {r['z']:.1f}, p {r['p']:.2g})")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "devices":
            from sleep_brian.devices import DEVICES, check_device

            for name in DEVICES:
                try:
                    check_device(name)
                    print(f"{name:<16} available")
                except SleepBrianError as exc:
                    print(f"{name:<16} unavailable: {exc}")
            return 0
        if args.command == "models":
            from sleep_brian.models import DEFAULT_MODEL, describe

            for name, line in describe():
                print(f"{name:<20} {line}{'  (default)' if name == DEFAULT_MODEL else ''}")
            print(f"{'sg-snn':<20} surrogate-gradient SNN baseline in PyTorch (sleep between minibatches)")
            print("\nYour own: --model path/to/file.py:function (a function returning a sleep_brian.model.Model).")
            return 0
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "cache":
            return _cache(args)
        if args.command == "stats":
            return _stats(args)
        if args.command == "plot":
            from pathlib import Path

            from sleep_brian.plotting import make_figures

            out = args.out or str(Path(args.folder[0]) / "figures")
            for f in make_figures(args.folder, out, formats=tuple(args.formats), record=args.record):
                print(f)
            return 0
        if args.command == "show":
            from sleep_brian.store import load_record

            print(format_summary(load_record(args.record)))
            return 0
        from sleep_brian.experiment import run
        from sleep_brian.sg import SGConfig
        from sleep_brian.sg import run as sg_run

        config = config_from_args(args)
        runner = sg_run if isinstance(config, SGConfig) else run
        result = runner(config, out_dir=args.out, overwrite=args.overwrite, progress=not args.quiet)
        print(format_summary(result.record))
        print(f"\n  record: {result.path}")
        return 0
    except SleepBrianError as exc:
        print(f"sleep-brian: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
