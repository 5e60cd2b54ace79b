"""Result records: atomic writes, no debris on failure, overwrite protection, loading."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from sleep_brian import store
from sleep_brian.errors import ConfigError, SleepBrianError
from sleep_brian.store import ARRAYS_FILE, RECORD_FILE, config_key, load_arrays, load_records, load_record, save


def _entries(folder):
    """Every name in ``folder``, hidden ones included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _record(**extra):
    return {"schema": 1, "name": "r", "accuracy": {"trained": 0.5}, "seed": 1, **extra}


def _arrays():
    return {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([3, 1, 2], dtype=np.int32)}


# --------------------------------------------------------------------------------------------
# Writing and reading back
# --------------------------------------------------------------------------------------------


def test_save_writes_record_and_arrays(tmp_path):
    out = tmp_path / "runs"
    record = _record(
        np_int=np.int64(7), np_float=np.float64(0.25), np_array=np.array([1, 2, 3]), nested={"b": [1, 2], "a": None}
    )
    path = save(out, "r", record, _arrays())
    assert path == out / "r"
    assert _entries(out) == ["r"]  # no temporary folders left behind
    assert sorted(p.name for p in path.iterdir()) == sorted([RECORD_FILE, ARRAYS_FILE])

    back = load_record(path)
    assert back == {**_record(), "np_int": 7, "np_float": 0.25, "np_array": [1, 2, 3], "nested": {"b": [1, 2], "a": None}}
    assert load_record(path / RECORD_FILE) == back  # the file itself works too
    assert json.loads((path / RECORD_FILE).read_text()) == back  # plain JSON

    arrays = load_arrays(path)
    assert set(arrays) == {"w", "i"}
    for k, v in _arrays().items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].dtype == v.dtype


def test_save_without_arrays(tmp_path):
    path = save(tmp_path / "runs", "r", _record())
    assert _entries(path) == [RECORD_FILE]
    assert load_arrays(path) == {}
    assert load_record(path) == _record()


def test_load_record_missing(tmp_path):
    with pytest.raises(ConfigError, match="no record at"):
        load_record(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SleepBrianError, match=RECORD_FILE):
        load_record(tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# Failures leave nothing behind
# --------------------------------------------------------------------------------------------


def test_unserialisable_record_leaves_nothing(tmp_path):
    out = tmp_path / "runs"
    with pytest.raises((TypeError, ValueError)) as exc:
        save(out, "r", _record(bad=object()), _arrays())
    assert "object" in str(exc.value)
    assert _entries(out) == []  # neither the record nor a hidden temporary folder


def test_unserialisable_record_keeps_existing_record(tmp_path):
    out = tmp_path / "runs"
    path = save(out, "r", _record(), _arrays())
    before = {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)}
    with pytest.raises((TypeError, ValueError)):
        save(out, "r", _record(bad=object()), _arrays(), overwrite=True)
    assert _entries(out) == ["r"]
    assert {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)} == before


def _fail_savez(*args, **kwargs):
    raise OSError("No space left on device (simulated)")


def test_failure_while_writing_arrays_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    monkeypatch.setattr(np, "savez_compressed", _fail_savez)
    with pytest.raises(OSError, match="simulated"):
        save(out, "r", _record(), _arrays())
    assert _entries(out) == []


def test_failure_while_overwriting_keeps_existing_record(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    path = save(out, "r", _record(), _arrays())
    before = {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)}
    monkeypatch.setattr(np, "savez_compressed", _fail_savez)
    with pytest.raises(OSError, match="simulated"):
        save(out, "r", _record(seed=2), _arrays(), overwrite=True)
    assert _entries(out) == ["r"]
    assert {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)} == before


def test_failed_swap_on_overwrite_keeps_existing_record(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    path = save(out, "r", _record(), _arrays())
    before = (path / RECORD_FILE).read_bytes()
    real_rename = os.rename

    def rename(src, dst):
        if os.path.basename(str(src)).startswith(".r.tmp-"):
            raise OSError("rename failed (simulated)")
        return real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        save(out, "r", _record(seed=2), _arrays(), overwrite=True)
    assert (path / RECORD_FILE).read_bytes() == before
    assert _entries(out) == ["r"]


# --------------------------------------------------------------------------------------------
# Overwrite protection
# --------------------------------------------------------------------------------------------


def test_existing_record_without_overwrite_is_refused_and_untouched(tmp_path):
    out = tmp_path / "runs"
    path = save(out, "r", _record(), _arrays())
    before = {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)}
    with pytest.raises(ConfigError) as exc:
        save(out, "r", _record(seed=2), {"other": np.zeros(2)})
    msg = str(exc.value)
    assert "already exists" in msg and "--overwrite" in msg and str(path) in msg
    assert _entries(out) == ["r"]
    assert {f: (path / f).read_bytes() for f in (RECORD_FILE, ARRAYS_FILE)} == before


