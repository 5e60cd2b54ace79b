"""Result records: one folder per run, written atomically.

A record folder holds ``record.json`` (parameters with units, seed, device, library versions,
metrics, timings) and ``arrays.npz`` (weights, connectivity, responses). It is first written to a
hidden temporary folder next to its final place and then renamed, so a reader (or a sweep that
resumes after a crash) sees either a whole record or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from sleep_brian.errors import ConfigError, DataError

__all__ = [
    "config_key",
    "check_writable",
    "recover",
    "save",
    "load_record",
    "load_arrays",
    "load_records",
    "load",
    "flatten",
    "untrained_column",
    "RECORD_FILE",
    "ARRAYS_FILE",
]

RECORD_FILE = "record.json"
ARRAYS_FILE = "arrays.npz"


def config_key(config: dict) -> str:
    """A short stable hash of a JSON-safe configuration (identifies a run)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in a record")


def recover(out_dir) -> list[Path]:
    """Put back records that an interrupted overwrite left moved aside; return their paths.

    :func:`save` replaces a record by moving the old one into ``.NAME.old-*/r`` and renaming the
    new one into place. If the process died in between, the old record is still whole there.
    """
    out_dir = Path(out_dir)
    restored = []
    for moved in sorted(out_dir.glob(".*.old-*/r")):
        name = moved.parent.name[1:].rsplit(".old-", 1)[0]
        final = out_dir / name
        if not final.exists() and (moved / RECORD_FILE).exists():
            os.rename(moved, final)
            shutil.rmtree(moved.parent, ignore_errors=True)
            restored.append(final)
    return restored


