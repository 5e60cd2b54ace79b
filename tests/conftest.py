"""Shared fixtures: Brian2 is reset to the runtime numpy target around every test."""

import brian2 as b2
import pytest


@pytest.fixture(autouse=True)
def _brian_runtime():
    """Each test starts on the runtime device with numpy code generation, and ends there too."""
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * b2.ms
    yield
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
