"""Tests of sleep_brian.data: IDX reading, resizing, dataset discovery, loading and subsetting.

Every IDX file here is written by the tests themselves into ``tmp_path``; only the last group
reads the real Fashion-MNIST that the Debian package dataset-fashion-mnist installs, and it is
skipped (visibly, with the install command as reason) where that package is absent.
"""

import gzip
import os
import pathlib
import struct

import numpy as np
import pytest

from sleep_brian import data
from sleep_brian.data import (
    DATASETS,
    DEBIAN_FASHION_MNIST,
    Dataset,
    dataset_env_var,
    find_idx_dir,
    load_dataset,
    read_idx,
    resize_images,
)
from sleep_brian.errors import ConfigError, DataError

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
          np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file (big-endian, as the format requires)."""
    code = _CODES[array.dtype.type]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: pathlib.Path, array: np.ndarray, gz: bool = False) -> pathlib.Path:
    payload = idx_bytes(array)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def make_idx_dir(directory: pathlib.Path, n_train=40, n_test=20, side=28, gz=True,
                 dotted=False) -> pathlib.Path:
    """Write a small fake MNIST-format dataset (balanced labels 0..9) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(123)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        sep = "." if dotted else "-"
        write_idx(directory / f"{prefix}-images{sep}idx3-ubyte{suffix}", images, gz)
        write_idx(directory / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels, gz)
    return directory


@pytest.fixture
def clean_env(monkeypatch):
    """Remove every sleep-brian data variable so the host environment cannot leak in."""
    for var in [data.DATA_DIR_ENV] + [dataset_env_var(n) for n in DATASETS if n != "digits"]:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


# ---------------------------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, gz, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 3, 4)) * 50).astype(dtype)
    # The file name deliberately says nothing about compression: detection is by magic bytes.
    path = write_idx(tmp_path / "array.idx", array, gz=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == (5, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_read_idx_one_dimensional_labels(tmp_path):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    back = read_idx(write_idx(tmp_path / "labels-idx1-ubyte.gz", labels, gz=True))
    np.testing.assert_array_equal(back, labels)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="magic") as err:
        read_idx(path)
    assert "page.html" in str(err.value) and "00 00" in str(err.value)


def test_read_idx_unknown_type_code(tmp_path):
    path = tmp_path / "weird"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + struct.pack(">I", 2) + b"ab")
    with pytest.raises(DataError, match="0x07"):
        read_idx(path)


def test_read_idx_truncated(tmp_path):
    payload = idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8))
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(payload[:-7])  # 100 payload bytes expected, 93 present
    with pytest.raises(DataError, match="truncated") as err:
        read_idx(path)
    message = str(err.value)
    assert "short-idx3-ubyte" in message and "100" in message and "93" in message


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"\x00\x00\x00\x04")
    with pytest.raises(DataError, match="16 bytes of header"):
        read_idx(path)


def test_read_idx_extra_bytes(tmp_path):
    payload = idx_bytes(np.zeros((4, 5, 5), dtype=np.float32))
    path = tmp_path / "long-idx3"
    path.write_bytes(gzip.compress(payload + b"\x00" * 3))
    with pytest.raises(DataError, match="extra bytes") as err:
        read_idx(path)
    message = str(err.value)
    assert "long-idx3" in message and "400" in message and "403" in message


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, dtype=np.uint8)))[:-12])
    with pytest.raises(DataError, match="gzip"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    missing = tmp_path / "nowhere" / "train-images-idx3-ubyte"
    with pytest.raises(DataError) as err:
        read_idx(missing)
    assert str(missing) in str(err.value) and "does not exist" in str(err.value)


# ---------------------------------------------------------------------------------------------
# resize_images
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side_in,side_out", [(8, 15), (28, 15), (15, 15), (28, 7)])
def test_resize_constant_stays_constant(side_in, side_out):
    x = np.full((3, side_in * side_in), 0.37)
    out = resize_images(x, side_in, side_out)
    assert out.shape == (3, side_out * side_out)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, 0.37, atol=1e-12)