def save(out_dir, name: str, record: dict, arrays: dict | None = None, *, overwrite: bool = False) -> Path:
    """Write a record folder ``out_dir/name`` atomically and return its path.

    Raises
    ------
    ConfigError
        If the record exists and ``overwrite`` is false (nothing is touched then).
    """
    out_dir = Path(out_dir)
    final = out_dir / name
    if out_dir.is_dir():
        recover(out_dir)
    if final.exists() and not overwrite:
        raise ConfigError(f"a record already exists at {final}; choose another --out or pass --overwrite.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out_dir}: {exc}") from exc
    # Serialise first: a record that cannot be encoded must not leave anything behind.
    text = json.dumps(record, indent=2, sort_keys=True, default=_json_default)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out_dir))
    # mkdtemp makes a private (0700) folder; a record should be as readable as a normal folder.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        if arrays:
            with open(tmp / ARRAYS_FILE, "wb") as fh:
                np.savez_compressed(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
        with open(tmp / RECORD_FILE, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if final.exists():  # overwrite: move the old one aside, then swap
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=out_dir))
            os.rename(final, old / "r")
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old / "r", final)  # put the old record back before giving up
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def check_writable(out_dir) -> None:
    """Raise :class:`ConfigError` now if records cannot be written under ``out_dir``."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=".probe-", dir=out_dir))
        probe.rmdir()
    except OSError as exc:
        raise ConfigError(f"cannot write records to {out_dir}: {exc}; choose another --out.") from exc


def check_new(out_dir, name: str, overwrite: bool) -> None:
    """Before a run: refuse to replace the record ``name`` unless ``overwrite``, and check that
    ``out_dir`` is writable (nothing to check when ``out_dir`` is None)."""
    if out_dir is None:
        return
    if (Path(out_dir) / name).exists() and not overwrite:
        raise ConfigError(f"a record already exists at {Path(out_dir) / name}; pass overwrite=True (--overwrite).")
    check_writable(out_dir)


def load_record(path) -> dict:
    """The ``record.json`` of a record folder.

    Raises
    ------
    ConfigError
        No record there.
    DataError
        The file is not valid JSON (damaged or truncated by hand).
    """
    path = Path(path)
    f = path / RECORD_FILE if path.is_dir() else path
    if not f.exists():
        raise ConfigError(f"no record at {path} (expected {RECORD_FILE}).")
    try:
        with open(f) as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{f} is not a readable record ({exc}); restore it or delete its folder.") from exc


def load_arrays(path) -> dict:
    """The arrays of a record folder, as a dict of numpy arrays."""
    f = Path(path) / ARRAYS_FILE
    if not f.exists():
        return {}
    try:
        with np.load(f) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{f} is not a readable array file ({exc}); restore it or delete its folder.") from exc


def load_records(path) -> list[dict]:
    """All complete records under ``path``, as dicts.

    Hidden folders (records being written, or moved aside by an interrupted overwrite) are
    ignored; a damaged record is skipped with a warning so that one bad file does not hide the
    rest of a sweep.
    """
    path = Path(path)
    for restored in recover(path):
        warnings.warn(f"restored {restored}, left aside by an interrupted overwrite", stacklevel=2)
    out = []
    for f in sorted(path.glob(f"*/{RECORD_FILE}")):
        if f.parent.name.startswith("."):
            continue
        try:
            out.append(load_record(f))
        except DataError as exc:
            warnings.warn(str(exc), stacklevel=2)
    return out


def flatten(record: dict) -> dict:
    """One table row of a record: its configuration, status, accuracies, rates, weight summary,
    flags and timings as scalar columns (a failed run has its ``error`` and no results)."""
    cfg = record.get("config", {})
    sched, params = cfg.get("schedule", {}), cfg.get("params", {})
    row = {
        "name": record.get("name"),
        "status": record.get("status", "ok"),
        "dataset": cfg.get("dataset"),
        "variant": cfg.get("variant") or cfg.get("model"),
        "model": cfg.get("model"),
        "sleep_fraction": sched.get("sleep_fraction"),
        "seed": record.get("seed", cfg.get("seed")),
        "device": record.get("device", cfg.get("device")),
        "sleep_rule": params.get("sleep", {}).get("rule"),
        "stdp_rule": params.get("stdp", {}).get("rule"),
        "error": record.get("error"),
    }
    for tag, acc in record.get("accuracy", {}).items():
        for k, v in acc.items():
            if isinstance(v, (int, float)):
                row[f"{tag}_{k.removeprefix('accuracy_')}"] = v
    # Each model's headline accuracy in one column, so STDP-SNN and SG-SNN runs share a table:
    # the paper's PCA+QDA readout of the STDP-SNN, the SG-SNN's own output spikes.
    row["accuracy"] = row.get("trained_pca_qda", row.get("trained_output"))
    row["untrained_accuracy"] = row.get("untrained_pca_qda")
    for tag, rates in record.get("rates", {}).items():
        for k in ("rate_mean_hz", "frac_silent"):
            if k in rates:
                row[f"{tag}_{k}"] = rates[k]
    for pw, entry in record.get("weights", {}).items():
        final = entry.get("final") or {}
        for k in ("abs_mean", "sd", "saturation", "entropy", "n_effective"):
            if k in final:
                row[f"w_{pw}_{k}"] = final[k]
        if "sleep_rank_corr_mean" in entry:
            row[f"w_{pw}_sleep_rho"] = entry["sleep_rank_corr_mean"]
    flags = record.get("flags", {})
    row["flag_nan"] = bool(flags.get("nan_weights"))
    row["flag_runaway"] = bool(flags.get("runaway"))
    row["flag_silent"] = bool(flags.get("silent"))
    t = record.get("timings", {})
    row["total_s"] = t.get("total_s")
    row["simulation_s"] = t.get("simulation_s")
    row["build_reused"] = bool(record.get("build", {}).get("reused"))
    row["build_directory"] = record.get("build", {}).get("directory")
    row["build_replicas"] = int(record.get("build", {}).get("replicas", 1))  # runs simulated together
    return row


def untrained_column(metric: str) -> str:
    """The column of :func:`flatten`'s table holding the untrained control of ``metric``
    (``accuracy`` -> ``untrained_accuracy``, ``trained_X`` -> ``untrained_X``); ``metric`` itself
    when it has no such twin."""
    return "untrained_accuracy" if metric == "accuracy" else metric.replace("trained_", "untrained_", 1)


def load(path):
    """All records under ``path`` as a pandas DataFrame, one row per run (:func:`flatten`).

    Needs pandas (``pip install 'sleep-brian[sweep]'``); :func:`load_records` gives the dicts.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ConfigError("store.load needs pandas: pip install 'sleep-brian[sweep]' (or use load_records).") from exc
    rows = [flatten(r) for r in load_records(path)]
    return pd.DataFrame(rows)
