"""Every notebook in notebooks/ runs top to bottom (code cells in one namespace, no kernel).

The notebooks are for teaching: a notebook that no longer runs is a bug. Plots use matplotlib's
Agg backend so no display is needed.
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    matplotlib = pytest.importorskip("matplotlib", reason="notebooks plot: pip install '.[test]'")
    matplotlib.use("Agg")
    nb = json.loads(path.read_text())
    namespace = {"__name__": "__notebook__"}
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        exec(compile(source, f"{path.name}[cell {k}]", "exec"), namespace)
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
