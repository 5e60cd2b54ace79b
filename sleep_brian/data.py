"""Image datasets for the spiking networks: loading, validation, resizing and subsetting.

The networks take small square grey-scale images whose pixel intensities set Poisson input
rates, so every dataset is delivered the same way: a :class:`Dataset` of float64 images in
``[0, 1]``, flattened row-major to ``side * side`` columns, with int64 labels ``0..9``.

Supported sets (:data:`DATASETS`):

``digits``
    scikit-learn's bundled 8x8 handwritten digits (1797 images, no download). It has no
    official train/test split, so a *fixed* stratified 75/25 split is made with the constant
    :data:`DIGITS_SPLIT_RANDOM_STATE`; the split never depends on ``seed``, so runs with
    different seeds are evaluated on the same test images.
``mnist``, ``fashion-mnist``, ``kmnist``, ``notmnist``
    Read from the four standard IDX files (the MNIST file format), using the files' own
    train/test split. Nothing is ever downloaded: the files must already be on disk, see
    :func:`find_idx_dir` for where they are looked for. Fashion-MNIST is packaged by Debian
    (``apt-get install dataset-fashion-mnist``) and found automatically in
    :data:`DEBIAN_FASHION_MNIST`.

This module deliberately has no Brian2 dependency, so datasets can be prepared and inspected
without a simulator installed.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from sleep_brian.errors import ConfigError, DataError

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DEBIAN_FASHION_MNIST",
    "DIGITS_SPLIT_RANDOM_STATE",
    "DIGITS_TEST_SIZE",
    "Dataset",
    "IDX_FILES",
    "dataset_env_var",
    "find_idx_dir",
    "load_dataset",
    "read_idx",
    "resize_images",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "notmnist")
"""Canonical names accepted by :func:`load_dataset` (case-insensitive; see also aliases)."""

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
"""Where the Debian package ``dataset-fashion-mnist`` installs the Fashion-MNIST IDX files."""

DATA_DIR_ENV = "SLEEP_BRIAN_DATA_DIR"
"""Environment variable naming a root directory holding one sub-directory per dataset."""

DIGITS_TEST_SIZE = 0.25
"""Fraction of scikit-learn's digits held out as the test set."""