@pytest.mark.parametrize("row,col", [(0, 0), (3, 4), (7, 2), (5, 7)])
def test_resize_upsample_single_pixel_keeps_mass(row, col):
    # Bilinear weights on a grid that does not divide evenly redistribute a single pixel's
    # mass a little unevenly; measured worst case is 2.7 %, so the tolerance is 5 % of the
    # mass rescaled by the area ratio (15/8)**2.
    x = np.zeros((1, 64))
    x[0, row * 8 + col] = 1.0
    out = resize_images(x, 8, 15)
    assert out.sum() * (8 / 15) ** 2 == pytest.approx(1.0, rel=0.05)
    # The mass stays where it was: its centroid is within one output pixel of the scaled
    # position of the input pixel centre (clamping at the border pulls edge pixels inward).
    img = out.reshape(15, 15)
    rows, cols = np.indices(img.shape)
    centroid = np.array([(rows * img).sum(), (cols * img).sum()]) / img.sum()
    expected = (np.array([row, col]) + 0.5) * 15 / 8 - 0.5
    assert np.all(np.abs(centroid - expected) <= 1.0)


def test_resize_checkerboard_keeps_mean():
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(float).reshape(1, 64)
    out = resize_images(checker, 8, 15)
    assert out.mean() == pytest.approx(0.5, abs=0.02)
    checker28 = (np.indices((28, 28)).sum(axis=0) % 2).astype(float).reshape(1, -1)
    assert resize_images(checker28, 28, 15).mean() == pytest.approx(0.5, abs=0.02)


def test_resize_range_is_unit_interval():
    rng = np.random.default_rng(1)
    for side_in, side_out in ((8, 15), (28, 15)):
        x = rng.random((20, side_in * side_in))
        out = resize_images(x, side_in, side_out)
        assert out.min() >= 0.0 and out.max() <= 1.0
    # Out-of-range inputs are clipped rather than propagated.
    assert resize_images(np.full((1, 64), 1.5), 8, 15).max() == 1.0


def test_resize_vertical_bar_28_to_15():
    img = np.zeros((28, 28))
    img[:, 20:24] = 1.0  # columns 20..23, centre at continuous x = 22
    out = resize_images(img.reshape(1, -1), 28, 15).reshape(15, 15)
    profile = out.mean(axis=0)
    # Still a vertical bar: every row identical.
    np.testing.assert_allclose(out, np.broadcast_to(profile, out.shape), atol=1e-12)
    # At the corresponding column: continuous 22 * 15/28 = 11.79 -> pixel index 11.
    assert int(np.argmax(profile)) == 11
    assert profile[11] == pytest.approx(1.0)
    assert np.all(profile[:9] == 0) and np.all(profile[14:] == 0)
    # Area averaging conserves the bar's area fraction: 4/28 of the image.
    assert profile.mean() == pytest.approx(4 / 28)


def test_resize_accepts_3d_and_large_batch_consistently():
    rng = np.random.default_rng(2)
    x = rng.random((20000, 28, 28))  # more than one internal chunk
    flat = resize_images(x, 28, 15)
    assert flat.shape == (20000, 225)
    np.testing.assert_allclose(flat[-5:], resize_images(x[-5:].reshape(5, -1), 28, 15))


@pytest.mark.parametrize("bad", [0, -3, 2.5, "15", None, True])
def test_resize_rejects_bad_side(bad):
    with pytest.raises(ConfigError, match="side_out"):
        resize_images(np.zeros((1, 64)), 8, bad)


def test_resize_rejects_shape_mismatch():
    with pytest.raises(ConfigError, match="side_in=8"):
        resize_images(np.zeros((2, 100)), 8, 15)


# ---------------------------------------------------------------------------------------------
# find_idx_dir
# ---------------------------------------------------------------------------------------------


