"""The build cache: a second build of the same network compiles nothing, concurrent runs never
share a folder, a broken entry is rebuilt, and results are those of a build without the cache.

The first tests drive :mod:`sleep_brian.build_cache` on fake projects (a file called ``main``
and some ``.o`` files) and take well under a second each. The ``standalone`` tests compile the
default model on a tiny schedule: five full builds of about a minute each on 2 cores.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import build_cache as bc
from sleep_brian import devices
from sleep_brian.cli import main
from sleep_brian.errors import ConfigError
from sleep_brian.experiment import RunConfig, run, run_many
from sleep_brian.params import ScheduleParams

ms, second = b2.ms, b2.second
KEY = {"model": "fake", "n": 1}


def _build(lease, objects=("a.o", "b.o"), binary=b"program"):
    """What a Device does around a compile, with files instead of a compiler."""
    lease.begin()
    for name in objects:
        (lease.project / name).write_bytes(b"object " + name.encode())
    (lease.project / "main").write_bytes(binary)
    return lease.complete()


# --------------------------------------------------------------------------------------------
# The cache on fake projects


def test_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(bc.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bc.cache_root() == tmp_path / "xdg" / "sleep-brian" / "builds"
    monkeypatch.setenv(bc.CACHE_ENV, str(tmp_path / "mine"))
    assert bc.cache_root() == tmp_path / "mine" and bc.disabled_reason() is None
    for off in ("off", "OFF", "0", "false"):
        monkeypatch.setenv(bc.CACHE_ENV, off)
        assert bc.cache_root() is None
        assert bc.CACHE_ENV in bc.disabled_reason()


def test_limits_come_from_the_environment_and_bad_ones_are_refused(monkeypatch):
    assert bc.limits() == (bc.DEFAULT_MAX_ENTRIES, bc.DEFAULT_MAX_BYTES)
    monkeypatch.setenv(bc.MAX_ENTRIES_ENV, "5")
    monkeypatch.setenv(bc.MAX_BYTES_ENV, "500M")
    assert bc.limits() == (5, 500 * 1024**2)
    for text, size in (("2G", 2 * 1024**3), ("2GiB", 2 * 1024**3), ("1234", 1234), ("1.5k", 1536)):
        monkeypatch.setenv(bc.MAX_BYTES_ENV, text)
        assert bc.limits()[1] == size
    monkeypatch.setenv(bc.MAX_BYTES_ENV, "lots")
    with pytest.raises(ConfigError, match=bc.MAX_BYTES_ENV):
        bc.limits()
    monkeypatch.setenv(bc.MAX_BYTES_ENV, "1G")
    monkeypatch.setenv(bc.MAX_ENTRIES_ENV, "0")
    with pytest.raises(ConfigError, match=bc.MAX_ENTRIES_ENV):
        bc.limits()


def test_a_complete_entry_is_reused_and_keeps_no_data(tmp_path):
    with bc.acquire(KEY, root=tmp_path) as first:
        assert (first.status, first.reason) == ("miss", "new")
        assert _build(first) == ["a.o", "b.o"]
        (first.project / "static_arrays").mkdir()
        (first.project / "static_arrays" / "images_values").write_bytes(b"data")
        (first.project / "results").mkdir()
        (first.project / "results" / "spikes").write_bytes(b"results")
    # the run's data and results are gone, its program is not
    assert not list((first.project / "static_arrays").iterdir()) and not (first.project / "results").exists()
    with bc.acquire(KEY, root=tmp_path) as again:
        assert (again.status, again.entry) == ("hit", first.entry)
        again.begin()
        assert again.complete() == []  # nothing rewritten: nothing "recompiled"
        assert again.info()["recompiled"] == 0 and again.info()["cache"] == "hit"
    with bc.acquire({**KEY, "n": 2}, root=tmp_path) as other:
        assert other.status == "miss" and other.entry.parent != first.entry.parent


def test_an_entry_in_use_is_never_shared(tmp_path):
    with bc.acquire(KEY, root=tmp_path) as a:
        _build(a)
    with bc.acquire(KEY, root=tmp_path) as a:  # the complete entry, held
        assert a.status == "hit"
        with bc.acquire(KEY, root=tmp_path) as b:  # flock is per open file: the same process is refused too
            assert b.entry != a.entry and (b.status, b.reason) == ("miss", "busy")
            # and another process, while both are held
            code = (
                "from sleep_brian import build_cache as bc\n"
                f"with bc.acquire({KEY!r}, root={str(tmp_path)!r}) as l: print(l.entry, l.status, l.reason)"
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
            assert out[0] not in (str(a.entry), str(b.entry)) and out[1:] == ["miss", "busy"]


def test_an_unfinished_build_is_deleted_and_rebuilt(tmp_path):
    with bc.acquire(KEY, root=tmp_path) as a:
        a.begin()
        (a.project / "a.o").write_bytes(b"half an obj")  # e.g. the compiler failed here
    with bc.acquire(KEY, root=tmp_path) as b:
        assert (b.entry, b.status, b.reason) == (a.entry, "miss", "incomplete")
        assert not (b.project / "a.o").exists()
        assert _build(b) == ["a.o", "b.o"]


def test_a_build_killed_midway_is_detected_and_its_lock_released(tmp_path):
    """A process SIGKILLed while compiling: the kernel drops its lock, the next run rebuilds."""
    code = (
        "import os, signal; from sleep_brian import build_cache as bc\n"
        f"with bc.acquire({KEY!r}, root={str(tmp_path)!r}) as l:\n"
        "    l.begin(); (l.project / 'a.o').write_bytes(b'trunc'); print(l.entry, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    killed = Path(proc.stdout.strip())
    assert json.loads((killed / "state.json").read_text())["state"] == "building"
    with bc.acquire(KEY, root=tmp_path) as b:
        assert (b.entry, b.status, b.reason) == (killed, "miss", "incomplete")  # not "busy": unlocked
        assert not (b.project / "a.o").exists()


@pytest.mark.parametrize("damage", ["truncate", "delete", "replace"])
def test_a_damaged_binary_is_never_used(tmp_path, damage):
    with bc.acquire(KEY, root=tmp_path) as a:
        _build(a, binary=b"program" * 1000)
    binary = a.project / "main"
    if damage == "truncate":
        binary.write_bytes(binary.read_bytes()[:100])
    elif damage == "delete":
        binary.unlink()
    else:
        binary.write_bytes(b"another program")
    with bc.acquire(KEY, root=tmp_path) as b:
        assert (b.status, b.reason) == ("miss", "corrupt")
        assert not (b.project / "a.o").exists() and not (b.project / "main").exists()


def test_a_new_key_starts_from_a_complete_build_of_its_family(tmp_path):
    family = {"model": "fake"}
    with bc.acquire({"n": 1}, root=tmp_path, family=family) as a:
        assert a.copied_from is None  # nothing to start from
        _build(a)
    with bc.acquire({"n": 2}, root=tmp_path, family={"model": "other"}) as other:
        assert other.copied_from is None and not (other.project / "a.o").exists()
    with bc.acquire({"n": 3}, root=tmp_path, family=family) as b:
        assert (b.status, b.reason, b.copied_from) == ("miss", "new", a.entry)
        assert (b.project / "a.o").stat().st_mtime_ns == (a.project / "a.o").stat().st_mtime_ns
        b.begin()
        (b.project / "b.o").write_bytes(b"rebuilt")  # what make would rebuild for a changed source
        assert b.complete() == ["b.o"] and b.info()["cache_copied_from"] == str(a.entry)
    # an entry in use, or a broken one, is never copied
    (a.project / "main").write_bytes(b"damaged")
    (b.project / "main").write_bytes(b"damaged too")
    with bc.acquire({"n": 4}, root=tmp_path, family=family) as c:
        assert c.copied_from is None and not (c.project / "a.o").exists()
        _build(c)
        with bc.acquire({"n": 5}, root=tmp_path, family=family) as d:
            assert d.copied_from is None


def test_entries_are_evicted_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setenv(bc.MAX_ENTRIES_ENV, "3")
    entries = []
    for n in range(3):
        with bc.acquire({"n": n}, root=tmp_path) as lease:
            _build(lease)
        entries.append(lease.entry)
        time.sleep(0.01)
    with bc.acquire({"n": 0}, root=tmp_path) as lease:  # 0 is now the most recently used
        assert lease.status == "hit"
    time.sleep(0.01)
    with bc.acquire({"n": 3}, root=tmp_path) as lease:
        _build(lease)
    entries.append(lease.entry)
    assert [e.exists() for e in entries] == [True, False, True, True]  # 1 was the least recently used
    # by size: keep at most what the two largest need; entries in use are never evicted
    with bc.acquire({"n": 4}, root=tmp_path) as held:
        _build(held, binary=b"x" * 100_000)
        removed = bc.evict(tmp_path, max_entries=1, max_bytes=0)
        assert held.entry.exists() and held.entry not in removed and len(removed) == 3
    assert bc.evict(tmp_path, max_entries=10, max_bytes=50_000) == [held.entry]
    assert bc.info(tmp_path)["entries"] == []


def test_info_and_clear(tmp_path):
    with bc.acquire(KEY, root=tmp_path, label="fake model") as a:
        _build(a)
    with bc.acquire({"other": 1}, root=tmp_path) as held:
        s = bc.info(tmp_path)
        assert s["enabled"] and s["root"] == str(tmp_path) and len(s["entries"]) == 2
        by_path = {e["path"]: e for e in s["entries"]}
        assert by_path[str(a.entry)]["label"] == "fake model" and by_path[str(a.entry)]["state"] == "complete"
        assert by_path[str(held.entry)]["in_use"] and not by_path[str(a.entry)]["in_use"]
        assert s["bytes"] == sum(e["bytes"] for e in s["entries"]) > 0
        out = bc.clear(tmp_path)
        assert (out["removed"], out["busy"]) == (1, 1) and not a.entry.exists() and held.entry.exists()
    assert bc.clear(tmp_path)["removed"] == 1 and bc.info(tmp_path)["entries"] == []
    assert not [p for p in (tmp_path / bc.LAYOUT).iterdir() if p.name != ".trash"]  # key folders pruned too


def test_cli_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(bc.CACHE_ENV, str(tmp_path))
    with bc.acquire(KEY, label="fake model") as a:
        _build(a)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "1 entries" in out and "fake model" in out and "complete" in out
    assert main(["cache", "clear"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert main(["cache"]) == 0 and "0 entries" in capsys.readouterr().out
    monkeypatch.setenv(bc.CACHE_ENV, "off")
    assert main(["cache", "info"]) == 0 and "build cache: off" in capsys.readouterr().out


def test_main_queue_order_is_made_reproducible():
    """Brian2 emits the clock resets and clock-only network entries in set order (by object id)."""

    class FakeDevice:
        main_queue = [
            ("seed", 3),
            ("set_by_single_value", ("_array_b_clock_t", 0, "0.0")),
            ("set_by_single_value", ("_array_a_clock_t", 0, "0.0")),
            ("run_network", (None, ["net.clear();", "net.add(&b_clock, _run_x);", "net.add(&z_clock, NULL);",
                                    "net.add(&c_clock, NULL);", "net.run(1.0, NULL, 10.0);"])),  # fmt: skip
            ("set_by_single_value", ("_array_v", 0, "1")),
            ("set_by_single_value", ("_array_v", 0, "2")),  # same element twice: order kept
        ]

    dev = FakeDevice()
    devices._canonical_main_queue(dev)
    assert [e[1][0] for e in dev.main_queue if e[0] == "set_by_single_value"] == ["_array_a_clock_t", "_array_b_clock_t", "_array_v", "_array_v"]
    assert dev.main_queue[-1][1][2] == "2"
    assert dev.main_queue[3][1][1] == ["net.clear();", "net.add(&b_clock, _run_x);", "net.add(&c_clock, NULL);",
                                       "net.add(&z_clock, NULL);", "net.run(1.0, NULL, 10.0);"]  # fmt: skip


@pytest.mark.standalone
def test_target_says_when_and_why_the_cache_is_off(tmp_path, monkeypatch):
    monkeypatch.setenv(bc.CACHE_ENV, str(tmp_path / "cache"))
    cases = {
        "no cache key given": {},
        "build_root given": {"build_root": tmp_path / "builds", "cache_key": KEY},
        "keep_build": {"keep_build": True, "cache_key": KEY, "build_root": None},
    }
    for why, kw in cases.items():
        with devices.target("cpp_standalone", **kw) as dev:
            assert dev.cache is None and dev.timings["cache"] == "off" and why in dev.timings["cache_reason"]
        if kw.get("keep_build"):
            import shutil

            shutil.rmtree(dev.directory)
    with devices.target("cpp_standalone", cache_key=KEY) as dev:
        assert dev.timings["cache"] == "miss" and dev.directory == dev.cache.project
        assert str(tmp_path / "cache") in str(dev.directory)
    # a cache folder that cannot be used: build without it, and say so
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(bc.CACHE_ENV, str(tmp_path / "a_file"))
    with devices.target("cpp_standalone", cache_key=KEY) as dev:
        assert dev.cache is None and "cache unusable" in dev.timings["cache_reason"] and dev.directory.exists()
    monkeypatch.setenv(bc.CACHE_ENV, "off")
    with devices.target("cpp_standalone", cache_key=KEY) as dev:
        assert dev.timings["cache_reason"] == f"{bc.CACHE_ENV}=off"


def test_the_toolchain_names_what_a_binary_depends_on():
    t = devices.toolchain("cpp_standalone")
    assert t["brian2"] == b2.__version__ and t["target"] == "cpp_standalone"
    assert t["compiler"] and t["cpu"] is not None and "extra_compile_args_gcc" in t["codegen.cpp"]


# --------------------------------------------------------------------------------------------
# Real builds: the default model on digits, a tiny schedule

TINY = dict(sleep_fraction=0.25, n_train=20, n_fit=20, n_test=10, presentation=100 * ms, wake_block=1 * second)


def _config(seed: int) -> RunConfig:
    """Also built by the child processes of the concurrency test (they import this module)."""
    return RunConfig(dataset="digits", seed=seed, schedule=ScheduleParams(**TINY), device="cpp_standalone")


def _same(a, b) -> None:
    """Every array and every summary of two results (a RunResult, or a child's saved one)."""
    assert set(a.arrays) == set(b.arrays)
    for k in sorted(a.arrays):
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)
    for part in ("accuracy", "weights", "rates", "population_rates", "stability"):
        # as JSON: NaN (a rank correlation of constant weights) then compares equal
        assert json.dumps(a.record[part], sort_keys=True, default=str) == json.dumps(b.record[part], sort_keys=True, default=str), part


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A run with the cache off, and the same run filling an empty cache (two full builds)."""
    root = tmp_path_factory.mktemp("build_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(bc.CACHE_ENV, "off")
        off = run(_config(1), progress=False)
        mp.setenv(bc.CACHE_ENV, str(root))
        first = run(_config(1), progress=False)
    return root, off, first


@pytest.mark.standalone
@pytest.mark.slow
def test_first_build_fills_the_cache_with_the_same_results(warm):
    _, off, first = warm
    assert off.record["timings"]["cache"] == "off" and bc.CACHE_ENV in off.record["timings"]["cache_reason"]
    t = first.record["timings"]
    assert (t["cache"], t["cache_reason"]) == ("miss", "new")
    assert t["recompiled"] == t["n_objects"] > 20  # everything compiled
    _same(off, first)


@pytest.mark.standalone
@pytest.mark.slow
def test_second_run_compiles_nothing_and_gives_the_same_results(warm, monkeypatch):
    root, off, first = warm
    monkeypatch.setenv(bc.CACHE_ENV, str(root))
    again = run(_config(1), progress=False)
    t = again.record["timings"]
    assert t["cache"] == "hit" and t["cache_entry"] == first.record["timings"]["cache_entry"]
    assert t["recompiled"] == 0 and t["n_objects"] == first.record["timings"]["n_objects"]
    _same(off, again)


def _child(seed: int, out: Path, barrier: Path) -> subprocess.Popen:
    """A process that runs ``_config(seed)`` and, once it holds a cache entry, waits until the
    other one holds one too: both then build and run at the same time."""
    code = f"""