DIGITS_SPLIT_RANDOM_STATE = 20240601
"""Constant ``random_state`` of the digits train/test split. Never derived from ``seed``."""

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four standard IDX file names, keyed by role (``.gz`` and ``.idx`` variants also accepted)."""

N_CLASSES = 10

_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "not-mnist": "notmnist",
    "not_mnist": "notmnist",
    "k-mnist": "kmnist",
    "k_mnist": "kmnist",
}

# IDX type codes -> big-endian numpy dtypes, from the format's definition
# (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# Images are resized this many at a time so that a 60k-image set never needs a second
# full-size float64 copy of itself on top of the result.
_RESIZE_CHUNK = 8192


# ---------------------------------------------------------------------------------------------
# The dataset container
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test image classification dataset, ready to be turned into input rates.

    ``eq=False`` because element-wise array comparison has no single truth value; compare
    the arrays explicitly instead.

    Attributes
    ----------
    name : str
        Canonical dataset name, one of :data:`DATASETS`.
    x_train, x_test : numpy.ndarray
        float64 arrays of shape ``(n, side * side)`` with values in ``[0, 1]``; each row is a
        row-major flattened ``side x side`` image.
    y_train, y_test : numpy.ndarray
        int64 labels of shape ``(n,)`` in ``0 .. n_classes - 1``.
    side : int
        Images are ``side x side`` pixels.
    n_classes : int
        Number of classes (10 for every supported set).
    source : str
        Where the data came from: a directory path or ``"sklearn.datasets.load_digits"``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    side: int
    n_classes: int
    source: str

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return int(self.y_test.shape[0])

    @property
    def n_pixels(self) -> int:
        """Number of input pixels per image, ``side * side``."""
        return self.side * self.side


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------


def _read_bytes(path: pathlib.Path) -> bytes:
    """Return the (decompressed) contents of ``path``; gzip is detected by its magic bytes.

    Detection by content rather than by name because mirrors are inconsistent: some serve
    gzipped files without ``.gz``, and some decompress but keep the suffix.
    """
    if not path.exists():
        raise DataError(
            f"IDX file {str(path)!r} does not exist; expected one of the four standard MNIST-format "
            f"files there. Check the path, or point {DATA_DIR_ENV} / the dataset's "
            "SLEEP_BRIAN_<NAME>_DIR variable at the directory that holds the files."
        )
    if not path.is_file():
        raise DataError(
            f"IDX path {str(path)!r} is not a regular file; expected an IDX file such as "
            f"'{IDX_FILES['train_images']}'. Pass the file itself, not its directory."
        )
    raw = path.read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"IDX file {str(path)!r} starts with the gzip magic bytes 1f 8b but cannot be "
            f"decompressed ({exc}); expected a complete gzip stream. The file is probably "
            "truncated or corrupt: copy or reinstall it again."
        ) from exc


def _parse_idx_header(data: bytes, path: pathlib.Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """Validate an IDX header; return the element dtype, the shape and the header length."""
    if len(data) < 4:
        raise DataError(
            f"IDX file {str(path)!r} is {len(data)} bytes long; expected at least a 4-byte magic "
            "number. The file is truncated or empty: copy or reinstall it again."
        )
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"IDX file {str(path)!r} has magic bytes {data[:4].hex(' ')}; expected the first two "
            "bytes to be 00 00 (IDX format, as used by MNIST). It is not an IDX file, perhaps an "
            "HTML error page or a different archive format: replace it with the real IDX file."
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise DataError(
            f"IDX file {str(path)!r} declares data type code 0x{code:02X}; expected one of "
            f"{known}. The file is corrupt or not an IDX file: replace it."
        )
    if ndim == 0:
        raise DataError(
            f"IDX file {str(path)!r} declares 0 dimensions; expected at least 1 (labels have 1, "
            "images 3). The file is corrupt: replace it."
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"IDX file {str(path)!r} is {len(data)} bytes long; expected at least {header_len} "
            f"bytes of header for {ndim} dimensions. The file is truncated: copy or reinstall it."
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return _IDX_DTYPES[code], shape, header_len


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST file format), gzipped or raw.

    Parameters
    ----------
    path : str or path-like
        The file. Gzip compression is recognised by the magic bytes ``1f 8b``, whatever the
        file name says.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order with the shape and element type the header
        declares (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``).

    Raises
    ------
    DataError
        If the file is missing, is not IDX (the magic's first two bytes are not zero, or the
        type code is unknown), or if its payload is not exactly ``prod(shape) * itemsize``
        bytes; the message names the file and the expected and actual byte counts.
    """
    path = pathlib.Path(path).expanduser()
    data = _read_bytes(path)
    dtype, shape, header_len = _parse_idx_header(data, path)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing extra bytes"
        raise DataError(
            f"IDX file {str(path)!r} {problem}: its header declares shape {shape} of "
            f"{dtype.itemsize}-byte elements, i.e. expected {expected} payload bytes, but it "
            f"holds {actual} bytes after the {header_len}-byte header. Copy or reinstall the file."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies: the result is writable and in native byte order, which downstream
    # arithmetic and Brian2 expect.
    return array.astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------


def _check_side(value, what: str) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise ConfigError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(
            f"{what}={value!r} is not a valid image side; expected a positive integer number of "
            "pixels (e.g. 15). Pass an int such as side=15."
        )
    return int(value)


def _area_matrix(side_in: int, side_out: int) -> np.ndarray:
    """1-D area-averaging matrix for downsampling: each output pixel averages the input it covers.

    Averaging by overlap (rather than sampling) keeps thin strokes from vanishing or aliasing
    when 28-pixel images shrink to 15 pixels.
    """
    scale = side_in / side_out
    lo_out = np.arange(side_out)[:, None] * scale
    hi_out = lo_out + scale
    lo_in = np.arange(side_in)[None, :]
    overlap = np.clip(np.minimum(hi_out, lo_in + 1) - np.maximum(lo_out, lo_in), 0.0, None)
    return overlap / scale


def _bilinear_matrix(side_in: int, side_out: int) -> np.ndarray:
    """1-D linear-interpolation matrix for upsampling, pixel centres aligned, edges clamped."""
    centres = (np.arange(side_out) + 0.5) * (side_in / side_out) - 0.5
    centres = np.clip(centres, 0.0, side_in - 1)
    left = np.floor(centres).astype(np.int64)
    right = np.minimum(left + 1, side_in - 1)
    frac = centres - left
    matrix = np.zeros((side_out, side_in))
    rows = np.arange(side_out)
    np.add.at(matrix, (rows, left), 1.0 - frac)
    np.add.at(matrix, (rows, right), frac)
    return matrix


def _resize_matrix(side_in: int, side_out: int) -> np.ndarray:
    """The ``(side_in**2, side_out**2)`` matrix ``K`` such that ``x_out = x_in @ K``.

    Built as the Kronecker product of 1-D matrices (resizing is separable), so a whole image
    set is resized with one matrix product instead of a Python loop over images. Every 1-D row
    sums to 1, so outputs are convex combinations of inputs: constants stay constant and
    ``[0, 1]`` maps into ``[0, 1]``.
    """
    if side_out < side_in:
        one_d = _area_matrix(side_in, side_out)
    else:
        one_d = _bilinear_matrix(side_in, side_out)
    return np.kron(one_d, one_d).T


def resize_images(x, side_in: int, side_out: int) -> np.ndarray:
    """Resize flattened square images.

    Downsampling (``side_out < side_in``, e.g. 28 -> 15) uses area-weighted averaging;
    upsampling (e.g. 8 -> 15) uses bilinear interpolation with pixel centres aligned and
    edges clamped. Both are linear and separable and are applied as one matrix product, in
    chunks to bound memory.

    Parameters
    ----------
    x : array_like
        Images of shape ``(n, side_in * side_in)`` (or ``(n, side_in, side_in)``), values in
        ``[0, 1]``.
    side_in : int
        Side of the input images.
    side_out : int
        Side of the output images; a positive integer.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(n, side_out * side_out)``, row-major, clipped to ``[0, 1]``.

    Raises
    ------
    ConfigError
        If ``side_in`` or ``side_out`` is not a positive integer, or ``x`` does not have
        ``side_in * side_in`` pixels per image.
    """
    side_in = _check_side(side_in, "side_in")
    side_out = _check_side(side_out, "side_out")
    x = np.asarray(x)
    n_pix = side_in * side_in
    if x.ndim == 3 and x.shape[1:] == (side_in, side_in):
        x = x.reshape(x.shape[0], n_pix)
    if x.ndim != 2 or x.shape[1] != n_pix:
        raise ConfigError(
            f"images of shape {x.shape} do not match side_in={side_in}; expected shape "
            f"(n, {n_pix}) or (n, {side_in}, {side_in}). Pass the side the images really have."
        )
    return _resize_scaled(x, side_in, side_out, scale=1.0)


def _resize_scaled(x: np.ndarray, side_in: int, side_out: int, scale: float) -> np.ndarray:
    """Resize ``x * scale`` without materialising ``x * scale`` for the whole set.

    Resizing is linear, so scaling (e.g. uint8 / 255) can be applied per chunk after the
    product; this keeps peak memory near the size of the result for 60k-image sets.
    """
    out = np.empty((x.shape[0], side_out * side_out), dtype=np.float64)
    matrix = None if side_in == side_out else _resize_matrix(side_in, side_out)
    for start in range(0, x.shape[0], _RESIZE_CHUNK):
        chunk = x[start:start + _RESIZE_CHUNK].astype(np.float64)
        if matrix is not None:
            chunk = chunk @ matrix
        if scale != 1.0:
            chunk *= scale
        out[start:start + _RESIZE_CHUNK] = chunk
    # Interpolation weights are convex, so clipping only removes round-off and any
    # out-of-range input values.
    return np.clip(out, 0.0, 1.0, out=out)


# ---------------------------------------------------------------------------------------------
# Locating IDX datasets on disk
# ---------------------------------------------------------------------------------------------


def _canonical_name(name) -> str:
    """Map a user-supplied dataset name to its canonical form, or raise ConfigError."""
    if not isinstance(name, str):
        raise ConfigError(
            f"dataset name {name!r} is not a string; expected one of {', '.join(DATASETS)}."
        )
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ConfigError(
            f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)} (case-insensitive; "
            "'fashion_mnist' and 'fashionmnist' are accepted for fashion-mnist)."
        )
    return key


