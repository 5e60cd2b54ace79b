"""Parameter sweeps on Dask: resumable, one compiled program per schedule, failures recorded.

A sweep is the product of datasets x model variants x sleep fractions x seeds. Each run is a
:class:`~sleep_brian.experiment.RunConfig` whose record lands in one folder (``out_dir``), keyed
by its whole configuration (:meth:`RunConfig.name`). So a sweep that is killed at any point and
started again runs only what has no record yet and ends with the same table::

    from sleep_brian.sweep import SweepSpec, run_sweep
    spec = SweepSpec(datasets=("digits",), sleep_fractions=(0, 0.1, 0.2), seeds=(1, 2, 3))
    run_sweep(spec, "results/digits")            # a LocalCluster with one worker per core
    run_sweep(spec, "results/digits", scheduler="tcp://head:8786")   # any Dask scheduler

Runs that share a model, device and lowering form one task, which simulates them as replicas
of a few networks (:mod:`sleep_brian.replicas`; with ``replicas="auto"`` or a number), whatever their
sleep fractions and seeds. With ``replicas=1`` (the default), runs that share a schedule (and so the same
compiled code) form one task instead: on cpp_standalone with brian2 >= 2.6 the task compiles
once and runs every member through ``run_args`` (:func:`sleep_brian.experiment.run_many`).
When there are fewer tasks than workers, tasks are split so that no worker idles. Every task
builds in a fresh folder of its own.

A run that raises is stored as a record with ``status: failed`` and its error; the other runs go
on. A rerun skips failed runs unless ``retry_failed`` is set.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from sleep_brian import store
from sleep_brian.errors import ConfigError
from sleep_brian.experiment import RunConfig, run_many, schedule_key, versions
from sleep_brian.models import DEFAULT_MODEL
from sleep_brian.params import ScheduleParams

__all__ = ["SweepSpec", "run_sweep", "sweep_tasks", "pending", "write_failure", "DEFAULT_SLEEP_FRACTIONS", "CONTROL"]

DEFAULT_SLEEP_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(11))
#: Which runs include the untrained control: every run, only the sleep-0 runs (the control is
#: the same network before training, so one per dataset, variant and seed suffices), or none.
CONTROL = ("all", "baseline", "none")


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: the product of datasets, variants, sleep fractions and seeds.

    Parameters
    ----------
    datasets : names (``digits``, ``fashion-mnist``, ``mnist``, ``kmnist``, ``notmnist``)
    variants : model names, as ``sleep-brian run --model`` takes them (:data:`models.MODELS`,
        ``path/to/file.py:function``, or an SG-SNN variant)
    sleep_fractions : numbers in [0, 1]
    seeds : master seeds
    device : Brian2 target
    data_dirs : per dataset name, the folder of its IDX files (where not found by default)
    schedule : overrides of every variant's schedule (e.g. ``n_train=300``); None keeps defaults.
        ``n_train`` and ``n_test`` also apply to SG-SNN variants.
    control : one of :data:`CONTROL`
    sg : overrides of the SG-SNN's :class:`~sleep_brian.sg.SGParams` (e.g. ``epochs=3``)
    sg_device : torch device of the SG-SNN variants (``cpu``, ``cuda`` or ``auto``)

    Variants named in :data:`sleep_brian.sg.SG_VARIANTS` (``sg-snn``, ``sg-snn-matched``) are
    SG-SNN runs (:class:`~sleep_brian.sg.SGConfig`), the others STDP-SNN runs.
    """

    datasets: tuple = ("digits",)
    variants: tuple = (DEFAULT_MODEL,)
    sleep_fractions: tuple = DEFAULT_SLEEP_FRACTIONS
    seeds: tuple = (1, 2, 3, 4, 5)
    device: str = "cpp_standalone"
    data_dirs: dict = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)
    control: str = "baseline"
    sg: dict = field(default_factory=dict)
    sg_device: str = "cpu"

    def __post_init__(self):
        for name in ("datasets", "variants", "sleep_fractions", "seeds"):
            value = tuple(getattr(self, name))
            if not value:
                raise ConfigError(f"SweepSpec.{name} is empty; give at least one.")
            if len(set(value)) != len(value):
                raise ConfigError(f"SweepSpec.{name} = {value} lists a value twice.")
            object.__setattr__(self, name, value)
        if self.control not in CONTROL:
            raise ConfigError(f"control = {self.control!r}; expected one of {', '.join(CONTROL)}.")
        # One spelling per dataset ('notMNIST', 'fashion_mnist' -> 'notmnist', 'fashion-mnist'):
        # record names and summary tables must not split one dataset in two.
        from sleep_brian.data import _canonical_name

        datasets = tuple(_canonical_name(d) for d in self.datasets)
        if len(set(datasets)) != len(datasets):
            raise ConfigError(f"SweepSpec.datasets = {self.datasets} names a dataset twice (spellings of one name).")
        object.__setattr__(self, "datasets", datasets)
        object.__setattr__(self, "data_dirs", {_canonical_name(k): v for k, v in dict(self.data_dirs).items()})
        self.check()

    def check(self) -> None:
        """Check the whole specification before any run starts: datasets and their data folders,
        models, fractions and seeds (a bad value would otherwise fail run after run)."""
        from sleep_brian.data import _canonical_name, find_idx_dir

        for name in self.data_dirs:
            if name not in self.datasets:
                raise ConfigError(f"data folder given for {name!r}, which is not among the datasets {list(self.datasets)}.")
        for dataset in self.datasets:
            if _canonical_name(dataset) != "digits":
                find_idx_dir(dataset, self.data_dirs.get(dataset))  # a DataError names where it looked
        for r in self.sleep_fractions:
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
                raise ConfigError(f"sleep fraction {r!r} must be a number in [0, 1].")
        for seed in self.seeds:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ConfigError(f"seed {seed!r} must be an integer >= 0.")
        self.configs()  # resolves every model and schedule

    def configs(self) -> list[RunConfig]:
        """Every run of the sweep (checked: a bad value fails here, before anything runs)."""
        import dataclasses

        from sleep_brian import models
        from sleep_brian.sg import SG_VARIANTS, SGConfig, SGParams

        out = []
        for dataset in self.datasets:
            for variant in self.variants:
                if variant in SG_VARIANTS:
                    net = dataclasses.replace(SGParams(), **self.sg)
                    sizes = {k: self.schedule.get(k) for k in ("n_train", "n_test")}
                    for r in self.sleep_fractions:
                        for seed in self.seeds:
                            out.append(SGConfig.for_variant(
                                variant, dataset=dataset, data_dir=self.data_dirs.get(dataset), sleep_fraction=r,
                                seed=seed, network=net, device=self.sg_device, **sizes,
                            ))  # fmt: skip
                    continue
                try:
                    model = models.get_model(variant)
                except ConfigError as exc:
                    raise ConfigError(f"{exc} (SG-SNN variants: {', '.join(SG_VARIANTS)})") from None
                schedule = (model.schedule or ScheduleParams()).with_overrides(**self.schedule)
                for r in self.sleep_fractions:
                    for seed in self.seeds:
                        control = self.control == "all" or (self.control == "baseline" and r == 0)
                        out.append(
                            RunConfig(
                                dataset=dataset,
                                data_dir=self.data_dirs.get(dataset),
                                model=model,
                                schedule=schedule.replace(sleep_fraction=r),
                                seed=seed,
                                device=self.device,
                                control=control,
                            )
                        )
        return out