def test_env_var_names():
    assert dataset_env_var("fashion-mnist") == "SLEEP_BRIAN_FASHION_MNIST_DIR"
    assert dataset_env_var("Fashion_MNIST") == "SLEEP_BRIAN_FASHION_MNIST_DIR"
    assert dataset_env_var("mnist") == "SLEEP_BRIAN_MNIST_DIR"
    assert dataset_env_var("kmnist") == "SLEEP_BRIAN_KMNIST_DIR"


def test_find_explicit_path(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "files")
    assert find_idx_dir("mnist", directory) == directory
    assert find_idx_dir("mnist", str(directory)) == directory


def test_find_explicit_parent_with_name_subdir(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "kmnist")
    assert find_idx_dir("kmnist", tmp_path) == directory


def test_find_dataset_env_var(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "elsewhere", gz=False)
    clean_env.setenv("SLEEP_BRIAN_MNIST_DIR", str(directory))
    assert find_idx_dir("mnist") == directory


def test_find_data_dir_root(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "root" / "fashion-mnist")
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    assert find_idx_dir("fashionmnist") == directory


def test_find_precedence(tmp_path, clean_env):
    explicit = make_idx_dir(tmp_path / "explicit")
    via_env = make_idx_dir(tmp_path / "env")
    make_idx_dir(tmp_path / "root" / "mnist")
    clean_env.setenv("SLEEP_BRIAN_MNIST_DIR", str(via_env))
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    assert find_idx_dir("mnist", explicit) == explicit
    assert find_idx_dir("mnist") == via_env
    clean_env.delenv("SLEEP_BRIAN_MNIST_DIR")
    assert find_idx_dir("mnist") == tmp_path / "root" / "mnist"


def test_find_dotted_mirror_names(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "mirror", dotted=True)
    assert find_idx_dir("notmnist", directory) == directory


def test_find_missing_lists_places_and_fixes(tmp_path, clean_env):
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    with pytest.raises(DataError) as err:
        find_idx_dir("kmnist")
    message = str(err.value)
    assert "SLEEP_BRIAN_KMNIST_DIR" in message
    assert str(tmp_path / "root" / "kmnist") in message and "does not exist" in message
    assert "--data-dir" in message and "path=" in message
    assert "dataset-fashion-mnist" not in message  # only suggested for fashion-mnist


def test_find_missing_fashion_suggests_debian_package(tmp_path, clean_env, monkeypatch):
    # Point the Debian fallback at an empty directory so the test does not depend on the host.
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", str(tmp_path / "debian"))
    with pytest.raises(DataError) as err:
        find_idx_dir("fashion-mnist")
    message = str(err.value)
    assert "SLEEP_BRIAN_FASHION_MNIST_DIR" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "debian") in message


