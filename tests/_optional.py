"""Markers for tests that need a part the test extra does not install.

Every test that needs one carries the marker below, so that it is skipped, with the reason and
the fix, where the part is absent; ``tests/test_optional_parts.py`` finds any test that names
such a part without it.
"""

import pytest


def dataset_missing(name: str) -> str | None:
    """Why ``name``'s IDX files cannot be found here (None when they can)."""
    from sleep_brian.data import find_idx_dir
    from sleep_brian.errors import SleepBrianError

    try:
        find_idx_dir(name, None)
    except SleepBrianError as exc:
        return str(exc).splitlines()[0]
    return None


def fashion_dir():
    """The folder of Debian's Fashion-MNIST, or None."""
    from sleep_brian.data import find_idx_dir

    return None if dataset_missing("fashion-mnist") else find_idx_dir("fashion-mnist", None)


#: Marker of the tests that load Fashion-MNIST (Debian's ``dataset-fashion-mnist``).
needs_fashion_mnist = pytest.mark.skipif(
    dataset_missing("fashion-mnist") is not None,
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist",
)

#: The optional parts that tests/test_optional_parts.py checks for: a test whose code loads the
#: part (the regular expression) must carry a skip that names it (the marker, or a skipif whose
#: source mentions the part's word).
OPTIONAL = {
    "fashion": r'dataset="fashion-mnist"|load_dataset\(\s*"fashion-mnist"\s*[,)](?![^)]*path=)|compare\(\s*"fashion-mnist"'
               r'|fashion_dir\(\)',
}