def test_overwrite_replaces_the_whole_record(tmp_path):
    out = tmp_path / "runs"
    save(out, "r", _record(), _arrays())
    path = save(out, "r", _record(seed=2), {"other": np.ones(4)}, overwrite=True)
    assert path == out / "r"
    assert _entries(out) == ["r"]  # old copy and temporary folder both gone
    assert load_record(path)["seed"] == 2
    arrays = load_arrays(path)
    assert set(arrays) == {"other"}  # nothing of the old arrays survives
    np.testing.assert_array_equal(arrays["other"], np.ones(4))
    # Overwriting with no arrays at all removes the old arrays file too.
    save(out, "r", _record(seed=3), overwrite=True)
    assert _entries(path) == [RECORD_FILE]
    assert load_record(path)["seed"] == 3


def test_other_records_are_not_touched(tmp_path):
    out = tmp_path / "runs"
    a = save(out, "a", _record(name="a"), _arrays())
    before = (a / RECORD_FILE).read_bytes()
    save(out, "b", _record(name="b"))
    save(out, "b", _record(name="b", seed=9), overwrite=True)
    assert (a / RECORD_FILE).read_bytes() == before
    assert _entries(out) == ["a", "b"]


def test_record_folder_has_normal_permissions(tmp_path):
    out = tmp_path / "runs"
    path = save(out, "r", _record())
    ref = out / "reference"
    ref.mkdir()
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(ref.stat().st_mode)


# --------------------------------------------------------------------------------------------
# Loading a folder of records
# --------------------------------------------------------------------------------------------


def test_load_ignores_hidden_and_incomplete_folders(tmp_path):
    out = tmp_path / "runs"
    save(out, "b", _record(name="b"))
    save(out, "a", _record(name="a"), _arrays())
    for hidden in (".r.tmp-abc123", ".b.old-xyz", ".hidden"):
        (out / hidden).mkdir()
        (out / hidden / RECORD_FILE).write_text(json.dumps(_record(name=hidden)))
    (out / "incomplete").mkdir()  # a folder without record.json
    (out / "stray.json").write_text("{}")
    records = load_records(out)
    assert [r["name"] for r in records] == ["a", "b"]


def test_load_of_empty_or_missing_folder(tmp_path):
    assert load_records(tmp_path) == []
    assert load_records(tmp_path / "missing") == []


# --------------------------------------------------------------------------------------------
# config_key
# --------------------------------------------------------------------------------------------


def test_config_key_stable_across_orderings():
    a = {"dataset": "digits", "seed": 1, "schedule": {"n_train": 20, "sleep_fraction": 0.1}, "device": "numpy"}
    b = {"device": "numpy", "schedule": {"sleep_fraction": 0.1, "n_train": 20}, "seed": 1, "dataset": "digits"}
    assert list(a) != list(b)
    k = config_key(a)
    assert k == config_key(b) == config_key(json.loads(json.dumps(b)))
    assert len(k) == 12 and all(c in "0123456789abcdef" for c in k)


def test_config_key_changes_with_values():
    base = {"dataset": "digits", "seed": 1, "schedule": {"n_train": 20, "sleep_fraction": 0.1}}
    keys = {
        config_key(base),
        config_key({**base, "seed": 2}),
        config_key({**base, "schedule": {"n_train": 20, "sleep_fraction": 0.2}}),
        config_key({**base, "dataset": "mnist"}),
    }
    assert len(keys) == 4


def test_config_key_is_pinned():
    """Record folder names embed this key; a change would orphan every stored run."""
    assert config_key({"a": 1, "b": [1, 2.5, None], "c": {"d": "x"}}) == "8a47ac9b51f7"  # sha1 of the sorted-key JSON, first 12 hex digits


def test_interrupted_overwrite_is_recovered(tmp_path):
    """A crash between the two renames of an overwrite leaves the old record aside; it comes back."""
    import os

    from sleep_brian.store import load_records, recover

    out = tmp_path / "runs"
    path = save(out, "r", {"v": 1})
    aside = out / ".r.old-abc"
    aside.mkdir()
    os.rename(path, aside / "r")  # the state right after the first rename of save()
    assert recover(out) == [out / "r"]
    assert load_records(out) == [{"v": 1}]
    assert not aside.exists()