def test_find_explicit_path_does_not_fall_back(tmp_path, clean_env):
    make_idx_dir(tmp_path / "root" / "mnist")
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    partial = tmp_path / "partial"
    partial.mkdir()
    write_idx(partial / "train-images-idx3-ubyte", np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(DataError) as err:
        find_idx_dir("mnist", partial)
    message = str(err.value)
    assert str(partial) in message and "t10k-labels-idx1-ubyte" in message
    assert "SLEEP_BRIAN_MNIST_DIR" in message


def test_find_bad_env_var_is_reported(tmp_path, clean_env):
    clean_env.setenv("SLEEP_BRIAN_MNIST_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataError, match="SLEEP_BRIAN_MNIST_DIR") as err:
        find_idx_dir("mnist")
    assert str(tmp_path / "typo") in str(err.value)


def test_find_digits_is_config_error():
    with pytest.raises(ConfigError, match="scikit-learn"):
        find_idx_dir("digits")


# ---------------------------------------------------------------------------------------------
# load_dataset: digits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_shapes_and_ranges(digits):
    assert isinstance(digits, Dataset)
    assert digits.name == "digits" and digits.side == 15 and digits.n_classes == 10
    assert digits.source == "sklearn.datasets.load_digits"
    assert digits.x_train.shape == (digits.n_train, 225)
    assert digits.x_test.shape == (digits.n_test, 225)
    assert digits.n_train + digits.n_test == 1797
    assert digits.n_test == pytest.approx(0.25 * 1797, abs=1)
    assert digits.x_train.dtype == np.float64 and digits.y_train.dtype == np.int64
    for x in (digits.x_train, digits.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() == pytest.approx(1.0)  # /16 scaling reaches full intensity
    assert set(np.unique(digits.y_train)) == set(range(10))
    assert set(np.unique(digits.y_test)) == set(range(10))


def test_digits_split_independent_of_seed(digits):
    other = load_dataset("DIGITS", seed=7)
    np.testing.assert_array_equal(other.x_train, digits.x_train)
    np.testing.assert_array_equal(other.y_test, digits.y_test)


def test_digits_native_side():
    d = load_dataset("digits", side=8, n_train=50, n_test=20)
    from sklearn.datasets import load_digits
    raw = load_digits().data / 16.0
    # side=8 means no resampling: every row is an original image.
    raw_rows = {row.tobytes() for row in raw}
    assert all(row.tobytes() in raw_rows for row in d.x_train)


@pytest.mark.parametrize("n", [100, 37, 10, 3])
def test_digits_subset_stratified(n):
    d = load_dataset("digits", n_train=n, n_test=n)
    for y in (d.y_train, d.y_test):
        assert y.shape == (n,)
        counts = np.bincount(y, minlength=10)
        assert np.all(np.abs(counts - n / 10) < 1), counts


def test_digits_subset_seeded(digits):
    a = load_dataset("digits", n_train=200, n_test=50, seed=1)
    b = load_dataset("digits", n_train=200, n_test=50, seed=1)
    c = load_dataset("digits", n_train=200, n_test=50, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_test, c.x_test)
    # Subsets are drawn from the fixed split, never across it.
    train_rows = {row.tobytes() for row in digits.x_train}
    assert all(row.tobytes() in train_rows for row in a.x_train)


def test_balanced_quota_handles_small_classes():
    # A class too small for its equal share gives the surplus to the others.
    rng = np.random.default_rng(0)
    quota = data._balanced_quota(np.array([2, 100, 100]), 30, rng)
    np.testing.assert_array_equal(quota, [2, 14, 14])
    quota = data._balanced_quota(np.array([2, 100, 100]), 31, rng)
    assert quota.sum() == 31 and quota[0] == 2 and sorted(quota[1:]) == [14, 15]
    np.testing.assert_array_equal(data._balanced_quota(np.array([3, 4]), 7, rng), [3, 4])


def test_dataset_is_frozen(digits):
    with pytest.raises(AttributeError):
        digits.side = 8


def test_train_subset_unaffected_by_n_test():
    a = load_dataset("digits", n_train=100, n_test=20, seed=3)
    b = load_dataset("digits", n_train=100, n_test=60, seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)


# ---------------------------------------------------------------------------------------------
# load_dataset: IDX sets and bad input
# ---------------------------------------------------------------------------------------------


def test_load_fake_idx_dataset(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "mnist", n_train=40, n_test=20)
    d = load_dataset("MNIST", path=directory, side=15)
    assert d.source == str(directory)
    assert d.x_train.shape == (40, 225) and d.x_test.shape == (20, 225)
    raw = read_idx(directory / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(d.x_train, resize_images(raw.reshape(40, -1) / 255.0, 28, 15))
    np.testing.assert_array_equal(d.y_test, np.arange(20) % 10)
    full = load_dataset("mnist", path=directory, side=28)
    np.testing.assert_allclose(full.x_train, raw.reshape(40, -1) / 255.0)


def test_load_fake_idx_via_data_dir(tmp_path, clean_env):
    make_idx_dir(tmp_path / "root" / "kmnist")
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    d = load_dataset("kmnist", n_train=20, n_test=10)
    assert np.all(np.bincount(d.y_train, minlength=10) == 2)


def test_load_label_count_mismatch(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "mnist")
    write_idx(directory / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8), gz=True)
    with pytest.raises(DataError, match="20 images but 19 labels"):
        load_dataset("mnist", path=directory)


def test_load_label_out_of_range(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "mnist")
    labels = (np.arange(40) % 10).astype(np.uint8)
    labels[5] = 12
    write_idx(directory / "train-labels-idx1-ubyte.gz", labels, gz=True)
    with pytest.raises(DataError, match=r"0\.\.12.*expected 0\.\.9"):
        load_dataset("mnist", path=directory)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"name": "cifar"}, "fashion-mnist"),
    ({"n_train": 0}, "n_train=0"),
    ({"n_test": -5}, "n_test=-5"),
    ({"n_train": 100000}, "100000 exceeds the 1347"),
    ({"n_test": 451}, "451 exceeds the 450"),
    ({"side": 0}, "side=0"),
    ({"side": 15.0}, "side=15.0"),
    ({"n_train": 10.5}, "n_train=10.5"),
    ({"seed": -1}, "seed=-1"),
])
def test_load_bad_inputs(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment) as err:
        load_dataset(**kwargs)
    if "name" in kwargs:
        assert all(name in str(err.value) for name in DATASETS)


