"""Sweeps: one build per schedule, identical results to single runs, kill-and-resume, failures.

The runs are tiny (40 images of 50-100 ms): these tests check the sweep's machinery, not the
science (tests/test_end_to_end.py and the README sweep do that).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import models
from sleep_brian import devices, store
from sleep_brian.experiment import RunConfig, run, run_many
from sleep_brian.params import ScheduleParams
from sleep_brian.sweep import SweepSpec, pending, run_sweep, sweep_tasks

from _optional import fashion_dir, needs_fashion_mnist

ms, second = b2.ms, b2.second
TINY = dict(n_train=40, n_fit=40, n_test=20, presentation=100 * ms, wake_block=2 * second)
CLI_TINY = ["--n-train", "20", "--n-test", "20", "--presentation", "50ms", "--wake-block", "0.5s"]


def _tiny(sleep, seed, dataset="digits", device="cpp_standalone", **kw):
    sch = ScheduleParams(sleep_fraction=sleep, **TINY)
    return RunConfig(dataset=dataset, seed=seed, schedule=sch, device=device, **kw)


def _same_results(a: dict, b: dict) -> None:
    """Everything a run produces, except which synapses' snapshots were kept (a reused build
    records indices valid for every seed it serves: network.record_index)."""
    skip = ("snap_index_", "w_boundary_")
    keys = {k for k in a if not k.startswith(skip)}
    assert keys == {k for k in b if not k.startswith(skip)}
    for k in sorted(keys):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.standalone
@pytest.mark.skipif(not devices.reuse_supported("cpp_standalone"), reason="needs brian2 >= 2.6 (run_args)")
@needs_fashion_mnist
def test_run_many_reuses_one_build_and_matches_single_runs():
    # two seeds, two datasets: seed, connectivity, images and their order all change
    configs = [_tiny(0.25, 1), _tiny(0.25, 3, dataset="fashion-mnist")]
    many = run_many(configs, progress=False, replicas=1)
    builds = {r.record["build"]["directory"] for r in many}
    assert len(builds) == 1 and all(r.record["build"]["reused"] for r in many)
    assert [r.record["build"]["index"] for r in many] == [0, 1]
    for c, m in zip(configs, many):
        one = run(c, progress=False)
        # bit-identical: same seed, same connectivity (built by the program from run_args),
        # same data; the snapshots kept agree wherever both recorded the synapse
        _same_results(one.arrays, m.arrays)
        assert one.record["accuracy"] == m.record["accuracy"]
        n = m.arrays["snap_index_input_e"]
        np.testing.assert_array_equal(one.arrays["w_boundary_input_e"][n], m.arrays["w_boundary_input_e"])
    # seeds differ: the runs are not copies of each other
    assert not np.array_equal(many[0].arrays["i_input_e"], many[1].arrays["i_input_e"])


@pytest.mark.standalone
@pytest.mark.skipif(not devices.reuse_supported("cpp_standalone"), reason="needs brian2 >= 2.6 (run_args)")
def test_sweep_builds_once_per_schedule(tmp_path):
    """k = 6 runs over 2 schedules (sleep levels) and 3 seeds, one worker: exactly 2 builds."""
    configs = [_tiny(r, s) for r in (0.0, 0.5) for s in (1, 2, 3)]
    summary = run_sweep(configs, tmp_path, n_workers=1, progress=False, replicas=1)
    assert summary["ran"] == 6 and summary["failed"] == 0 and summary["tasks"] == 2
    df = store.load(tmp_path)
    assert len(df) == 6 and (df["status"] != "failed").all()
    assert df["build_reused"].all()
    # one build folder per schedule, shared by its three seeds
    per_level = df.groupby("sleep_fraction")["build_directory"].nunique()
    assert per_level.tolist() == [1, 1]
    assert df["build_directory"].nunique() == 2


def test_sweep_tasks_split_only_to_fill_workers():
    configs = [_tiny(r, s, device="numpy") for r in (0.0, 0.5) for s in (1, 2, 3)]
    assert sorted(len(t) for t in sweep_tasks(configs, 1)) == [3, 3]
    assert sorted(len(t) for t in sweep_tasks(configs, 2)) == [3, 3]
    four = sweep_tasks(configs, 4)
    assert sorted(len(t) for t in four) == [1, 1, 2, 2]
    # a split never mixes schedules
    for t in four:
        assert len({c.schedule.sleep_fraction for c in t}) == 1
    # as replicas, one task holds every run of a model and device, whatever the sleep fraction
    assert sorted(len(t) for t in sweep_tasks(configs, 1, "auto")) == [6]
    assert sorted(len(t) for t in sweep_tasks(configs, 2, "auto")) == [3, 3]
    mixed = configs + [_tiny(0.0, 1, device="cython")]
    assert sorted(len(t) for t in sweep_tasks(mixed, 1, "auto")) == [1, 6]


def test_sweep_runs_replicas_and_resumes(tmp_path):
    """Four runs over two sleep levels as replicas of one numpy simulation; every record names
    its batch, and a rerun finds nothing to do."""
    configs = [_tiny(r, s, device="numpy") for r in (0.0, 0.5) for s in (1, 2)]
    summary = run_sweep(configs, tmp_path, n_workers=1, progress=False, replicas="auto")
    assert summary["ran"] == 4 and summary["failed"] == 0 and summary["tasks"] == 1
    df = store.load(tmp_path)
    assert len(df) == 4 and (df["status"] != "failed").all()
    assert set(df["build_replicas"]) == {4}
    assert run_sweep(configs, tmp_path, n_workers=1, progress=False, replicas="auto")["ran"] == 0


def test_spec_expands_and_rejects_bad_values():
    spec = SweepSpec(datasets=("digits",), variants=("paper", "paper-stochastic"), sleep_fractions=(0, 0.1), seeds=(1, 2))
    cs = spec.configs()
    assert len(cs) == 8 and len({c.name() for c in cs}) == 8
    # the control runs where the spec says: only at sleep 0 by default
    assert {c.control for c in cs if c.schedule.sleep_fraction == 0} == {True}
    assert {c.control for c in cs if c.schedule.sleep_fraction > 0} == {False}
    assert {c.model.sleep_rule.name for c in cs if c.variant == "paper-stochastic"} == {"stochastic"}
    assert {c.model.sleep_rule.name for c in cs if c.variant == "paper"} == {"power"}
    from sleep_brian.errors import ConfigError, DataError

    # the whole specification is checked when it is made, before any run starts
    with pytest.raises(ConfigError, match="sleep fraction"):
        SweepSpec(sleep_fractions=(0, 1.5))
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        SweepSpec(variants=("nope",))
    with pytest.raises(ConfigError, match="unknown dataset 'cifar10'"):
        SweepSpec(datasets=("cifar10",))
    with pytest.raises(DataError):
        SweepSpec(datasets=("mnist",), data_dirs={"mnist": "/nonexistent/mnist"})
    with pytest.raises(ConfigError, match="not among the datasets"):
        SweepSpec(datasets=("digits",), data_dirs={"mnist": "/data"})
    with pytest.raises(ConfigError, match="twice"):
        SweepSpec(seeds=(1, 1))
    with pytest.raises(ConfigError, match="control"):
        SweepSpec(control="sometimes")


def test_failed_run_is_recorded_and_the_rest_finish(tmp_path):
    good = [_tiny(0.0, s, device="numpy", control=False) for s in (1, 2)]
    bad = _tiny(0.0, 1, dataset="mnist", device="numpy", data_dir=str(tmp_path / "no-such-folder"), control=False)
    summary = run_sweep(good + [bad], tmp_path / "out", n_workers=1, progress=False)
    assert summary["failed"] == 1 and summary["ran"] == 3
    df = store.load(tmp_path / "out").set_index("name")
    assert df.loc[bad.name(), "status"] == "failed"
    assert "no-such-folder" in df.loc[bad.name(), "error"]
    assert (df.loc[[c.name() for c in good], "status"] != "failed").all()
    # a rerun skips the failure unless asked to retry it
    assert pending(good + [bad], tmp_path / "out") == []
    assert pending(good + [bad], tmp_path / "out", retry_failed=True) == [bad]


def _sweep_cmd(out):
    return [
        sys.executable, "-m", "sleep_brian.cli", "sweep", "--datasets", "digits", "--sleep", "0", "0.5",
        "--seeds", "1", "2", "--device", "numpy", "--workers", "1", "--out", str(out), *CLI_TINY,
    ]  # fmt: skip


def _complete(out: Path) -> list[str]:
    return sorted(p.parent.name for p in out.glob(f"*/{store.RECORD_FILE}") if not p.parent.name.startswith("."))


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_records(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(_sweep_cmd(killed), start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and len(_complete(killed)) < 1:
        time.sleep(0.2)
    assert len(_complete(killed)) >= 1, "no record appeared within 5 minutes"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Dask workers, mid-sweep
    proc.wait()
    time.sleep(1)
    partial = _complete(killed)
    assert 1 <= len(partial) < 4, partial
    before = {}
    for name in partial:  # whatever is visible is whole
        assert store.load_record(killed / name)["status"] != "failed"
        assert store.load_arrays(killed / name)
        before[name] = (killed / name / store.RECORD_FILE).stat().st_mtime_ns
    subprocess.run(_sweep_cmd(killed), check=True, env=env, capture_output=True)
    subprocess.run(_sweep_cmd(clean), check=True, env=env, capture_output=True)
    assert _complete(killed) == _complete(clean) and len(_complete(clean)) == 4
    for name in _complete(clean):
        a, b = store.load_record(killed / name), store.load_record(clean / name)
        assert a["accuracy"] == b["accuracy"] and a["weights"] == b["weights"]
        _same_results(store.load_arrays(killed / name), store.load_arrays(clean / name))
    # the resumed sweep ran only what was missing: the records written before the kill are untouched
    for name, mtime in before.items():
        assert (killed / name / store.RECORD_FILE).stat().st_mtime_ns == mtime


@needs_fashion_mnist
def test_retry_failed_reruns_only_the_failure(tmp_path):
    """A run that failed (its data was missing) succeeds on --retry-failed once the data is there;
    the sweep's summary counts it as no longer failed, and the good run is not redone."""
    import shutil

    src = fashion_dir()
    data = tmp_path / "data"
    good = _tiny(0.0, 1, device="numpy", control=False)
    late = _tiny(0.0, 2, dataset="fashion-mnist", device="numpy", data_dir=str(data), control=False)
    first = run_sweep([good, late], tmp_path / "out", n_workers=1, progress=False)
    assert first["failed"] == 1
    mtime = (tmp_path / "out" / good.name() / store.RECORD_FILE).stat().st_mtime_ns
    shutil.copytree(src, data)
    again = run_sweep([good, late], tmp_path / "out", n_workers=1, progress=False, retry_failed=True)
    assert again["ran"] == 1 and again["failed"] == 0
    assert store.load_record(tmp_path / "out" / late.name())["status"] != "failed"
    assert (tmp_path / "out" / good.name() / store.RECORD_FILE).stat().st_mtime_ns == mtime