def pending(configs, out_dir, *, retry_failed: bool = False) -> list[RunConfig]:
    """The configurations without a finished record under ``out_dir`` (failed ones too if asked)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        store.recover(out_dir)
    todo = []
    for c in configs:
        f = out_dir / c.name() / store.RECORD_FILE
        if not f.exists():
            todo.append(c)
        elif retry_failed:
            try:
                if store.load_record(f).get("status") == "failed":
                    todo.append(c)
            except Exception:  # noqa: BLE001 - an unreadable record is redone
                todo.append(c)
    return todo


def sweep_tasks(configs, n_workers: int, replicas: int | str = 1) -> list[list[RunConfig]]:
    """Group runs into tasks; split groups while there are fewer than workers.

    With ``replicas=1``, by schedule (one build each); otherwise by model, device and lowering
    (:func:`sleep_brian.replicas.replica_key`), whose runs become replicas of a few simulations
    whatever their sleep fractions. Runs that are the same simulation go in one task."""
    from sleep_brian.experiment import simulation_key
    from sleep_brian.replicas import replica_key
    from sleep_brian.sg import SGConfig

    # Runs that are the same simulation (a sleep cap: experiment.simulation_key) stay in one
    # task, which simulates the first and makes the others' records from it; a task's runs are
    # kept in clusters of such runs, and a split never parts a cluster.
    clusters: dict[str, list[RunConfig]] = {}
    for c in configs:
        clusters.setdefault(c.name() if isinstance(c, SGConfig) else simulation_key(c), []).append(c)
    groups: dict[str, list[list[RunConfig]]] = {}
    for cluster in clusters.values():
        c = cluster[0]
        # an SG-SNN run compiles nothing: each is a task of its own
        key = c.name() if isinstance(c, SGConfig) else schedule_key(c) if replicas == 1 else replica_key(c)
        groups.setdefault(key, []).append(cluster)
    tasks = list(groups.values())
    if tasks and len(tasks) < n_workers:
        parts = math.ceil(n_workers / len(tasks))
        split = []
        for g in tasks:
            k = min(parts, len(g))
            split += [g[i::k] for i in range(k)]
        tasks = split
    return [[c for cluster in t for c in cluster] for t in tasks]


def write_failure(out_dir, config: RunConfig, exc: BaseException, tb: str | None = None) -> None:
    """Store a failed run's record: its configuration and error, status ``failed``, no arrays."""
    record = {
        "schema": 2,
        "name": config.name(),
        "status": "failed",
        "config": config.to_dict(),
        "seed": int(config.seed),
        "device": config.device,
        "versions": versions(),
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": tb if tb is not None else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    store.save(out_dir, config.name(), record, None, overwrite=True)


def _run_task(configs: list[RunConfig], out_dir: str, build_root: str | None, replicas: int | str = 1,
              workers: int = 1) -> int:  # fmt: skip
    """One Dask task: run ``configs`` (as replicas, or one build where possible); return how many failed."""
    failed = []

    def on_error(config, exc):
        failed.append(config.name())
        write_failure(out_dir, config, exc)

    from sleep_brian.sg import SGConfig

    sg = [c for c in configs if isinstance(c, SGConfig)]
    if sg:
        from sleep_brian.sg import run as sg_run

        for c in sg:
            try:
                sg_run(c, out_dir=out_dir, overwrite=True, progress=False)
            except Exception as exc:  # noqa: BLE001 - recorded as failed, the others go on
                on_error(c, exc)
    brian = [c for c in configs if not isinstance(c, SGConfig)]
    if brian:
        run_many(brian, out_dir=out_dir, overwrite=True, progress=False, build_root=build_root, on_error=on_error,
                 replicas=replicas, workers=workers)  # fmt: skip
    return len(failed)


def _fmt_s(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Progress:
    """Runs done, failed and an ETA, from the records that have appeared (one line, redrawn)."""

    def __init__(self, configs, out_dir, enabled: bool, stream=sys.stderr):
        self.names = [c.name() for c in configs]
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.stream = stream
        self.t0 = time.perf_counter()
        self.last = ""
        self.seen = (-1, -1)
        self.seen_status: dict[str, str | None] = {}

    def counts(self) -> tuple[int, int]:
        for n in self.names:
            if n in self.seen_status and self.seen_status[n] != "failed":
                continue  # a finished record stays; a failed one may be retried and replaced
            f = self.out_dir / n / store.RECORD_FILE
            if f.exists():
                try:
                    self.seen_status[n] = store.load_record(f).get("status")
                except Exception:  # noqa: BLE001 - counted as done; the table will show it
                    self.seen_status[n] = None
        done = len(self.seen_status)
        return done, sum(s == "failed" for s in self.seen_status.values())

    def update(self, final: bool = False) -> tuple[int, int]:
        done, failed = self.counts()
        if self.enabled:
            total, el = len(self.names), time.perf_counter() - self.t0
            eta = f"ETA {_fmt_s(el / done * (total - done))}" if 0 < done < total else ""
            width = 30
            bar = "#" * (width * done // max(1, total))
            line = f"sweep [{bar:<{width}}] {done}/{total} runs, {failed} failed, {_fmt_s(el)} {eta}"
            if hasattr(self.stream, "isatty") and self.stream.isatty():
                print("\r" + line.ljust(len(self.last)), end="\n" if final else "", file=self.stream, flush=True)
                self.last = line
            elif (done, failed) != self.seen:
                # A log file gets one line per finished run, not a redraw every 2 s.
                print(line, file=self.stream, flush=True)
            self.seen = (done, failed)
        return done, failed


def run_sweep(
    spec: SweepSpec | list,
    out_dir,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    retry_failed: bool = False,
    build_root=None,
    progress: bool = True,
    replicas: int | str = 1,
) -> dict:
    """Run every run of ``spec`` (a :class:`SweepSpec` or a list of RunConfigs) that has no record.

    Parameters
    ----------
    out_dir : path
        Folder of the records (created).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``; dask-jobqueue's SLURMCluster
        gives one). Default: a LocalCluster of ``n_workers`` processes with one thread each
        (Brian2 keeps global state, so one run per process at a time).
    n_workers : int, optional
        LocalCluster size (default: the number of cores, at most the number of tasks).
    retry_failed : bool
        Run again the runs recorded as failed.
    build_root : path, optional
        Where builds go (default: the system temp dir); each task builds in its own sub-folder.
    replicas : int or "auto"
        Runs simulated together as replicas of one network (:func:`sleep_brian.experiment.run_many`);
        ``"auto"`` chooses by target and memory (:func:`sleep_brian.replicas.choose_replicas`,
        the memory shared by the workers). The default, 1, runs each alone: a replica's random
        draws depend on its batch, and a resumed sweep batches its remaining runs anew, so only
        runs done alone give the same records whether or not the sweep was interrupted.

    Returns
    -------
    dict
        ``total``, ``ran``, ``skipped`` (already recorded), ``failed`` (among all), ``tasks``, ``wall_s``.
    """
    try:
        from dask.distributed import Client, LocalCluster, wait
    except ImportError as exc:
        raise ConfigError("sweeps run on Dask: pip install 'sleep-brian[sweep]' (dask[distributed]).") from exc

    configs = spec.configs() if isinstance(spec, SweepSpec) else list(spec)
    names = [c.name() for c in configs]
    if len(set(names)) != len(names):
        raise ConfigError("the sweep lists the same run twice.")
    out_dir = Path(out_dir)
    store.check_writable(out_dir)
    todo = pending(configs, out_dir, retry_failed=retry_failed)
    t0 = time.perf_counter()
    bar = _Progress(configs, out_dir, progress)
    if progress:
        print(
            f"sweep: {len(configs)} runs, {len(configs) - len(todo)} already recorded, {len(todo)} to run -> {out_dir}",
            file=sys.stderr,
        )
    tasks: list = []
    if todo:
        workers = n_workers or (os.cpu_count() or 1)
        tasks = sweep_tasks(todo, workers, replicas)
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=min(workers, len(tasks)), threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            client = Client(cluster)
        else:
            cluster, client = None, Client(scheduler)
        try:
            futures = [
                client.submit(_run_task, t, str(out_dir), None if build_root is None else str(build_root), replicas,
                              min(workers, len(tasks)), pure=False)  # fmt: skip
                for t in tasks
            ]
            remaining = list(futures)
            while remaining:
                try:
                    wait(remaining, timeout=2, return_when="FIRST_COMPLETED")
                except (TimeoutError, asyncio.TimeoutError):
                    pass  # nothing finished within 2 s: redraw the progress bar
                for fut, task in zip(futures, tasks):
                    if fut in remaining and fut.done():
                        remaining.remove(fut)
                        if fut.status == "error":
                            # The worker died (or the task raised outside a run): record
                            # every member that has no record, so the sweep can end.
                            exc = fut.exception()
                            for c in pending(task, out_dir):
                                write_failure(out_dir, c, exc, tb=f"task failed: {exc!r}")
                bar.update()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    done, failed = bar.update(final=True)
    return {
        "total": len(configs),
        "ran": len(todo),
        "skipped": len(configs) - len(todo),
        "failed": failed,
        "tasks": len(tasks),
        "wall_s": time.perf_counter() - t0,
    }
