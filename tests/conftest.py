"""Shared fixtures: Brian2 is reset to the runtime numpy target around every test."""

import os
import tempfile

import brian2 as b2
import pytest

# Builds the tests cache go to a folder of this test session, not the user's ~/.cache (a test
# that needs another cache folder sets the variable itself).
_cache = os.environ.setdefault("SLEEP_BRIAN_BUILD_CACHE", tempfile.mkdtemp(prefix="sleep_brian_test_cache_"))
# pytest-xdist's workers inherit the controller's folder: each gets its own inside it, so that a
# test counting the builds of its cache sees only its own worker's.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["SLEEP_BRIAN_BUILD_CACHE"] = os.path.join(_cache, os.environ["PYTEST_XDIST_WORKER"])


@pytest.fixture(autouse=True)
def _brian_runtime():
    """Each test starts on the runtime device with numpy code generation, and ends there too."""
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * b2.ms
    yield
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