def test_spec_spells_each_dataset_one_way(tmp_path):
    """'notMNIST' with a folder keyed 'notmnist', or 'fashion_mnist': one canonical name, so
    records and summary tables do not split a dataset in two."""
    from test_data import make_idx_dir

    from sleep_brian.errors import ConfigError

    make_idx_dir(tmp_path / "nm")
    spec = SweepSpec(datasets=("notMNIST", "Digits"), variants=("paper",), sleep_fractions=(0,), seeds=(1,),
                     data_dirs={"notmnist": str(tmp_path / "nm")})  # fmt: skip
    assert spec.datasets == ("notmnist", "digits")
    assert {c.dataset for c in spec.configs()} == {"notmnist", "digits"}
    with pytest.raises(ConfigError, match="names a dataset twice"):
        SweepSpec(datasets=("digits", "DIGITS"), variants=("paper",), sleep_fractions=(0,), seeds=(1,))


def test_runs_a_sleep_cap_makes_equal_are_simulated_once(tmp_path):
    """A cap of 0.3 s per 2 s of wake makes sleep 0.2 and 0.4 the same run (0.4 s and 0.8 s
    planned, 0.3 s slept). The sweep simulates one and makes both records, each equal to the
    record of that run alone but for what it plans, and says which run was simulated; sleep 0.1
    (0.2 s, under the cap) is a run of its own. Resumed, it finds nothing to do."""
    from sleep_brian.experiment import same_simulations, simulation_key

    def capped(sleep, seed=1):
        sch = ScheduleParams(sleep_fraction=sleep, sleep_cap=300 * ms, **TINY)
        return RunConfig(dataset="digits", seed=seed, schedule=sch, device="numpy")

    a, b, c = capped(0.2), capped(0.4), capped(0.1)
    assert simulation_key(a) == simulation_key(b) != simulation_key(c)
    assert simulation_key(a) != simulation_key(capped(0.2, seed=2))
    assert same_simulations([c, a, capped(0.2, seed=2), b]) == {0: [], 1: [3], 2: []}
    # twins stay in one task, even where tasks are split to fill the workers
    assert sorted(len(t) for t in sweep_tasks([a, b, c], 3)) == [1, 2]

    summary = run_sweep([a, b, c], tmp_path, n_workers=1, progress=False)
    assert summary["ran"] == 3 and summary["failed"] == 0
    rec = {cfg.name(): store.load_record(tmp_path / cfg.name() / store.RECORD_FILE) for cfg in (a, b, c)}
    assert rec[b.name()]["build"]["same_simulation_as"] == a.name()
    assert "same_simulation_as" not in rec[a.name()]["build"] and "same_simulation_as" not in rec[c.name()]["build"]
    run(b, out_dir=tmp_path / "alone", progress=False)
    alone = store.load_record(tmp_path / "alone" / b.name() / store.RECORD_FILE)
    assert rec[b.name()]["config"] == alone["config"] and rec[b.name()]["name"] == b.name()
    sleeps = alone["timeline"]["sleeps"]
    assert rec[b.name()]["timeline"] == alone["timeline"]
    assert [e["planned_s"] for e in sleeps] == pytest.approx([0.8] * len(sleeps))
    assert [e["actual_s"] for e in sleeps] == pytest.approx([0.3] * len(sleeps)) and sleeps
    assert [e["planned_s"] for e in rec[a.name()]["timeline"]["sleeps"]] == pytest.approx([0.4] * len(sleeps))
    for key in ("accuracy", "rates", "population_rates", "energy", "weights", "flags", "stability", "status"):
        assert rec[b.name()][key] == alone[key], key
    assert rec[a.name()]["accuracy"] == alone["accuracy"]  # the same simulation
    assert rec[b.name()]["timings"] == rec[a.name()]["timings"]  # and its cost, not its task's so far
    assert run_sweep([a, b, c], tmp_path, n_workers=1, progress=False)["ran"] == 0
