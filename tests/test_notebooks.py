"""Every notebook in notebooks/ runs top to bottom (code cells in one namespace, no kernel).

The notebooks are for teaching: a notebook that no longer runs is a bug. Plots use matplotlib's
Agg backend so no display is needed. Each notebook has a time limit, LIMIT_S: the longest
measured here is notebook 06 at 80 s on 2 shared cores (its cold Cython compile), so 300 s
only stops a notebook that hangs or has grown far past what a class can wait for; it is a limit,
not a speed claim.
"""

import json
import signal
from pathlib import Path

import pytest

#: Time limit of one notebook's run, in seconds.
LIMIT_S = 300

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    matplotlib = pytest.importorskip("matplotlib", reason="notebooks plot: pip install '.[test]'")
    matplotlib.use("Agg")
    nb = json.loads(path.read_text())
    namespace = {"__name__": "__notebook__"}

    def too_long(signum, frame):
        raise TimeoutError(f"{path.name} ran longer than its limit of {LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(LIMIT_S)
    try:
        for k, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            exec(compile(source, f"{path.name}[cell {k}]", "exec"), namespace)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    import matplotlib.pyplot as plt

    plt.close("all")


#: Words with which a notebook's opening cell names what a student will learn.
GOALS = ("learning goals", "you will")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_states_its_goals(path):
    """Committed without outputs (reviewable in git) and opening with its learning goals."""
    nb = json.loads(path.read_text())
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{path.name} cell {k} was saved with outputs; clear them before committing "
                "(e.g. jupyter nbconvert --clear-output --inplace)"
            )
    first = nb["cells"][0] if nb["cells"] else {}
    assert first.get("cell_type") == "markdown", f"{path.name} must open with a markdown cell"
    text = "".join(first.get("source", "")).lower()
    assert any(g in text for g in GOALS), f"{path.name}: its first cell must name its learning goals ({' or '.join(GOALS)})"
