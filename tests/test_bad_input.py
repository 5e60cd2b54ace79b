"""Bad input is refused early, with a message that names the problem and the fix, and no record.

Every case goes through the real command-line entry point ``sleep_brian.cli.main``:

* argparse-level errors exit with ``SystemExit(2)`` and print ``usage`` + the message on stderr;
* library-level errors make ``main`` return 2 and print ``sleep-brian: error: ...`` on stderr.

In both cases the ``--out`` folder must not exist or be empty afterwards (hidden temporary
folders count: nothing is ignored). No case here simulates anything except the one test that
checks an existing record is never damaged (a tiny numpy-target run, a few seconds).
"""

from __future__ import annotations

import struct

import brian2 as b2
import numpy as np
import pytest

from sleep_brian import errors, experiment
from sleep_brian.cli import build_parser, config_from_args, main
from sleep_brian.errors import ConfigError, DataError, DeviceError, SleepBrianError
from sleep_brian.experiment import RunConfig, run
from sleep_brian.models.paper import NeuronParams
from sleep_brian.params import ScheduleParams

# A run small enough for the numpy target (a few seconds), used as the base of every case; the
# case's own options come after it, and argparse lets the last occurrence of an option win.
TINY = [
    "--device", "numpy",
    "--n-train", "20", "--n-fit", "10", "--n-test", "10",
    "--wake-block", "1s", "--presentation", "20ms",
    "--quiet",
]


def _argv(out, *extra):
    return ["run", *TINY, "--out", str(out), *extra]


def _assert_no_record(out):
    """``out`` does not exist, or is an empty folder (hidden entries included)."""
    if out.exists():
        left = sorted(p.name for p in out.iterdir())
        assert left == [], f"bad input left something in --out: {left}"


# --------------------------------------------------------------------------------------------
# IDX fixtures
# --------------------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    """A valid uint8 IDX file (the MNIST format) holding ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


@pytest.fixture
def corrupt_idx_dir(tmp_path):
    """Four IDX files, three valid, the training images truncated mid-payload."""
    d = tmp_path / "corrupt_idx"
    d.mkdir()
    train_images = _idx_bytes(np.zeros((20, 28, 28), np.uint8))
    (d / "train-images-idx3-ubyte").write_bytes(train_images[:500])  # header says 15680 bytes
    (d / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(20) % 10))
    (d / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    (d / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(10) % 10))
    return d


# --------------------------------------------------------------------------------------------
# Command-line cases
# --------------------------------------------------------------------------------------------

# id -> (extra argv, fragments that must all appear on stderr). ``{tmp}`` is tmp_path,
# ``{corrupt}`` the corrupt IDX folder.
ARGPARSE_CASES = {
    "sleep_above_one": (
        ["--sleep", "1.5"],
        ["--sleep", "1.5", "outside [0, 1]", "e.g. 0.1"],
    ),
    "sleep_negative": (
        ["--sleep", "-0.1"],
        ["--sleep", "-0.1", "outside [0, 1]", "e.g. 0.1"],
    ),
    "sleep_not_a_number": (
        ["--sleep", "abc"],
        ["--sleep", "'abc' is not a number", "fraction in [0, 1]", "e.g. 0.1"],
    ),
    "sleep_nan": (
        ["--sleep", "nan"],
        ["--sleep", "outside [0, 1]"],
    ),
    "presentation_without_unit": (
        ["--presentation", "100"],
        ["--presentation", "'100' has no unit", "'100ms'"],
    ),
    "presentation_wrong_unit": (
        ["--presentation", "100mV"],
        ["--presentation", "wrong unit", "needs a unit of ms"],
    ),
    "presentation_unreadable": (
        ["--presentation", "fast"],
        ["--presentation", "cannot read 'fast'", "'100ms'"],
    ),
    "wake_block_unknown_unit": (
        ["--wake-block", "35 parsecs"],
        ["--wake-block", "unknown unit", "'100second'"],
    ),
    "negative_seed": (
        ["--seed", "-1"],
        ["--seed", "-1", "must be >= 0"],
    ),
    "seed_not_integer": (
        ["--seed", "1.5"],
        ["--seed", "'1.5' is not a whole number"],
    ),
    "n_train_zero": (
        ["--n-train", "0"],
        ["--n-train", "0 must be a positive whole number"],
    ),
    "epochs_not_integer": (
        ["--epochs", "two"],
        ["--epochs", "'two' is not a whole number"],
    ),
    "unknown_sleep_rule": (
        ["--sleep-rule", "nap"],
        ["--sleep-rule", "invalid choice: 'nap'", "power", "stochastic"],
    ),
}