def dataset_env_var(name: str) -> str:
    """Name of the environment variable that points at one dataset's IDX directory.

    Parameters
    ----------
    name : str
        A dataset name or alias, e.g. ``"fashion-mnist"``.

    Returns
    -------
    str
        E.g. ``"SLEEP_BRIAN_FASHION_MNIST_DIR"`` or ``"SLEEP_BRIAN_MNIST_DIR"``.
    """
    return "SLEEP_BRIAN_" + _canonical_name(name).upper().replace("-", "_") + "_DIR"


def _candidate_names(stem: str) -> list[str]:
    """File names under which one standard IDX file may be stored, most preferred first.

    Some mirrors write 'train-images.idx3-ubyte' instead of 'train-images-idx3-ubyte'; either
    may be gzipped. Uncompressed copies are preferred because they read faster.
    """
    prefix, _, kind = stem.rpartition("-idx")
    variants = [stem, f"{prefix}.idx{kind}"]
    return variants + [v + ".gz" for v in variants]


def _idx_files(directory: pathlib.Path) -> tuple[dict[str, pathlib.Path], list[str]]:
    """Locate the four standard files in ``directory``; return the found paths and missing stems."""
    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        for candidate in _candidate_names(stem):
            if (directory / candidate).is_file():
                found[role] = directory / candidate
                break
        else:
            missing.append(stem)
    return found, missing