import contextlib, json, os, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, {str(Path(__file__).parent)!r})
from sleep_brian import build_cache
import test_build_cache as t
from sleep_brian.experiment import run

real, barrier = build_cache.acquire, Path({str(barrier)!r})

@contextlib.contextmanager
def held(*args, **kw):
    with real(*args, **kw) as lease:
        (barrier / str(os.getpid())).write_text(str(lease.entry))
        deadline = time.time() + 600
        while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.05)
        yield lease

build_cache.acquire = held
r = run(t._config({seed}), progress=False)
out = Path({str(out)!r})
np.savez(out / "arrays.npz", **r.arrays)
(out / "record.json").write_text(json.dumps(r.record, default=str))
"""
    out.mkdir(parents=True)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class _Saved:
    def __init__(self, folder: Path):
        with np.load(folder / "arrays.npz") as z:
            self.arrays = {k: z[k] for k in z.files}
        self.record = json.loads((folder / "record.json").read_text())


@pytest.mark.standalone
@pytest.mark.slow
def test_other_seed_and_concurrent_runs_and_a_broken_entry(warm, monkeypatch, tmp_path):
    """Seed 2 in the warm entry recompiles only the files that hold its seed and array sizes;
    then, with that entry's binary truncated, two processes start seed 2 at the same moment:
    one finds the broken entry and rebuilds it, the other, finding it in use, builds its own.
    All three results are the same, bit for bit (a stale object would show here)."""
    root, _, first = warm
    monkeypatch.setenv(bc.CACHE_ENV, str(root))
    solo = run(_config(2), progress=False)
    t = solo.record["timings"]
    assert t["cache"] == "hit" and 0 < t["recompiled"] < t["n_objects"] / 2
    assert not np.array_equal(solo.arrays["i_input_e"], first.arrays["i_input_e"])  # really another seed

    entry = Path(t["cache_entry"])
    binary = entry / "project" / "main"
    binary.write_bytes(binary.read_bytes()[: binary.stat().st_size // 2])  # as if killed while linking
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env_out = [tmp_path / "a", tmp_path / "b"]
    procs = [_child(2, out, barrier) for out in env_out]
    for p in procs:
        log, _ = p.communicate(timeout=1800)
        assert p.returncode == 0, log[-3000:]
    a, b = (_Saved(out) for out in env_out)
    ta, tb = a.record["timings"], b.record["timings"]
    assert ta["cache_entry"] != tb["cache_entry"], "two concurrent runs built in one folder"
    assert sorted([ta["cache_reason"], tb["cache_reason"]]) == ["busy", "corrupt"]
    assert ta["cache"] == tb["cache"] == "miss"
    assert ta["recompiled"] == ta["n_objects"] and tb["recompiled"] == tb["n_objects"]
    _same(solo, a)
    _same(solo, b)
    entries = {e["path"]: e for e in bc.info(root)["entries"]}
    assert entries[ta["cache_entry"]]["state"] == entries[tb["cache_entry"]]["state"] == "complete"


@pytest.mark.standalone
@pytest.mark.slow
@pytest.mark.skipif(not devices.reuse_supported("cpp_standalone"), reason="needs brian2 >= 2.6 (run_args)")
def test_a_sweeps_shared_build_is_cached_too(tmp_path, monkeypatch):
    monkeypatch.setenv(bc.CACHE_ENV, str(tmp_path))
    first = run_many([_config(1)], progress=False)[0]
    again = run_many([_config(1)], progress=False)[0]
    b1, b2_ = first.record["build"], again.record["build"]
    assert b1["reused"] and (b1["cache"], b1["cache_reason"]) == ("miss", "new")
    assert b2_["cache"] == "hit" and b2_["recompiled"] == 0 and b2_["directory"] == b1["directory"]
    _same(first, again)