LIBRARY_CASES = {
    "unknown_device": (
        ["--device", "gpu"],
        ["unknown device 'gpu'", "choose one of", "numpy", "cpp_standalone"],
        DeviceError,
    ),
    "presentation_zero": (
        ["--presentation", "0ms"],
        ["presentation", "must be > 0"],
        ConfigError,
    ),
    "wake_block_zero": (
        ["--wake-block", "0s"],
        ["wake_block", "must be > 0"],
        ConfigError,
    ),
    "unknown_dataset": (
        ["--dataset", "cifar"],
        ["unknown dataset 'cifar'", "expected one of", "digits", "mnist"],
        ConfigError,
    ),
    "idx_dir_missing": (
        ["--dataset", "mnist", "--data-dir", "{tmp}/nonexistent"],
        ["could not find the IDX files", "'mnist'", "{tmp}/nonexistent", "does not exist", "--data-dir",
         "SLEEP_BRIAN_MNIST_DIR", "Nothing is downloaded"],
        DataError,
    ),
    "idx_file_corrupt": (
        ["--dataset", "mnist", "--data-dir", "{corrupt}"],
        ["{corrupt}/train-images-idx3-ubyte", "truncated", "15680", "reinstall"],
        DataError,
    ),
    "n_fit_above_n_train": (
        ["--n-train", "5", "--n-fit", "10"],
        ["n_fit = 10 exceeds n_train = 5", "lower n_fit or raise n_train"],
        ConfigError,
    ),
    "n_test_above_available": (
        ["--n-test", "100000"],
        ["n_test=100000 exceeds", "450 images available", "Lower n_test"],
        ConfigError,
    ),
    "unknown_model": (
        ["--model", "nope"],
        ["unknown model 'nope'", "choose one of", "paper", "authors"],
        ConfigError,
    ),
}


def _fill(items, tmp_path, corrupt):
    return [s.format(tmp=tmp_path, corrupt=corrupt) for s in items]


@pytest.mark.parametrize("case", sorted(ARGPARSE_CASES))
def test_cli_rejects_bad_option_value(case, tmp_path, capsys):
    extra, fragments = ARGPARSE_CASES[case]
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as exc:
        main(_argv(out, *extra))
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "usage:" in captured.err
    for frag in fragments:
        assert frag in captured.err, f"{frag!r} missing from: {captured.err}"
    assert captured.out == ""
    _assert_no_record(out)


@pytest.mark.parametrize("case", sorted(LIBRARY_CASES))
def test_cli_reports_library_error(case, tmp_path, corrupt_idx_dir, capsys):
    extra, fragments, _ = LIBRARY_CASES[case]
    extra, fragments = _fill(extra, tmp_path, corrupt_idx_dir), _fill(fragments, tmp_path, corrupt_idx_dir)
    out = tmp_path / "runs"
    rc = main(_argv(out, *extra))
    captured = capsys.readouterr()
    assert rc == 2, captured
    assert captured.err.startswith("sleep-brian: error: "), captured.err
    for frag in fragments:
        assert frag in captured.err, f"{frag!r} missing from: {captured.err}"
    assert "Traceback" not in captured.err
    assert captured.out == ""  # no summary of a run that did not happen
    _assert_no_record(out)


@pytest.mark.parametrize("case", sorted(LIBRARY_CASES))
def test_library_error_is_a_sleep_brian_error(case, tmp_path, corrupt_idx_dir):
    """The same inputs through config_from_args + run raise the documented SleepBrianError subclass."""
    extra, _, expected = LIBRARY_CASES[case]
    out = tmp_path / "runs"
    args = build_parser().parse_args(_argv(out, *_fill(extra, tmp_path, corrupt_idx_dir)))
    with pytest.raises(SleepBrianError) as exc:
        run(config_from_args(args), out_dir=out, progress=False)
    assert isinstance(exc.value, expected), type(exc.value)
    _assert_no_record(out)


def test_at_least_twelve_kinds_of_bad_input_are_covered():
    assert len(ARGPARSE_CASES) + len(LIBRARY_CASES) >= 12


# --------------------------------------------------------------------------------------------
# An existing record is never overwritten or damaged
# --------------------------------------------------------------------------------------------