def _named_subdirs(parent: pathlib.Path, name: str) -> list[pathlib.Path]:
    """``parent/<name>`` and every sub-directory of ``parent`` whose name spells the dataset
    another way (any case, or an alias: ``notMNIST``, ``not_mnist``, ``KMNIST``, ``Fashion-MNIST``).

    The exact name comes first, the other spellings in sorted order, so the choice is the same
    on every machine. Folders unpacked from the datasets' own archives keep their authors'
    capitalisation, which should not make a data root fail on a case-sensitive file system.
    """
    options = [parent / name]
    try:
        children = sorted(p for p in parent.iterdir() if p.is_dir())
    except OSError:  # missing or unreadable: the caller reports it
        return options
    for child in children:
        key = child.name.strip().lower()
        if child.name != name and _ALIASES.get(key, key) == name:
            options.append(child)
    return options


def _complete_dir(directory: pathlib.Path, name: str) -> pathlib.Path | None:
    """Return the directory holding all four files: ``directory`` or ``directory/<name>`` (any
    spelling of the name, see :func:`_named_subdirs`)."""
    # Accepting the parent too lets one --data-dir serve several datasets.
    for option in (directory, *_named_subdirs(directory, name)):
        if option.is_dir() and not _idx_files(option)[1]:
            return option
    return None


def _describe(directory: pathlib.Path) -> str:
    """Why ``directory`` did not qualify, for the not-found message."""
    if not directory.exists():
        return "does not exist"
    if not directory.is_dir():
        return "is not a directory"
    missing = _idx_files(directory)[1]
    return "lacks " + ", ".join(f"{m}[.gz]" for m in missing)


