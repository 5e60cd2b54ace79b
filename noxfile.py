"""One environment per Brian2 target family (docs/targets.md: no single one holds them all).

    pip install nox
    nox -s tests                 # newest brian2 for this Python: numpy, cython, cpp_standalone
    nox -s oldest                # brian2 2.5.4, the oldest supported (numpy < 2, Cython < 3.1)
    GENN_PATH=/opt/genn nox -s genn   # brian2 2.5.4 + brian2genn 1.7 + your GeNN 4.x tree
    nox -s cuda                  # brian2 2.8.0 + brian2cuda 1.0a7: generate and nvcc-compile (no GPU needed)
    nox -s genn -- tests/test_genn.py # any session: pytest arguments after --

Each session installs the package with its extras into a fresh virtualenv and runs the test
suite there; tests that need what an environment lacks are skipped with the reason. The genn
session needs GeNN, which is on no package registry (docs/targets.md, section "GeNN"): it is skipped,
with that reason, when GENN_PATH is not set.
"""

import os

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTEST = ["python", "-m", "pytest", "-q", "-rs"]


@nox.session
def tests(session):
    """The README's test command: the newest brian2 pip picks for this Python."""
    session.install("-e", ".[test]")
    session.run(*PYTEST, "-n", "auto", "--dist", "loadfile", "--durations=15", *session.posargs)


@nox.session
def oldest(session):
    """brian2 2.5.4 (without run_args: every run builds its own program)."""
    session.install("-e", ".[test,oldest]")
    session.run(*PYTEST, *session.posargs)


@nox.session
def genn(session):
    """GeNN's CPU backend (or its GPU one where nvidia-smi sees a GPU), brian2 2.5.4."""
    if not os.environ.get("GENN_PATH"):
        session.skip("GENN_PATH is not set: point it at a GeNN 4.x source tree (docs/targets.md, section 'GeNN').")
    session.install("-e", ".[test,genn]")
    session.run(*PYTEST, *(session.posargs or ["tests"]), env={"GENN_PATH": os.environ["GENN_PATH"]})


@nox.session
def cuda(session):
    """brian2cuda's environment: the CUDA tests (compile only without a GPU; a run on one).

    Only the CUDA tests by default (CI runs this session): the rest of the suite is the default
    environment's; pass ``-- tests`` for all of it (install the test extra first).
    """
    session.install("-e", ".[cuda]", "pytest")
    session.run(*PYTEST, *(session.posargs or ["tests/test_cuda.py"]))