def test_existing_record_is_kept_unless_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a run might drop in the working folder lands here
    out = tmp_path / "runs"
    argv = _argv(out)

    assert main(argv) == 0
    capsys.readouterr()
    entries = sorted(p.name for p in out.iterdir())
    assert len(entries) == 1 and not entries[0].startswith("."), entries
    record_dir = out / entries[0]
    record_bytes = (record_dir / "record.json").read_bytes()
    arrays_bytes = (record_dir / "arrays.npz").read_bytes()

    # Same run again, without --overwrite: refused before loading data or simulating, nothing touched.
    def must_not_run(*args, **kwargs):
        raise AssertionError("a run with an existing record went on to plan/simulate")

    with monkeypatch.context() as m:
        m.setattr(experiment, "plan", must_not_run)
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err, err
    assert str(record_dir) in err
    assert sorted(p.name for p in out.iterdir()) == entries
    assert (record_dir / "record.json").read_bytes() == record_bytes
    assert (record_dir / "arrays.npz").read_bytes() == arrays_bytes

    # With --overwrite it runs and replaces the record in place, leaving no temporary folders.
    assert main([*argv, "--overwrite"]) == 0
    stdout = capsys.readouterr().out
    assert f"record: {record_dir}" in stdout
    assert sorted(p.name for p in out.iterdir()) == entries
    from sleep_brian.store import load_record

    rec = load_record(record_dir)
    assert rec["name"] == entries[0]
    assert rec["device"] == "numpy"
    assert (record_dir / "arrays.npz").exists()


# --------------------------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------------------------


def test_error_classes_share_one_base():
    for cls in (ConfigError, DataError, DeviceError):
        assert issubclass(cls, SleepBrianError)
        assert issubclass(cls, errors.SleepBrianError)
    assert issubclass(ConfigError, ValueError) and issubclass(DataError, ValueError)
    assert issubclass(DeviceError, RuntimeError)
    import sleep_brian

    assert sleep_brian.SleepBrianError is SleepBrianError
    assert sleep_brian.ConfigError is ConfigError


def test_plain_number_for_a_time_constant():
    with pytest.raises(ConfigError) as exc:
        NeuronParams(tau_m=30)
    assert isinstance(exc.value, SleepBrianError)
    msg = str(exc.value)
    assert "tau_m" in msg and "plain number" in msg and "ms" in msg
    assert "brian2.ms" in msg  # the fix: multiply by the unit


def test_wrong_dimension_for_a_time_constant():
    with pytest.raises(ConfigError) as exc:
        NeuronParams(tau_m=30 * b2.mV)
    assert isinstance(exc.value, SleepBrianError)
    msg = str(exc.value)
    assert "tau_m" in msg and "wrong unit" in msg and "needs a unit of ms" in msg


@pytest.mark.parametrize("value", [2, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_sleep_fraction_out_of_range_or_not_a_number(value):
    with pytest.raises(ConfigError) as exc:
        ScheduleParams(sleep_fraction=value)
    assert isinstance(exc.value, SleepBrianError)
    msg = str(exc.value)
    assert "sleep_fraction" in msg and "[0, 1]" in msg and "e.g. 0.1" in msg


def test_unknown_device_in_run_config():
    with pytest.raises(DeviceError) as exc:
        RunConfig(device="nope")
    assert isinstance(exc.value, SleepBrianError)
    msg = str(exc.value)
    assert "unknown device 'nope'" in msg and "numpy" in msg and "cpp_standalone" in msg


@pytest.mark.parametrize("seed", [-1, 1.5, True, "1"])
def test_bad_seed_in_run_config(seed):
    with pytest.raises(ConfigError, match="seed"):
        RunConfig(seed=seed, device="numpy")


def test_n_fit_above_n_train_in_run_config():
    with pytest.raises(ConfigError, match="n_fit = 10 exceeds n_train = 5"):
        RunConfig(schedule=ScheduleParams(n_train=5, n_fit=10), device="numpy")


@pytest.mark.parametrize("field, value", [("n_train", 0), ("n_fit", -3), ("n_test", 2.5), ("epochs", True)])
def test_bad_counts_in_schedule(field, value):
    with pytest.raises(ConfigError, match=f"ScheduleParams.{field}") as exc:
        ScheduleParams(**{field: value})
    assert "positive integer" in str(exc.value)


def test_network_operation_lowering_needs_a_runtime_device(tmp_path, capsys):
    from sleep_brian.cli import main

    out = tmp_path / "runs"
    rc = main(["run", "--device", "cpp_standalone", "--lowering", "network_operation", "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "network_operation" in err and "numpy" in err
    assert not out.exists()
