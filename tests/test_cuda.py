"""The CUDA standalone target (brian2cuda): clear errors where it is missing, code generation and
nvcc compilation of a whole protocol where brian2cuda and nvcc are present (no GPU needed), and
a run where a GPU is visible.

brian2cuda pins one brian2 release, so it lives in its own environment: ``nox -s cuda`` (CI runs
it). In the default environment the compile test is skipped with that reason, and the checks
that run everywhere cover the error paths.
"""

import sys

import brian2 as b2
import pytest

from sleep_brian import devices
from sleep_brian.errors import DeviceError
from sleep_brian.experiment import RunConfig, plan
from sleep_brian.params import ScheduleParams

ms = b2.ms

SMALL = ScheduleParams(n_train=20, n_fit=20, n_test=20, presentation=100 * ms, wake_block=1 * b2.second, sleep_fraction=0.2)


def _cuda_missing(compile_only=True) -> str:
    try:
        devices.check_device("cuda_standalone", compile_only=compile_only)
    except DeviceError as exc:
        return str(exc)
    return ""


def test_cuda_without_brian2cuda_says_how(monkeypatch):
    monkeypatch.setitem(sys.modules, "brian2cuda", None)  # `import brian2cuda` raises ImportError
    with pytest.raises(DeviceError, match=r"pip install 'sleep-brian\[cuda\]'"):
        RunConfig(device="cuda_standalone")


def test_cuda_run_without_a_gpu_says_compile_only_works(monkeypatch):
    """With brian2cuda, nvcc and cuRAND present but no GPU, a run is refused before the
    (minutes-long) compilation, naming what does work."""
    import types

    monkeypatch.setitem(sys.modules, "brian2cuda", types.ModuleType("brian2cuda"))
    monkeypatch.setattr(devices, "_nvcc_version", lambda: 13.0)
    monkeypatch.setattr(devices, "_curand_dirs", lambda: ("/inc", "/lib"))
    monkeypatch.setattr(devices, "gpu_visible", lambda: False)
    with pytest.raises(DeviceError, match="nvidia-smi lists none") as exc:
        devices.check_device("cuda_standalone")
    assert "compile_only=True" in str(exc.value) and "cpp_standalone" in str(exc.value)
    assert devices.check_device("cuda_standalone", compile_only=True) == "cuda_standalone"


def test_cuda_runs_the_cpu_devices_lowering_and_genn_the_single_clock_one():
    """CUDA builds the timed_array lowering on the default clock (its stand-in on numpy:
    tests/test_sleep_exit.py::test_on_the_default_clock_it_is_the_same_run)."""
    assert devices.lowering_for("cuda_standalone") == "timed_array"
    assert devices.lowering_for("genn") == "single_clock"


@pytest.mark.slow
@pytest.mark.skipif(bool(_cuda_missing()), reason=f"cannot compile for CUDA here: {_cuda_missing()}")
def test_protocol_generates_and_compiles_for_cuda(tmp_path):
    """The authors' protocol (wake/sleep training with their stochastic sleep and its early end,
    test) of three runs (other seeds and sleep fractions) as replicas of one CUDA simulation,
    through code generation and nvcc without running it (no GPU needed): the timed_array
    lowering on the default clock, with the sleep exit's controller, linked variables, custom
    events and reducers, the decay events, neuron traces and the noise of sleeping neurons, per
    replica. One compile stands for the single run and for the other models: a run alone is the
    one-replica case of the same builder, and the corrected models use the same parts without
    the exit (each nvcc compile costs CI about 11 minutes)."""
    from sleep_brian.experiment import Streams
    from sleep_brian.network import Replica, build_replicas

    runs = []
    for seed, sleep in ((1, 0.2), (2, 0.4), (3, 0.0)):
        config = RunConfig(model="authors", schedule=SMALL.replace(sleep_fraction=sleep), seed=seed)
        pl = plan(config)
        runs.append(Replica(pl.timeline, pl.images, Streams.derive(config.model, seed).connectivity))
    assert config.model.sleep_exit is not None
    with devices.target("cuda_standalone", build_root=tmp_path, keep_build=True, compile_only=True) as dev:
        dev.seed(1)
        built = build_replicas(config.model, runs, lowering=devices.lowering_for("cuda_standalone"))
        dev.compile(built.net, max(r.timeline.n_steps for r in runs) * config.model.dt)
        directory = dev.directory
    assert (directory / "main").exists(), "nvcc produced no program"
    assert built.layout.k == 3 and len(built.groups["exc"]) == 600 and len(built.net["sleep_exit"]) == 3
    assert {g.clock.name for g in built.groups.values()} == {"defaultclock"}
    names = [p.name for p in (directory / "code_objects").glob("*.cu")]
    for part in ("e_e_pre", "e_e_exit_sum", "exc_exit_check", "sleep_exit_exc", "sleep_exit_run_regularly"):
        assert any(part in n for n in names), f"no CUDA code object for {part}"
    print(f"compiled 3 replicas ({len(names)} CUDA code objects) in {dev.timings['compile_s']:.0f} s")


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.skipif(bool(_cuda_missing(compile_only=False)), reason=f"no CUDA run here: {_cuda_missing(False)}")
def test_cuda_run_agrees_with_cpp_standalone(tmp_path):
    """On a GPU: the small protocol on CUDA and cpp_standalone. cuRAND draws other random numbers,
    so as for GeNN (tests/test_genn.py): spike totals within 20 %, mean weights within 1 %."""
    from sleep_brian.experiment import run

    out = {d: run(RunConfig(device=d, schedule=SMALL, control=False), progress=False, build_root=tmp_path)
           for d in ("cuda_standalone", "cpp_standalone")}  # fmt: skip
    n_g, n_c = (out[d].arrays["counts_test"].sum() for d in ("cuda_standalone", "cpp_standalone"))
    assert abs(n_g - n_c) <= 0.2 * n_c, (n_g, n_c)
    for pw, e in out["cpp_standalone"].record["weights"].items():
        assert out["cuda_standalone"].record["weights"][pw]["final"]["mean"] == pytest.approx(e["final"]["mean"], rel=0.01)


def test_cli_reports_a_missing_brian2cuda_and_writes_nothing(monkeypatch, tmp_path, capsys):
    from sleep_brian.cli import main

    monkeypatch.setitem(sys.modules, "brian2cuda", None)
    assert main(["run", "--device", "cuda_standalone", "--out", str(tmp_path)]) == 2
    assert "pip install 'sleep-brian[cuda]'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