def _not_found(name: str, looked: list[tuple[str, pathlib.Path]], env_var: str) -> DataError:
    """Build the DataError listing every place looked in and every way to fix it."""
    lines = [f"could not find the IDX files of dataset {name!r}; expected a directory holding "
             + ", ".join(f"{s}[.gz]" for s in IDX_FILES.values()) + "."]
    if looked:
        lines.append("Looked in:")
        lines.extend(f"  - {p} ({how}): {_describe(p)}" for how, p in looked)
    else:
        lines.append(f"Nothing to look in: no path was given and neither {env_var} nor "
                     f"{DATA_DIR_ENV} is set.")
    lines.append("To fix, do one of:")
    lines.append(f"  - pass the directory explicitly (sleep-brian run --data-dir DIR; sleep-brian sweep "
                 f"--data-dir {name}=DIR; path=DIR in Python);")
    lines.append(f"  - set the environment variable {env_var}=DIR;")
    lines.append(f"  - set {DATA_DIR_ENV}=ROOT with the files in ROOT/{name}/;")
    if name == "fashion-mnist":
        lines.append(f"  - apt-get install dataset-fashion-mnist (installs {DEBIAN_FASHION_MNIST}).")
    lines.append("Nothing is downloaded automatically.")
    return DataError("\n".join(lines))