def test_aliases_resolve(tmp_path, clean_env):
    directory = make_idx_dir(tmp_path / "f")
    for alias in ("fashion_mnist", "FashionMNIST", "Fashion-MNIST"):
        assert load_dataset(alias, path=directory, n_train=10, n_test=10).name == "fashion-mnist"


# ---------------------------------------------------------------------------------------------
# Real Fashion-MNIST (Debian package)
# ---------------------------------------------------------------------------------------------


_HAS_DEBIAN_FASHION = os.path.isdir(DEBIAN_FASHION_MNIST)


@pytest.mark.skipif(not _HAS_DEBIAN_FASHION,
                    reason="Debian package dataset-fashion-mnist not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_files():
    directory = pathlib.Path(DEBIAN_FASHION_MNIST)
    files, missing = data._idx_files(directory)
    assert not missing
    labels_train = read_idx(files["train_labels"])
    labels_test = read_idx(files["test_labels"])
    assert labels_train.shape == (60000,) and labels_test.shape == (10000,)
    assert labels_train.min() == 0 and labels_train.max() == 9
    assert read_idx(files["test_images"]).shape == (10000, 28, 28)


@pytest.mark.skipif(not _HAS_DEBIAN_FASHION,
                    reason="Debian package dataset-fashion-mnist not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_subset(clean_env):
    d = load_dataset("fashion-mnist", n_train=600, n_test=100, seed=0)
    assert d.source == DEBIAN_FASHION_MNIST
    assert d.x_train.shape == (600, 225) and d.x_test.shape == (100, 225)
    assert np.all(np.bincount(d.y_train, minlength=10) == 60)
    assert np.all(np.bincount(d.y_test, minlength=10) == 10)
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0
    assert d.x_train.max() > 0.9  # real images reach near-full intensity after /255


# ---------------------------------------------------------------------------------------------
# MNIST, KMNIST and notMNIST from a folder of IDX files (none is packaged; the user brings them)
# ---------------------------------------------------------------------------------------------

# How the files come: MNIST's and KMNIST's sites and the notMNIST-to-MNIST conversion serve
# the four standard names gzipped; users gunzip all, some or none; Kaggle-style copies use the
# dotted mirror names ('train-images.idx3-ubyte').
_LAYOUTS = {
    "gzip": dict(gz_images=True, gz_labels=True, dotted=False),
    "plain": dict(gz_images=False, gz_labels=False, dotted=False),
    "mixed": dict(gz_images=True, gz_labels=False, dotted=False),
    "dotted": dict(gz_images=False, gz_labels=False, dotted=True),
    "dotted-gzip": dict(gz_images=True, gz_labels=True, dotted=True),
}


def write_idx_set(directory: pathlib.Path, seed: int, *, gz_images, gz_labels, dotted, n_train=30, n_test=20):
    """Write a 28x28 MNIST-format set into ``directory``; return what a loader must give back."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sep = "." if dotted else "-"
    out = {}
    for prefix, n, role in (("train", n_train, "train"), ("t10k", n_test, "test")):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        write_idx(directory / f"{prefix}-images{sep}idx3-ubyte{'.gz' if gz_images else ''}", images, gz_images)
        write_idx(directory / f"{prefix}-labels{sep}idx1-ubyte{'.gz' if gz_labels else ''}", labels, gz_labels)
        out[role] = (images.reshape(n, -1) / 255.0, labels.astype(np.int64))
    return out


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("name", ["mnist", "kmnist", "notmnist"])
def test_idx_datasets_load_from_a_folder(tmp_path, clean_env, name, layout):
    folder = tmp_path / "files"
    expected = write_idx_set(folder, seed=len(name), **_LAYOUTS[layout])
    d = load_dataset(name, path=folder, side=28)
    assert d.name == name and d.source == str(folder) and d.side == 28
    # side 28: no resampling, just the scaling by 1/255 (up to its rounding)
    np.testing.assert_allclose(d.x_train, expected["train"][0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(d.y_train, expected["train"][1])
    np.testing.assert_allclose(d.x_test, expected["test"][0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(d.y_test, expected["test"][1])
    # the network's default input: 15x15, a stratified subset
    small = load_dataset(name, path=folder, n_train=20, n_test=10, seed=1)
    assert small.x_train.shape == (20, 225) and np.all(np.bincount(small.y_train, minlength=10) == 2)


@pytest.mark.parametrize("name,folder", [("notmnist", "notMNIST"), ("kmnist", "KMNIST"), ("mnist", "MNIST"),
                                         ("notmnist", "not_mnist"), ("fashion-mnist", "Fashion-MNIST")])
def test_data_root_accepts_the_archives_folder_spellings(tmp_path, clean_env, name, folder):
    expected = write_idx_set(tmp_path / "root" / folder, seed=5, gz_images=True, gz_labels=True, dotted=False)
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    assert find_idx_dir(name) == tmp_path / "root" / folder
    np.testing.assert_array_equal(load_dataset(name, side=28).y_test, expected["test"][1])
    # an explicit parent folder works the same way
    clean_env.delenv("SLEEP_BRIAN_DATA_DIR")
    assert find_idx_dir(name, tmp_path / "root") == tmp_path / "root" / folder


def test_exact_folder_name_wins_over_other_spellings(tmp_path, clean_env):
    write_idx_set(tmp_path / "NotMNIST", seed=1, gz_images=True, gz_labels=True, dotted=False)
    write_idx_set(tmp_path / "notmnist", seed=2, gz_images=True, gz_labels=True, dotted=False)
    assert find_idx_dir("notmnist", tmp_path) == tmp_path / "notmnist"
    # and a root holding one dataset's files directly is not taken for another dataset
    write_idx_set(tmp_path / "root", seed=3, gz_images=True, gz_labels=True, dotted=False)
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path / "root"))
    with pytest.raises(DataError, match="SLEEP_BRIAN_KMNIST_DIR"):
        find_idx_dir("kmnist")


def test_misnamed_file_is_named_in_the_error(tmp_path, clean_env):
    # The notMNIST-to-MNIST README's commands write 't10k-labels-idx1-uyte': the loader must
    # say which standard file it wants, not just that something is missing.
    folder = tmp_path / "notmnist"
    write_idx_set(folder, seed=0, gz_images=False, gz_labels=False, dotted=False)
    (folder / "t10k-labels-idx1-ubyte").rename(folder / "t10k-labels-idx1-uyte")
    with pytest.raises(DataError) as err:
        load_dataset("notmnist", path=folder)
    message = str(err.value)
    assert str(folder) in message and "lacks t10k-labels-idx1-ubyte[.gz]" in message
    assert "sleep-brian sweep --data-dir notmnist=DIR" in message and "Nothing is downloaded" in message


def test_sweep_spec_takes_idx_folders(tmp_path, clean_env):
    from sleep_brian.sweep import SweepSpec

    folders = {n: tmp_path / n.upper() for n in ("mnist", "kmnist", "notmnist")}
    for k, f in enumerate(folders.values()):
        write_idx_set(f, seed=k, gz_images=True, gz_labels=True, dotted=False)
    spec = SweepSpec(datasets=tuple(folders), sleep_fractions=(0, 0.1), seeds=(1,), device="numpy",
                     data_dirs={n: str(f) for n, f in folders.items()})  # fmt: skip
    configs = spec.configs()
    assert {(c.dataset, c.data_dir) for c in configs} == {(n, str(f)) for n, f in folders.items()}
    # or no folders at all, one root in the environment (the run resolves it when it loads)
    clean_env.setenv("SLEEP_BRIAN_DATA_DIR", str(tmp_path))
    assert {c.data_dir for c in SweepSpec(datasets=tuple(folders), seeds=(1,), device="numpy").configs()} == {None}
    # a wrong folder fails when the spec is made, before any run, naming every way to fix it
    with pytest.raises(DataError) as err:
        SweepSpec(datasets=("kmnist",), seeds=(1,), device="numpy", data_dirs={"kmnist": str(tmp_path / "typo")})
    message = str(err.value)
    assert str(tmp_path / "typo") in message and "SLEEP_BRIAN_KMNIST_DIR" in message
    assert "--data-dir kmnist=DIR" in message


def test_sweep_command_passes_data_dirs(tmp_path, clean_env, monkeypatch, capsys):
    from sleep_brian import sweep
    from sleep_brian.cli import main

    seen = []

    def fake_run_sweep(spec, out_dir, **kwargs):  # stands in for Dask: the spec is what is tested
        seen.append(spec)
        return {"total": 0, "ran": 0, "skipped": 0, "failed": 0, "tasks": 0, "wall_s": 0.0}

    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    km, nm = tmp_path / "kmnist", tmp_path / "nm"
    write_idx_set(km, seed=1, gz_images=True, gz_labels=True, dotted=False)
    write_idx_set(nm, seed=2, gz_images=False, gz_labels=False, dotted=True)
    base = ["sweep", "--datasets", "kmnist", "notmnist", "--sleep", "0", "0.1", "--seeds", "1", "--device", "numpy",
            "--out", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    assert main(base + ["--data-dir", f"kmnist={km}", "--data-dir", f"notmnist={nm}"]) == 0
    assert seen[-1].data_dirs == {"kmnist": str(km), "notmnist": str(nm)}
    # a missing folder: exit status 2 and one message naming the folder, the flag and the variable
    assert main(base + ["--data-dir", f"kmnist={km}", "--data-dir", f"notmnist={tmp_path / 'gone'}"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "gone") in err and "does not exist" in err
    assert "--data-dir notmnist=DIR" in err and "SLEEP_BRIAN_NOTMNIST_DIR" in err
    # no folder given and none in the environment
    assert main(base + ["--data-dir", f"kmnist={km}"]) == 2
    assert "neither SLEEP_BRIAN_NOTMNIST_DIR nor SLEEP_BRIAN_DATA_DIR is set" in capsys.readouterr().err
    assert main(base + ["--data-dir", str(km)]) == 2
    assert "expected NAME=PATH" in capsys.readouterr().err
    assert len(seen) == 1  # nothing ran after a bad option