def find_idx_dir(name: str, path: str | os.PathLike | None = None,
                 environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """Find the directory holding a dataset's four standard IDX files.

    Resolution order:

    1. ``path``, if given (the directory itself, or a parent holding ``<name>/``). An explicit
       path is authoritative: if it does not hold the files, nothing else is tried.
    2. The environment variable ``SLEEP_BRIAN_<NAME>_DIR`` (e.g. ``SLEEP_BRIAN_MNIST_DIR``,
       ``SLEEP_BRIAN_FASHION_MNIST_DIR``), also authoritative when set and non-empty.
    3. ``$SLEEP_BRIAN_DATA_DIR/<name>/``.

    Wherever a ``<name>/`` sub-directory is looked for, other spellings of the name are
    accepted too (any case, and the aliases: ``notMNIST/``, ``KMNIST/``, ``Fashion-MNIST/``,
    ``not_mnist/``); the exact name wins if several exist.
    4. For fashion-mnist only, :data:`DEBIAN_FASHION_MNIST`.

    Accepted file names are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally with ``.gz`` and
    with the mirror variant ``train-images.idx3-ubyte``.

    Parameters
    ----------
    name : str
        An IDX dataset name (not ``"digits"``, which ships with scikit-learn).
    path : str or path-like, optional
        Directory given by the user.
    environ : mapping, optional
        Environment to consult; defaults to :data:`os.environ` (a parameter for testability).

    Returns
    -------
    pathlib.Path
        The directory that holds all four files.

    Raises
    ------
    ConfigError
        If ``name`` is unknown or is ``"digits"``.
    DataError
        If no candidate holds all four files; the message lists every place looked in, what
        each lacked, and how to fix it.
    """
    name = _canonical_name(name)
    if name == "digits":
        raise ConfigError(
            "dataset 'digits' has no IDX directory; it is bundled with scikit-learn. "
            "Call load_dataset('digits') without a path."
        )
    environ = os.environ if environ is None else environ
    env_var = dataset_env_var(name)

    # Explicit requests (argument, per-dataset variable) must not silently fall back to
    # another copy: a user who names a directory expects that one to be used.
    for how, value in ((f"path argument, and its {name}/ subdirectory", path),
                       (f"{env_var}, and its {name}/ subdirectory", environ.get(env_var) or None)):
        if value is not None:
            directory = pathlib.Path(value).expanduser()
            found = _complete_dir(directory, name)
            if found is None:
                raise _not_found(name, [(how, directory)], env_var)
            return found

    looked: list[tuple[str, pathlib.Path]] = []
    root = environ.get(DATA_DIR_ENV)
    if root:
        looked.extend((f"{DATA_DIR_ENV}/{option.name}", option)
                      for option in _named_subdirs(pathlib.Path(root).expanduser(), name))
    if name == "fashion-mnist":
        looked.append(("Debian package dataset-fashion-mnist", pathlib.Path(DEBIAN_FASHION_MNIST)))
    for _, directory in looked:
        if directory.is_dir() and not _idx_files(directory)[1]:
            return directory
    raise _not_found(name, looked, env_var)


# ---------------------------------------------------------------------------------------------
# Validation and subsetting
# ---------------------------------------------------------------------------------------------


def _check_count(value, what: str) -> int | None:
    """Validate an ``n_train``/``n_test`` argument: None or a positive int."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(
            f"{what}={value!r} is not an integer; expected a positive int or None (use all). "
            f"Pass e.g. {what}=600."
        )
    if value <= 0:
        raise ConfigError(
            f"{what}={value!r} must be positive; expected a positive int or None (use all). "
            f"Pass e.g. {what}=600, or omit it."
        )
    return int(value)


def _check_seed(seed) -> int:
    """Validate the subset seed: a non-negative int (what numpy's SeedSequence accepts)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed={seed!r} is not valid; expected a non-negative int such as 0.")
    return int(seed)


def _check_labels(labels: np.ndarray, n_images: int, n_classes: int, what: str) -> np.ndarray:
    """Check a label vector against its images and the class range; return it as int64."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{what} labels have shape {labels.shape} and dtype {labels.dtype}; expected a 1-D "
            "integer array. The label file is probably an image file: check the file names."
        )
    if labels.shape[0] != n_images:
        raise DataError(
            f"{what} has {n_images} images but {labels.shape[0]} labels; expected equal counts. "
            "The image and label files come from different datasets or one is incomplete."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DataError(
            f"{what} labels span {labels.min()}..{labels.max()}; expected 0..{n_classes - 1}. "
            "The label file is corrupt or belongs to another dataset."
        )
    return labels.astype(np.int64)


def _check_images(images: np.ndarray, what: str, path: pathlib.Path) -> int:
    """Check IDX images are ``(n, side, side)`` uint8; return ``side``."""
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise DataError(
            f"{what} images in {str(path)!r} have shape {images.shape} and dtype {images.dtype}; "
            "expected (n, side, side) unsigned bytes (0..255), as in MNIST. Check the file names."
        )
    return int(images.shape[1])


def _balanced_quota(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many samples to draw per class so that ``n`` is split as evenly as possible.

    Classes are filled smallest first, each taking at most an equal share of what is left, so a
    class too small for its share gives its surplus to the others. The indivisible remainder
    goes one each to randomly chosen classes that still have spare samples.
    """
    quota = np.zeros_like(counts)
    remaining = n
    order = np.argsort(counts, kind="stable")
    for i, cls in enumerate(order):
        quota[cls] = min(counts[cls], remaining // (len(order) - i))
        remaining -= quota[cls]
    while remaining > 0:
        spare = np.flatnonzero(quota < counts)
        extra = rng.choice(spare, size=min(remaining, spare.size), replace=False)
        quota[extra] += 1
        remaining -= extra.size
    return quota


def _stratified_subset(labels: np.ndarray, n: int | None, rng: np.random.Generator,
                       what: str) -> np.ndarray | None:
    """Indices of a class-balanced random subset of size ``n`` (sorted), or None for all."""
    if n is None:
        return None
    if n > labels.shape[0]:
        raise ConfigError(
            f"{what}={n} exceeds the {labels.shape[0]} images available; expected at most "
            f"{labels.shape[0]}. Lower {what} or pass None to use all."
        )
    classes, counts = np.unique(labels, return_counts=True)
    quota = _balanced_quota(counts, n, rng)
    picked = [rng.choice(np.flatnonzero(labels == cls), size=q, replace=False)
              for cls, q in zip(classes, quota) if q]
    # Sorted so the subset keeps the source order; shuffling for presentation is the
    # training loop's business.
    return np.sort(np.concatenate(picked))


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _load_digits_raw() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits in [0, 1], with the fixed, seed-independent stratified split."""
    # Imported lazily: scikit-learn is only needed for this dataset.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.data.astype(np.float64) / 16.0  # pixel values are 0..16
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=DIGITS_SPLIT_RANDOM_STATE
    )
    return x_tr, y_tr, x_te, y_te


def _load_idx_raw(name: str, path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, str]:
    """Read and validate the four IDX files; images stay uint8 ``(n, side * side)``."""
    directory = find_idx_dir(name, path)
    files, _ = _idx_files(directory)
    x_tr, x_te = read_idx(files["train_images"]), read_idx(files["test_images"])
    side = _check_images(x_tr, "training", files["train_images"])
    if _check_images(x_te, "test", files["test_images"]) != side:
        raise DataError(
            f"training images in {str(directory)!r} are {side}x{side} but test images are "
            f"{x_te.shape[1]}x{x_te.shape[2]}; expected the same size. The files come from "
            "different datasets: replace the mismatched one."
        )
    y_tr = _check_labels(read_idx(files["train_labels"]), x_tr.shape[0], N_CLASSES, "training set")
    y_te = _check_labels(read_idx(files["test_labels"]), x_te.shape[0], N_CLASSES, "test set")
    flat = side * side
    return x_tr.reshape(-1, flat), y_tr, x_te.reshape(-1, flat), y_te, side, str(directory)


def load_dataset(name: str = "digits", *, path: str | os.PathLike | None = None, side: int = 15,
                 n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
    """Load a dataset, resized to ``side x side`` and optionally subsetted.

    Parameters
    ----------
    name : str, default "digits"
        One of :data:`DATASETS`, case-insensitive; ``"fashion_mnist"`` and ``"fashionmnist"``
        are aliases of ``"fashion-mnist"``.
    path : str or path-like, optional
        Directory of the IDX files (see :func:`find_idx_dir`); ignored for ``"digits"``.
    side : int, default 15
        Output image side; images are resized (area averaging down, bilinear up).
    n_train, n_test : int, optional
        Size of a class-balanced random subset of the training/test set; None uses all.
    seed : int, default 0
        Seeds the subset draws (``numpy.random.default_rng(seed)``, one independent child
        stream each for train and test, so changing ``n_test`` never changes the training
        subset). The digits train/test split itself never depends on ``seed``.

    Returns
    -------
    Dataset
        float64 images in ``[0, 1]`` of shape ``(n, side * side)``, int64 labels.

    Raises
    ------
    ConfigError
        Unknown ``name``; ``side``, ``n_train`` or ``n_test`` not a positive int; a subset
        larger than the set; ``seed`` not a non-negative int.
    DataError
        IDX files missing, corrupt, or inconsistent (image/label counts, labels outside 0..9).
    """
    name = _canonical_name(name)
    side = _check_side(side, "side")
    n_train = _check_count(n_train, "n_train")
    n_test = _check_count(n_test, "n_test")
    # Two child streams of default_rng(seed)'s seed sequence, written with SeedSequence because
    # Generator.spawn needs numpy >= 1.25 and the package supports older numpy.
    rng_train, rng_test = (np.random.default_rng(child)
                           for child in np.random.SeedSequence(_check_seed(seed)).spawn(2))

    if name == "digits":
        x_tr, y_tr, x_te, y_te = _load_digits_raw()
        side_in, scale, source = 8, 1.0, "sklearn.datasets.load_digits"
    else:
        x_tr, y_tr, x_te, y_te, side_in, source = _load_idx_raw(name, path)
        scale = 1.0 / 255.0

    # Subset before resizing: resizing all 60k images to keep 600 would be wasted work.
    idx_tr = _stratified_subset(y_tr, n_train, rng_train, "n_train")
    idx_te = _stratified_subset(y_te, n_test, rng_test, "n_test")
    if idx_tr is not None:
        x_tr, y_tr = x_tr[idx_tr], y_tr[idx_tr]
    if idx_te is not None:
        x_te, y_te = x_te[idx_te], y_te[idx_te]

    return Dataset(
        name=name,
        x_train=_resize_scaled(x_tr, side_in, side, scale),
        y_train=np.ascontiguousarray(y_tr, dtype=np.int64),
        x_test=_resize_scaled(x_te, side_in, side, scale),
        y_test=np.ascontiguousarray(y_te, dtype=np.int64),
        side=side,
        n_classes=N_CLASSES,
        source=source,
    )
